"""A small real-photo benchmark from a YOLO-seg export (Ultralytics' coco128-seg: 128 COCO
train2017 photos with instance polygons): one fixed, seeded train/validation split as
COCO instance files, and the weak-label files of the training side.

The COCO files keep mmwish's weak-label fields (every image a ``mask`` image), which
MMDetection's ``CocoDataset`` ignores; the weak files are made by
:func:`~mmwish.datasets.converters.weak_budget.convert_to_weak` as for any COCO file.
"""
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Union

import numpy as np

from .tool_labels import LabelImportError, to_weak
from .weak_budget import convert_to_weak
from .yolo import read_yolo, yolo_class_names


def coco_classes() -> List[str]:
    """COCO's 80 class names in their usual order (MMDetection's ``CocoDataset``); the
    indices of an Ultralytics COCO export."""
    from mmdet.datasets import CocoDataset
    return list(CocoDataset.METAINFO['classes'])


# COCO's 12 supercategories (instances_*.json 'supercategory'), each with the number of
# its classes in coco_classes() order: person 1, vehicle 8, outdoor 5, ... indoor 7.
COCO_SUPERCATEGORIES = (('person', 1), ('vehicle', 8), ('outdoor', 5), ('animal', 10),
                        ('accessory', 5), ('sports', 10), ('kitchen', 7), ('food', 10),
                        ('furniture', 6), ('electronic', 6), ('appliance', 5), ('indoor', 7))


def supercategory_of() -> Dict[str, str]:
    """COCO class name -> its supercategory name."""
    names = [name for name, n in COCO_SUPERCATEGORIES for _ in range(n)]
    return dict(zip(coco_classes(), names))


def group_classes(coco: dict, groups: Dict[str, List[str]], what: str = 'the groups') -> dict:
    """A COCO file with each category replaced by its group's (``group name -> class
    names``; the groups become categories 1..K in their order); the annotations are
    kept. Every category of ``coco`` must be in exactly one group."""
    group_of = {}
    for i, members in enumerate(groups.values()):
        for member in members:
            if member in group_of:
                raise ValueError(f'{member!r} is in two groups of {what}')
            group_of[member] = i + 1
    missing = sorted({c['name'] for c in coco['categories']} - set(group_of))
    if missing:
        raise ValueError(f'{missing} are in no group of {what}: add each to one')
    new_id = {c['id']: group_of[c['name']] for c in coco['categories']}
    return dict(coco, categories=[dict(id=i + 1, name=n, supercategory=n)
                                  for i, n in enumerate(groups)],
                annotations=[dict(a, category_id=new_id[a['category_id']])
                             for a in coco['annotations']])


def to_supercategories(coco: dict) -> dict:
    """A COCO file of COCO's classes with each category replaced by its supercategory
    (12 categories, ids 1-12, in COCO's order); the annotations are kept."""
    groups = {name: [] for name, _ in COCO_SUPERCATEGORIES}
    for cls, name in supercategory_of().items():
        groups[name].append(cls)
    return group_classes(coco, groups, "COCO's supercategories (they need COCO labels)")


def read_class_groups(path: str) -> Dict[str, List[str]]:
    """A class-groups file: JSON ``{"group": ["class", ...], ...}`` in category order."""
    with open(path, encoding='utf-8') as f:
        groups = json.load(f)
    if not isinstance(groups, dict) or not all(
            isinstance(m, list) and all(isinstance(c, str) for c in m) for m in groups.values()):
        raise ValueError(f'{path}: a class-groups file is a JSON object of group name -> '
                         'list of class names')
    return groups


def split_images(coco: dict, num_val: int, seed: int) -> Dict[str, dict]:
    """``{'train': coco, 'val': coco}``: ``num_val`` images drawn by ``seed``, the rest
    for training; each side keeps its images' annotations and every category."""
    ids = sorted(img['id'] for img in coco['images'])
    if not 0 < num_val < len(ids):
        raise ValueError(f'num_val must be between 1 and {len(ids) - 1}, not {num_val}')
    val = set(np.random.default_rng(seed).permutation(ids)[:num_val].tolist())
    out = {}
    for side, keep in (('train', lambda i: i not in val), ('val', lambda i: i in val)):
        out[side] = dict(
            images=[img for img in coco['images'] if keep(img['id'])],
            annotations=[a for a in coco['annotations'] if keep(a['image_id'])],
            categories=coco['categories'])
    return out


def make_photo_benchmark(labels: str, image_dir: str, out_dir: str, num_val: int = 32,
                         seed: int = 0, classes_file: Optional[str] = None,
                         weak: Union[None, Dict[str, Dict[str, int]],
                                     Callable[[int], Dict[str, Dict[str, int]]]] = None,
                         overwrite: bool = False,
                         supercategories: bool = False,
                         class_groups: Optional[str] = None) -> Dict[str, str]:
    """Write ``out_dir/annotations/instances_{train,val}.json`` and, for each
    ``name -> counts`` of ``weak``, ``instances_train_<name>.json``; return the paths.
    ``weak`` may be a function of the number of training images after the split (the
    images read, not the label files found), giving those counts. ``supercategories``:
    COCO's 80 classes grouped into its 12 supercategories (:func:`to_supercategories`);
    ``class_groups``: any classes grouped as a file says (:func:`read_class_groups`).

    ``classes_file`` names the YOLO class indices (classes.txt or data.yaml); without
    it they are COCO's 80 classes, as in Ultralytics' COCO exports. An image without
    a polygon (a negative the benchmark does not want) is refused by name."""
    folder = osp.join(out_dir, 'annotations')
    weak_of = weak if callable(weak) else (lambda _: weak or {})
    names = ['instances_train.json', 'instances_val.json'] + [
        f'instances_train_{name}.json' for name in weak_of(0)]
    for name in names:
        if osp.exists(osp.join(folder, name)) and not overwrite:
            raise FileExistsError(f'{osp.join(folder, name)} exists; pass --overwrite to '
                                  'replace it')
    os.makedirs(folder, exist_ok=True)
    if classes_file is None:
        classes_file = osp.join(folder, 'coco_classes.txt')
        with open(classes_file, 'w') as f:
            f.write('\n'.join(coco_classes()) + '\n')
    images = read_yolo(labels, image_dir, classes_file)
    empty = [img.describe() for img in images if not img.masks]
    if empty:
        raise LabelImportError(f'{len(empty)} images have no polygon, e.g. {empty[0]}; '
                               'remove them or label them')
    # every class of the file is a category, in its order, seen in the photos or not
    coco = to_weak(images, classes=yolo_class_names(classes_file), image_dir=image_dir)
    if supercategories:
        coco = to_supercategories(coco)
    if class_groups:
        coco = group_classes(coco, read_class_groups(class_groups), class_groups)
    sides = split_images(coco, num_val, seed)
    files = {f'instances_{side}.json': data for side, data in sides.items()}
    for name, counts in weak_of(len(sides['train']['images'])).items():
        files[f'instances_train_{name}.json'] = convert_to_weak(sides['train'], counts,
                                                                seed=seed)[0]
    written = {}
    for name, data in files.items():
        path = osp.join(folder, name)
        with open(path, 'w') as f:
            json.dump(data, f)
        written[name] = path
    return written


def describe(coco: dict) -> str:
    """``N images, M instances of K classes``."""
    classes = {a['category_id'] for a in coco['annotations']}
    return (f"{len(coco['images'])} images, {len(coco['annotations'])} instances of "
            f'{len(classes)} classes')
