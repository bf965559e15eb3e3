"""PASCAL VOC 2012 + SBD instance annotations converted to COCO instance JSON.

Writes the usual splits of weakly supervised instance segmentation on VOC:

* ``voc_2012_train_aug.json``: SBD train + SBD val + VOC seg train, minus VOC seg
  val (10,582 images on the real data);
* ``voc_2012_val.json``: VOC seg val (1,449 images).

An image in VOC's segmentation set (its ``train.txt`` or ``val.txt``) takes its
instances from ``SegmentationObject`` + ``SegmentationClass``; any other image takes
them from SBD's ``dataset/inst/<name>.mat``. Masks are RLE, void pixels (255) are
never part of a mask, and an instance whose pixels carry several classes gets the
most frequent one (ties go to the smaller class id).

CLI::

    python tools/dataset_converters/voc_sbd_to_coco.py --voc data/VOCdevkit/VOC2012 \
        --sbd data/SBD --out data/voc/annotations
"""
import argparse
import json
import os
import os.path as osp
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import scipy.io
from PIL import Image
from pycocotools import mask as mask_utils

from ..coco_utils import encode_rle, print_split_summary

VOC_CLASSES = ('aeroplane', 'bicycle', 'bird', 'boat', 'bottle', 'bus', 'car', 'cat',
               'chair', 'cow', 'diningtable', 'dog', 'horse', 'motorbike', 'person',
               'pottedplant', 'sheep', 'sofa', 'train', 'tvmonitor')
VOID = 255
OUTPUT_FILES = {'train_aug': 'voc_2012_train_aug.json', 'val': 'voc_2012_val.json'}

Instance = Tuple[int, np.ndarray]  # (category id 1..20, HxW bool mask)


class VocLayout:
    """Paths of the VOC 2012 and SBD files the converter reads, checked up front."""

    def __init__(self, voc_dir: str, sbd_dir: str):
        self.voc_dir = voc_dir
        # Accept both the SBD root (holding ``dataset/``) and ``dataset/`` itself.
        nested = osp.join(sbd_dir, 'dataset')
        self.sbd_dir = nested if osp.isdir(osp.join(nested, 'inst')) else sbd_dir
        self.jpeg_dir = osp.join(voc_dir, 'JPEGImages')
        self.obj_dir = osp.join(voc_dir, 'SegmentationObject')
        self.cls_dir = osp.join(voc_dir, 'SegmentationClass')
        self.voc_lists = {s: osp.join(voc_dir, 'ImageSets', 'Segmentation', f'{s}.txt')
                          for s in ('train', 'val')}
        self.inst_dir = osp.join(self.sbd_dir, 'inst')
        self.sbd_lists = {s: osp.join(self.sbd_dir, f'{s}.txt') for s in ('train', 'val')}

    def check(self):
        """Raise FileNotFoundError naming the first missing folder or list file."""
        for name, root in (('--voc', self.voc_dir), ('--sbd', self.sbd_dir)):
            if not osp.isdir(root):
                raise FileNotFoundError(f'{name} folder {root} does not exist')
        voc_hint = 'point --voc at VOCdevkit/VOC2012 of the PASCAL VOC 2012 trainval release'
        for path in (self.jpeg_dir, self.obj_dir, self.cls_dir):
            if not osp.isdir(path):
                raise FileNotFoundError(f'missing folder {path}; {voc_hint}')
        for path in self.voc_lists.values():
            if not osp.isfile(path):
                raise FileNotFoundError(f'missing list file {path}; {voc_hint}')
        sbd_hint = ('point --sbd at the SBD release (the folder holding dataset/inst, '
                    'dataset/train.txt and dataset/val.txt)')
        if not osp.isdir(self.inst_dir):
            raise FileNotFoundError(f'missing folder {self.inst_dir}; {sbd_hint}')
        for path in self.sbd_lists.values():
            if not osp.isfile(path):
                raise FileNotFoundError(f'missing list file {path}; {sbd_hint}')


def read_list(path: str) -> List[str]:
    """Image names of a VOC/SBD list file, one per line, blank lines skipped."""
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def split_names(layout: VocLayout) -> Tuple[Dict[str, List[str]], set]:
    """The images of each output split (sorted) and the names of VOC's segmentation set."""
    voc_train = set(read_list(layout.voc_lists['train']))
    voc_val = set(read_list(layout.voc_lists['val']))
    sbd = set(read_list(layout.sbd_lists['train'])) | set(read_list(layout.sbd_lists['val']))
    splits = {'train_aug': sorted((sbd | voc_train) - voc_val), 'val': sorted(voc_val)}
    return splits, voc_train | voc_val


def read_index_png(path: str) -> np.ndarray:
    """The class/instance indices of a VOC palette PNG as an HxW uint8 array."""
    with Image.open(path) as img:
        if img.mode not in ('P', 'L'):
            raise ValueError(f'{path} is a {img.mode} image; VOC annotations are palette (P) '
                             'PNGs whose pixel values are the indices; use the original files')
        return np.array(img, dtype=np.uint8)


def majority_class(classes: np.ndarray) -> Optional[int]:
    """Most frequent class id in 1..20 (ties to the smaller id), None if there is none."""
    valid = classes[(classes > 0) & (classes <= len(VOC_CLASSES))]
    if valid.size == 0:
        return None
    return int(np.argmax(np.bincount(valid)))  # argmax takes the first, i.e. smaller, id


def voc_instances(obj: np.ndarray, cls: np.ndarray) -> List[Instance]:
    """Instances of a VOC image from its SegmentationObject and SegmentationClass maps.

    Instance ``k`` is the set of non-void pixels with object index ``k``; its class is the
    majority class of those pixels. Instances without any class pixel are skipped.
    """
    if obj.shape != cls.shape:
        raise ValueError(f'object map {obj.shape} and class map {cls.shape} differ in size')
    instances = []
    for k in np.unique(obj):
        if k == 0 or k == VOID:
            continue
        mask = (obj == k) & (cls != VOID)
        label = majority_class(cls[mask])
        if label is not None and mask.any():
            instances.append((label, mask))
    return instances


def _mat_field(struct, name: str):
    if isinstance(struct, np.ndarray):  # a struct array that squeezing left as an array
        struct = struct.flat[0]
    if hasattr(struct, '_fieldnames'):  # scipy's mat_struct
        return getattr(struct, name)
    return struct[name]


def load_sbd_inst(path: str) -> Tuple[np.ndarray, np.ndarray]:
    """Read SBD's ``GTinst`` struct: (HxW instance ids, per-instance class ids 1..20)."""
    mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
    if 'GTinst' not in mat:
        raise ValueError(f'{path} has no GTinst struct; is it a file of SBD\'s dataset/inst?')
    gt = mat['GTinst']
    seg = np.asarray(_mat_field(gt, 'Segmentation'))
    cats = np.atleast_1d(np.asarray(_mat_field(gt, 'Categories'))).astype(np.int64).ravel()
    if seg.ndim != 2:
        raise ValueError(f'{path}: GTinst.Segmentation has shape {seg.shape}, expected HxW')
    return seg, cats


def sbd_instances(seg: np.ndarray, categories: np.ndarray, path: str = '') -> List[Instance]:
    """Instances of an SBD image: instance ``k`` (1-based) has class ``categories[k-1]``."""
    ids = set(np.unique(seg).tolist()) - {0, VOID}
    unknown = sorted(i for i in ids if i > len(categories))
    if unknown:
        raise ValueError(f'{path}: instance ids {unknown} in GTinst.Segmentation have no entry '
                         f'in GTinst.Categories ({len(categories)} entries)')
    instances = []
    for k, label in enumerate(categories, start=1):
        if not 1 <= label <= len(VOC_CLASSES):
            raise ValueError(f'{path}: instance {k} has class {label}, expected 1..20')
        mask = seg == k
        if mask.any():
            instances.append((int(label), mask))
    return instances


def _require_file(path: str, name: str, what: str):
    if not osp.isfile(path):
        raise FileNotFoundError(f'{path} is missing, but image {name} is listed; {what}')


def image_instances(layout: VocLayout, name: str,
                    in_voc_seg: bool) -> Tuple[Tuple[int, int], List[Instance]]:
    """(annotation height and width, instances) of one image, from VOC if it is in VOC's
    segmentation set, else from SBD."""
    if in_voc_seg:
        obj_path = osp.join(layout.obj_dir, f'{name}.png')
        cls_path = osp.join(layout.cls_dir, f'{name}.png')
        for path in (obj_path, cls_path):
            _require_file(path, name, 'restore the VOC 2012 trainval SegmentationObject and '
                          'SegmentationClass folders from the original release')
        obj, cls = read_index_png(obj_path), read_index_png(cls_path)
        try:
            return obj.shape, voc_instances(obj, cls)
        except ValueError as e:
            raise ValueError(f'{obj_path}: {e}') from None
    mat_path = osp.join(layout.inst_dir, f'{name}.mat')
    _require_file(mat_path, name, 'restore SBD\'s dataset/inst folder from the original '
                  'release, or remove the name from SBD\'s train.txt/val.txt')
    seg, categories = load_sbd_inst(mat_path)
    return seg.shape, sbd_instances(seg, categories, path=mat_path)


def _image_size(layout: VocLayout, name: str, shape: Sequence[int]) -> Tuple[int, int]:
    path = osp.join(layout.jpeg_dir, f'{name}.jpg')
    _require_file(path, name, 'restore VOC 2012 JPEGImages (SBD images are VOC 2011 images, '
                  'all in VOC 2012 JPEGImages)')
    with Image.open(path) as img:  # reads the header only
        width, height = img.size
    if (height, width) != tuple(shape):
        raise ValueError(f'{path} is {width}x{height} but its annotation is '
                         f'{shape[1]}x{shape[0]}; the image and annotation files do not match')
    return width, height


def convert_split(layout: VocLayout, names: Sequence[str], voc_seg: set,
                  log: Optional[Callable[[str], None]] = None) -> dict:
    """COCO instance dict of the images ``names`` (ids 1..N in the given order)."""
    images, annotations = [], []
    for img_id, name in enumerate(names, start=1):
        shape, instances = image_instances(layout, name, name in voc_seg)
        width, height = _image_size(layout, name, shape)
        images.append(dict(id=img_id, file_name=f'{name}.jpg', width=width, height=height))
        for label, mask in instances:
            rle = encode_rle(mask)
            annotations.append(dict(
                id=len(annotations) + 1, image_id=img_id, category_id=label,
                segmentation=rle, area=float(mask_utils.area(rle)),
                bbox=[float(v) for v in mask_utils.toBbox(rle)], iscrowd=0))
        if log is not None and img_id % 1000 == 0:
            log(f'  {img_id}/{len(names)} images')
    categories = [dict(id=i + 1, name=n) for i, n in enumerate(VOC_CLASSES)]
    return dict(info=dict(description='PASCAL VOC 2012 + SBD instances (mmwish voc_sbd)'),
                licenses=[], images=images, annotations=annotations, categories=categories)


def convert(voc_dir: str, sbd_dir: str, out_dir: str, overwrite: bool = False,
            log: Optional[Callable[[str], None]] = None) -> Dict[str, str]:
    """Write ``voc_2012_train_aug.json`` and ``voc_2012_val.json`` into ``out_dir``.

    Refuses to write over existing output files unless ``overwrite``.

    Returns:
        dict split -> output file path.
    """
    layout = VocLayout(voc_dir, sbd_dir)
    layout.check()
    outputs = {s: osp.join(out_dir, f) for s, f in OUTPUT_FILES.items()}
    existing = [p for p in outputs.values() if osp.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(f'{existing[0]} already exists; choose another --out folder or '
                              'pass --overwrite to replace it')
    splits, voc_seg = split_names(layout)
    # Convert everything before writing anything, so an error leaves no half output.
    results = {}
    for split, names in splits.items():
        if log is not None:
            log(f'{split}: converting {len(names)} images')
        results[split] = convert_split(layout, names, voc_seg, log=log)
    os.makedirs(out_dir, exist_ok=True)
    for split, coco in results.items():
        with open(outputs[split], 'w') as f:
            json.dump(coco, f)
    return outputs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Convert PASCAL VOC 2012 + SBD instance annotations to COCO JSON '
                    '(train_aug and val splits, RLE masks).')
    parser.add_argument('--voc', required=True, help='VOC2012 folder (VOCdevkit/VOC2012)')
    parser.add_argument('--sbd', required=True,
                        help='SBD folder (holding dataset/inst, dataset/train.txt, ...)')
    parser.add_argument('--out', required=True, help='output folder for the JSON files')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace output files that already exist')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        outputs = convert(args.voc, args.sbd, args.out, overwrite=args.overwrite, log=print)
    except (ValueError, FileNotFoundError, FileExistsError) as e:
        raise SystemExit(f'error: {e}') from None
    print_split_summary(outputs)


if __name__ == '__main__':
    main()
