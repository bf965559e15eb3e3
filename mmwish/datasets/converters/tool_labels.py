"""Weak-label files from the tools people label with (docs/importers.md).

Each importer (CVAT, Label Studio, LabelMe, YOLO) parses its export into
:class:`ToolImage` records, the tools' common ground: an image's file, size, tags and
named points, boxes and masks. Everything after that is shared and lives here: the
label-type rule (:func:`label_type_of`), the mapping of names to a class list
(:func:`category_ids`), the coordinate rules at the image border, and the weak-label
file (:func:`to_weak`), so the four formats cannot drift apart.

The label-type rule, one per image:

- nothing at all: a ``tag`` image with no tags (a negative: the annotator saw no
  object), or left out with ``skip_empty``;
- tags only: ``tag``;
- one kind of geometry (points, boxes, or polygons/masks): that kind, ``point``,
  ``box`` or ``mask``. Its tags must be classes of its geometry, since a point, box or
  mask image's classes are those of its objects; a tag of another class is refused, or
  dropped with ``extra_tags='drop'``;
- masks beside boxes: refused, or a ``box`` image with each mask's bounding box with
  ``mixed_to_box=True``; a box and masks of one label in one tool group
  (:attr:`ToolImage.groups`) are one object, and its drawn box is its box;
- any other mix (points with boxes or masks): refused.

Coordinates are COCO's continuous pixel coordinates (the image spans ``[0, W] x [0, H]``).
A point or box that overruns the image by at most :data:`BORDER_SLACK` pixels is clipped
to it (tools round, and some let a box hang over the edge); beyond that it is refused
with the image and the label named.
"""
import json
import math
import os
import os.path as osp
import sys
from collections import Counter
from dataclasses import dataclass, field
from typing import Dict, Hashable, Iterable, List, Optional, Sequence, Tuple, Union

import numpy as np
from pycocotools import mask as mask_utils

BORDER_SLACK = 1.0
Polygons = List[List[float]]


class LabelImportError(ValueError):
    """An export cannot become a weak-label file; the message names where and why."""


@dataclass
class ToolImage:
    """One image of a tool's export, in the tools' common terms.

    ``points`` are ``(name, x, y)``; ``boxes`` ``(name, x1, y1, x2, y2)``; ``masks``
    ``(name, polygons or a binary (H, W) array)``, polygons as flat ``[x1, y1, x2, ...]``
    lists. ``width``/``height`` None means: read them from the image file (EXIF
    applied). ``where`` says where the image sits in the export, for messages.
    ``groups`` gives the tool's group of a box or mask by ``('box', index into boxes)``
    or ``('mask', index into masks)``; a box and masks of one label and group are one
    object (boxes and masks not listed are objects of their own).
    """
    file_name: str
    width: Optional[int] = None
    height: Optional[int] = None
    tags: List[str] = field(default_factory=list)
    points: List[Tuple[str, float, float]] = field(default_factory=list)
    boxes: List[Tuple[str, float, float, float, float]] = field(default_factory=list)
    masks: List[Tuple[str, Union[Polygons, np.ndarray]]] = field(default_factory=list)
    where: str = ''
    groups: Dict[Tuple[str, int], Hashable] = field(default_factory=dict)

    def object_names(self) -> List[str]:
        return ([p[0] for p in self.points] + [b[0] for b in self.boxes]
                + [m[0] for m in self.masks])

    def names(self) -> List[str]:
        return self.object_names() + list(self.tags)

    def describe(self) -> str:
        return f'{self.where}: image {self.file_name}' if self.where else \
            f'image {self.file_name}'


def label_type_of(img: ToolImage, mixed_to_box: bool = False) -> Optional[str]:
    """The image's label type by the module's rule; None for an image with no label."""
    kinds = [k for k, items in (('point', img.points), ('box', img.boxes),
                                ('mask', img.masks)) if items]
    if not kinds:
        return 'tag' if img.tags else None
    if len(kinds) == 1:
        return kinds[0]
    if kinds == ['box', 'mask'] and mixed_to_box:
        return 'box'
    held = ', '.join(f'{len(getattr(img, k + ("es" if k == "box" else "s")))} {k}'
                     f'{"es" if k == "box" else "s"}' for k in kinds)
    hint = (' (pass mixed_to_box / --mixed-to-box to keep the masks as their boxes)'
            if kinds == ['box', 'mask'] else '')
    raise LabelImportError(
        f'{img.describe()} holds {held}; a weak-label image carries one label type '
        f'(docs/weak_labels.md): label it with one kind, or split it{hint}')


def refuse_repeats(names: Iterable[str], what: str, remedy: str) -> None:
    """Refuse a list of names (``what``: the class list, a classes file) that holds one
    name more than once, naming the repeated names."""
    dup = sorted(n for n, count in Counter(names).items() if count > 1)
    if dup:
        raise LabelImportError(f'{what} names {dup} more than once; {remedy}')


def rotation_degrees(value, what: str) -> float:
    """A tool's rotation (a number or its text; None or '' for none) in degrees, in
    ``[0, 360)``, and 0 within 1e-6 degrees of a whole turn, so that ``if rotation:``
    tells a rotated shape. One that is not a finite number is refused, naming ``what``
    (the shape)."""
    try:
        degrees = float(0 if value is None or value == '' else value)
    except (TypeError, ValueError):
        degrees = math.nan
    if not math.isfinite(degrees):
        raise LabelImportError(f'{what} has the rotation {value!r}, not a number of degrees; '
                               'fix it in the tool or re-export')
    degrees %= 360
    return 0.0 if min(degrees, 360 - degrees) <= 1e-6 else degrees


def file_size(path: str, of: Union[ToolImage, str]) -> Tuple[int, int]:
    """An image file's (width, height) as loaded (EXIF applied). A file that cannot be
    read as an image is refused, naming it and ``of`` (its record, or where it sits)."""
    from mmwish.datasets.image_files import image_size
    try:
        w, h, _ = image_size(path)
    except Exception as e:  # PIL raises many kinds on a damaged or foreign file
        where = of.describe() if isinstance(of, ToolImage) else of
        raise LabelImportError(
            f'{where}: {path} cannot be read as an image ({type(e).__name__}: {e}); replace '
            'it with the image file (a web page or a partial download?), or remove it and '
            'its labels') from None
    return w, h


def category_ids(images: Sequence[ToolImage], classes: Optional[Sequence[str]] = None,
                 add_unknown: bool = False) -> Dict[str, int]:
    """Class name -> category id (1, 2, ... in the order of ``classes``).

    A name the export uses that ``classes`` lacks is refused, with where it is first
    used, unless ``add_unknown`` appends it (sorted, after the given classes). Without
    ``classes``, ``add_unknown`` takes every name the export uses, sorted.
    """
    classes = list(classes or [])
    refuse_repeats(classes, 'the class list', 'give each class once')
    first_use = {}
    for img in images:
        for name in img.names():
            first_use.setdefault(name, img)
    unknown = sorted(set(first_use) - set(classes))
    if unknown and not add_unknown:
        where = '; '.join(f'{n!r} in {first_use[n].describe()}' for n in unknown[:5])
        raise LabelImportError(
            f'the export uses {len(unknown)} label name(s) that are not classes: {where}'
            f'{" ..." if len(unknown) > 5 else ""}. Give the class list that holds them '
            '(--classes), rename them in the tool, or pass --add-unknown to append them')
    return {name: i + 1 for i, name in enumerate(classes + unknown)}


def _clip_point(img, name, x, y, w, h):
    if not (-BORDER_SLACK <= x <= w + BORDER_SLACK and -BORDER_SLACK <= y <= h + BORDER_SLACK):
        raise LabelImportError(
            f'{img.describe()}: the {name!r} point ({x:g}, {y:g}) lies outside the '
            f'{w}x{h} image; fix or delete it in the tool')
    return min(max(x, 0.0), w), min(max(y, 0.0), h)


def _clip_box(img, name, x1, y1, x2, y2, w, h):
    x1, x2 = sorted((x1, x2))
    y1, y2 = sorted((y1, y2))
    cx1, cy1, cx2, cy2 = max(x1, 0.0), max(y1, 0.0), min(x2, w), min(y2, h)
    overrun = max(-x1, -y1, x2 - w, y2 - h)
    if overrun > BORDER_SLACK:
        problem = (f'leaves the {w}x{h} image by {overrun:g} pixels (at most '
                   f'{BORDER_SLACK:g} is clipped)')
    elif x2 == x1 or y2 == y1:
        problem = f'is empty (its {"width" if x2 == x1 else "height"} is 0)'
    elif cx2 <= cx1 or cy2 <= cy1:
        problem = f'lies on the border of the {w}x{h} image, with no area inside it'
    else:
        return [cx1, cy1, cx2 - cx1, cy2 - cy1]
    raise LabelImportError(f'{img.describe()}: the {name!r} box ({x1:g}, {y1:g}, {x2:g}, '
                           f'{y2:g}) {problem}; fix it in the tool')


def _mask_annotation(img, name, mask, w, h) -> dict:
    """COCO segmentation, bbox and area of a polygon list or a binary array."""
    if isinstance(mask, np.ndarray):
        if mask.shape != (h, w):
            raise LabelImportError(
                f'{img.describe()}: the {name!r} mask is {mask.shape[1]}x{mask.shape[0]} '
                f'but the image is {w}x{h}')
        rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    else:
        polys = [list(map(float, p)) for p in mask]
        if not polys or any(len(p) % 2 or len(p) < 6 for p in polys):
            raise LabelImportError(
                f'{img.describe()}: a {name!r} polygon has fewer than 3 points or an odd '
                'number of coordinates')
        for p in polys:
            for x, y in zip(p[0::2], p[1::2]):
                _clip_point(img, name, x, y, w, h)
        rle = mask_utils.merge(mask_utils.frPyObjects(polys, h, w))
    area = float(mask_utils.area(rle))
    if area == 0:
        raise LabelImportError(f'{img.describe()}: the {name!r} mask is empty; delete it in '
                               'the tool')
    if isinstance(mask, np.ndarray):
        seg = dict(size=[h, w], counts=rle['counts'].decode('ascii'))
        bbox = [float(v) for v in mask_utils.toBbox(rle)]
    else:  # a polygon's box is its extent, as COCO's are
        xs = np.clip(np.concatenate([p[0::2] for p in polys]), 0, w)
        ys = np.clip(np.concatenate([p[1::2] for p in polys]), 0, h)
        seg, bbox = polys, [float(xs.min()), float(ys.min()), float(np.ptp(xs)), float(np.ptp(ys))]
    return dict(segmentation=seg, bbox=bbox, area=area, iscrowd=0)


def merge_mask_parts(parts: Sequence[Union[Polygons, np.ndarray]], width: int,
                     height: int) -> Union[Polygons, np.ndarray]:
    """The parts of one object (a tool's grouped polygons and masks) as one mask: the
    polygons joined when every part is polygons (COCO holds several per object), else
    the union of their pixels."""
    if all(not isinstance(p, np.ndarray) for p in parts):
        return [poly for p in parts for poly in p]
    full = np.zeros((height, width), dtype=bool)
    for p in parts:
        full |= p.astype(bool) if isinstance(p, np.ndarray) else mask_utils.decode(
            mask_utils.merge(mask_utils.frPyObjects(p, height, width))).astype(bool)
    return full


def image_dims(img: ToolImage, image_dir: Optional[str]) -> Tuple[int, int]:
    """The image's (width, height): the export's, else its file's (EXIF applied)."""
    if img.width and img.height:
        return int(img.width), int(img.height)
    if image_dir is None:
        raise LabelImportError(
            f'{img.describe()}: the export gives no image size; pass the image folder '
            '(--image-dir) so that it is read from the file')
    path = osp.join(image_dir, img.file_name)
    if not osp.isfile(path):
        raise LabelImportError(f'{img.describe()}: {path} does not exist; --image-dir '
                               'must be the folder the file names are relative to')
    return file_size(path, img)


def _box_image_boxes(img: ToolImage, w: int, h: int) -> List[Tuple[str, List[float]]]:
    """A box image's (name, COCO bbox) per object: each drawn box, then each mask's box
    (``mixed_to_box``), one per (label, group): a grouped object's drawn box is its box,
    else its masks' joint extent. Two drawn boxes of one label and group are refused."""
    out: List[Tuple[str, List[float]]] = []
    index_of: Dict[Tuple[str, Hashable], int] = {}  # (name, group) -> index in out
    drawn = set()
    for kind, items in (('box', img.boxes), ('mask', img.masks)):
        for i, (name, *shape) in enumerate(items):
            bbox = (_clip_box(img, name, *shape, w, h) if kind == 'box'
                    else _mask_annotation(img, name, shape[0], w, h)['bbox'])
            group = img.groups.get((kind, i))
            key = (name, group)
            if group is None or key not in index_of:
                if group is not None:
                    index_of[key] = len(out)
                    if kind == 'box':
                        drawn.add(key)
                out.append((name, bbox))
            elif kind == 'box':
                raise LabelImportError(
                    f'{img.describe()}: two {name!r} boxes share the group {group}, but one '
                    'object has one box: give them different groups or delete one')
            elif key not in drawn:  # a further mask of the object: the boxes' extent
                x, y, bw, bh = out[index_of[key]][1]
                x1, y1 = min(x, bbox[0]), min(y, bbox[1])
                x2, y2 = max(x + bw, bbox[0] + bbox[2]), max(y + bh, bbox[1] + bbox[3])
                out[index_of[key]] = (name, [x1, y1, x2 - x1, y2 - y1])
    return out


def to_weak(images: Sequence[ToolImage], classes: Optional[Sequence[str]] = None,
            add_unknown: bool = False, image_dir: Optional[str] = None,
            mixed_to_box: bool = False, extra_tags: str = 'refuse',
            skip_empty: bool = False) -> dict:
    """The weak-label file (a dict) of an export's images by the module's rules."""
    if extra_tags not in ('refuse', 'drop'):
        raise ValueError(f"extra_tags is 'refuse' or 'drop', not {extra_tags!r}")
    seen = {}
    for img in images:
        if img.file_name in seen:
            raise LabelImportError(
                f'{img.describe()} and {seen[img.file_name].describe()} name the same file; '
                'merge their labels in the tool or remove one')
        seen[img.file_name] = img
    cat_of = category_ids(images, classes, add_unknown)
    out = dict(images=[], annotations=[],
               categories=[dict(id=i, name=n) for n, i in cat_of.items()])
    for img in images:
        label_type = label_type_of(img, mixed_to_box)
        if label_type is None and skip_empty:
            continue
        w, h = image_dims(img, image_dir)
        entry = dict(id=len(out['images']) + 1, file_name=img.file_name, width=w, height=h,
                     label_type=label_type or 'tag')
        anns = []
        if label_type == 'point':
            anns = [dict(category_id=cat_of[n],
                         point=[float(v) for v in _clip_point(img, n, x, y, w, h)])
                    for n, x, y in img.points]
        elif label_type == 'box':
            anns = [dict(category_id=cat_of[n], bbox=bbox)
                    for n, bbox in _box_image_boxes(img, w, h)]
        elif label_type == 'mask':
            anns = [dict(category_id=cat_of[n], **_mask_annotation(img, n, m, w, h))
                    for n, m in img.masks]
        tags = sorted({cat_of[t] for t in img.tags})
        if label_type in (None, 'tag'):
            entry['tags'] = tags
        else:
            extra = sorted(set(img.tags) - set(img.object_names()))
            if extra and extra_tags == 'refuse':
                raise LabelImportError(
                    f'{img.describe()} is a {label_type} image tagged {extra} with no {extra[0]!r} '
                    f'{label_type}; a {label_type} image\'s classes are its objects\': label '
                    "those objects, remove the tags, or pass extra_tags='drop' / --drop-extra-tags")
        for ann in anns:
            ann.update(id=len(out['annotations']) + 1, image_id=entry['id'])
            out['annotations'].append(ann)
        out['images'].append(entry)
    return out


def write_weak(weak: dict, out_file: str, overwrite: bool = False) -> str:
    """Write a weak-label file; an existing file is kept unless ``overwrite``."""
    if osp.exists(out_file) and not overwrite:
        raise FileExistsError(f'{out_file} already exists; choose another output file or pass '
                              '--overwrite')
    os.makedirs(osp.dirname(osp.abspath(out_file)), exist_ok=True)
    with open(out_file, 'w') as f:
        json.dump(weak, f)
    return out_file


def unlabelled(weak: dict, images: Sequence[ToolImage] = ()) -> Tuple[List[str], List[str]]:
    """The file names of the images that had no label at all: (those made negatives,
    those left out by ``skip_empty``). The left-out ones are known from ``images``, the
    export's records, only."""
    negatives = [i['file_name'] for i in weak['images']
                 if i['label_type'] == 'tag' and not i.get('tags')]
    kept = {i['file_name'] for i in weak['images']}
    return negatives, [img.file_name for img in images
                       if not img.names() and img.file_name not in kept]


def summary(weak: dict, images: Sequence[ToolImage] = ()) -> str:
    """One line: how many images of each label type, annotations and classes, and how
    many images had no label at all (made negatives, or left out: see :func:`unlabelled`)."""
    kinds = Counter(img['label_type'] for img in weak['images'])
    line = (f"{len(weak['images'])} images ("
            + ', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))
            + f"), {len(weak['annotations'])} annotations, {len(weak['categories'])} classes")
    negatives, left_out = unlabelled(weak, images)
    for names, fate in ((negatives, 'made negatives'), (left_out, 'left out (--skip-empty)')):
        if names:
            line += f'; {len(names)} image(s) with no label at all {fate}'
    return line


# format -> (module, reader); each reader(source, image_dir=None, **kw) -> [ToolImage]
READERS = {'cvat': ('cvat', 'read_cvat'), 'label-studio': ('label_studio', 'read_label_studio'),
           'labelme': ('labelme', 'read_labelme'), 'yolo': ('yolo', 'read_yolo')}


def read_export(fmt: str, source: str, image_dir: Optional[str] = None,
                **kwargs) -> List[ToolImage]:
    """The :class:`ToolImage` records of one tool's export."""
    import importlib
    if fmt not in READERS:
        raise LabelImportError(f'unknown format {fmt!r}; one of {sorted(READERS)}')
    module, reader = READERS[fmt]
    read = getattr(importlib.import_module(f'{__package__}.{module}'), reader)
    return read(source, image_dir=image_dir, **kwargs)


def read_class_list(value: Optional[str]) -> Optional[List[str]]:
    """``--classes``: a text file of one name per line, or names separated by commas."""
    if value is None:
        return None
    if osp.isfile(value):
        with open(value, encoding='utf-8-sig') as f:
            return [line.strip() for line in f if line.strip()]
    return [c.strip() for c in value.split(',') if c.strip()]


def main(argv=None):
    import argparse
    p = argparse.ArgumentParser(
        description='A weak-label file (docs/weak_labels.md) from a CVAT, Label Studio, '
                    'LabelMe or YOLO export; the rules are in docs/importers.md')
    p.add_argument('format', choices=sorted(READERS))
    p.add_argument('source', help='cvat: the annotations.xml; label-studio: the JSON export; '
                   'labelme: a .json file or a folder of them; yolo: the .txt labels folder')
    p.add_argument('out_json')
    p.add_argument('--classes', help='the class list: a file (one name per line) or '
                   'comma-separated names; ids follow its order (yolo: defaults to its '
                   'classes file)')
    p.add_argument('--add-unknown', action='store_true',
                   help='append label names that --classes lacks instead of refusing them')
    p.add_argument('--image-dir', help='the images, for sizes the export does not give '
                   '(yolo, label-studio tag-only images)')
    p.add_argument('--yolo-classes', help='yolo: classes.txt or data.yaml (names by index)')
    p.add_argument('--data-key', help="label-studio: the task data key of the image (the "
                   '<Image value="$..."> of the labeling config), when it is not "image" and '
                   'not the only image-like value')
    p.add_argument('--path-root', help='label-studio: a leading folder to strip from every '
                   'image path, so that file names are relative to the folder data_prefix.img '
                   'names')
    p.add_argument('--mixed-to-box', action='store_true',
                   help='an image with boxes and masks becomes a box image')
    p.add_argument('--drop-extra-tags', action='store_true',
                   help='drop tags of a point/box/mask image that name none of its objects')
    p.add_argument('--skip-empty', action='store_true',
                   help='leave out images with no label (default: tag images with no tags)')
    p.add_argument('--overwrite', action='store_true')
    args = p.parse_args(argv)
    # an option of one format -> (that format, the reader's keyword)
    only = dict(yolo_classes=('yolo', 'classes_file'), data_key=('label-studio', 'data_key'),
                path_root=('label-studio', 'path_root'))
    kwargs = {}
    for option, (fmt, keyword) in only.items():
        if fmt == args.format:
            kwargs[keyword] = getattr(args, option)
        elif getattr(args, option) is not None:
            p.error(f"--{option.replace('_', '-')} is an option of {fmt} only")
    try:
        images = read_export(args.format, args.source, image_dir=args.image_dir, **kwargs)
        classes = read_class_list(args.classes)
        if classes is None and args.format == 'yolo':
            from .yolo import yolo_class_names
            classes = yolo_class_names(args.yolo_classes)
        weak = to_weak(images, classes, args.add_unknown, args.image_dir, args.mixed_to_box,
                       'drop' if args.drop_extra_tags else 'refuse', args.skip_empty)
        write_weak(weak, args.out_json, args.overwrite)
    except (LabelImportError, FileExistsError) as e:
        raise SystemExit(f'error: {e}') from None
    print(f'wrote {args.out_json}: {summary(weak, images)}')
    negatives = unlabelled(weak)[0]
    if negatives:
        print(f'warning: {len(negatives)} image(s) had no label at all and are negatives '
              f"(tag images with no tags: no object of any class), e.g. "
              f"{', '.join(negatives[:5])}{' ...' if len(negatives) > 5 else ''}; if they were "
              'not reviewed (a CVAT task lists every image, annotated or not), pass '
              '--skip-empty to leave them out', file=sys.stderr)
