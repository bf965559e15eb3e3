"""COCO instance files whose images carry heterogeneous weak labels.

The format is in ``docs/weak_labels.md``. Every check of the file runs here,
when the dataset loads, so that a bad annotation stops training before its first
iteration with a message that names the file, the image, the annotation and the
field.
"""
import json
import math
import os.path as osp
import warnings
from collections import defaultdict
from typing import List, Tuple, Union

from mmdet.datasets import CocoDataset, VOCDataset
from mmdet.registry import DATASETS
from mmengine.fileio import get_local_path

from .image_files import SWAPPING_ORIENTATIONS, default_cache_file, read_headers

LABEL_TYPES = ('tag', 'point', 'box', 'mask')
# What an annotation of each image type must not carry (tag images have none).
FORBIDDEN_KEYS = {'point': ('bbox', 'segmentation'), 'box': ('point', 'segmentation'),
                  'mask': ('point',)}
BOX_SLACK = 1.0  # pixels a box may overrun the image by (clipped)
SINGULAR = {'images': 'image', 'annotations': 'annotation', 'categories': 'category'}


class WeakLabelError(ValueError):
    """A weak-label file breaks the format; the message says where and what to do."""


def _where(ann_file, img=None, ann=None):
    parts = [str(ann_file)]
    if img is not None:
        parts.append(f"image {img.get('id')!r} ({img.get('file_name', '?')})")
    if ann is not None:
        parts.append(f"annotation {ann.get('id')!r}")
    return ': '.join(parts)


def _finite_number(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _finite_numbers(value, length):
    return (isinstance(value, (list, tuple)) and len(value) == length
            and all(_finite_number(v) for v in value))


def _is_id(value):
    """COCO ids are integers (strings are tolerated); never booleans, lists or null."""
    return isinstance(value, (int, str)) and not isinstance(value, bool)


def _missing(ann_file, img, path):
    return (f'{_where(ann_file, img)}: the image file {path} does not exist; check data_root '
            "and data_prefix['img']")


def _unreadable(ann_file, img, path, error):
    if isinstance(error, FileNotFoundError):
        return _missing(ann_file, img, path)
    if type(error).__name__ == 'DecompressionBombError':
        return (f'{_where(ann_file, img)}: the image file {path} is too large to load ({error}); '
                'downscale it (and its annotations)')
    return (f'{_where(ann_file, img)}: the image file {path} cannot be read as an image '
            f'({type(error).__name__}: {error}); replace it with a PNG or JPEG of the image, or '
            'drop the image from the annotation file')


TRUST_FILES = (
    "set check_image_sizes='trust_files' to take the files' sizes: for the training set, "
    "train_dataloader.dataset.check_image_sizes='trust_files' in the config, or "
    '--cfg-options train_dataloader.dataset.check_image_sizes=trust_files '
    '(docs/weak_labels.md, "Image files")')
MISMATCHES_SHOWN = 5  # of a file's size mismatches, the ones the error names


def _exif_explains(img, header, apply_exif):
    """Whether the loader's EXIF rotation is the whole difference from the entry's size."""
    return (apply_exif and header.orientation in SWAPPING_ORIENTATIONS
            and (header.width, header.height) == (img['width'], img['height']))


def _size_mismatch(ann_file, img, path, header, apply_exif):
    """The message of one image whose file loads at another size than its entry's."""
    width, height = header.size(apply_exif)
    text = (f"{_where(ann_file, img)}: the image file {path} loads as {width}x{height} "
            f"(width x height) but the annotation file says {img['width']}x{img['height']}")
    if _exif_explains(img, header, apply_exif):
        return text + (
            f'. The file stores {header.width}x{header.height} pixels with EXIF orientation '
            f'{header.orientation}, a 90-degree rotation that the image loader applies. If '
            'the labels were drawn on the rotated image (as viewers show it), re-export the '
            f'annotations with width {width} and height {height}; if they were drawn on the '
            f'stored pixels, strip the EXIF orientation from the file; or {TRUST_FILES}')
    return text + (
        "; re-export the annotations with the file's size, or check that "
        "data_prefix['img'] holds the images the annotations were made on (not resized "
        f'copies); or {TRUST_FILES}')


def _size_mismatches(ann_file, found, apply_exif):
    """The message of all the images of a file whose files load at another size than
    their entries': the count, the first :data:`MISMATCHES_SHOWN`, and what to do."""
    if len(found) == 1:
        return _size_mismatch(ann_file, *found[0], apply_exif)
    lines = [f'{ann_file}: {len(found)} image files load at another size than the '
             'annotation file says (width x height)'
             + (f'; the first {MISMATCHES_SHOWN}:' if len(found) > MISMATCHES_SHOWN else ':')]
    turned = 0
    for i, (img, path, header) in enumerate(found):
        exif = _exif_explains(img, header, apply_exif)
        turned += exif
        if i < MISMATCHES_SHOWN:
            width, height = header.size(apply_exif)
            lines.append(
                f"  image {img.get('id')!r} ({img['file_name']}): {path} loads as "
                f"{width}x{height}, the annotation file says {img['width']}x{img['height']}"
                + (f' (stored {header.width}x{header.height} with EXIF orientation '
                   f'{header.orientation})' if exif else ''))
    if len(found) > MISMATCHES_SHOWN:
        lines.append(f'  and {len(found) - MISMATCHES_SHOWN} more')
    if turned:
        lines.append(
            ('All of them' if turned == len(found) else f'{turned} of them')
            + ' store their pixels turned, with an EXIF orientation (5 to 8) '
            'that the image loader applies: if their labels were drawn on the rotated images '
            '(as viewers show them), re-export the annotations with the loaded sizes; if they '
            'were drawn on the stored pixels, strip the EXIF orientation from the files.')
    if turned < len(found):
        lines.append(
            ('For the others, re-export' if turned else 'Re-export') + " the annotations with "
            "the files' sizes, or check that data_prefix['img'] holds the images the "
            'annotations were made on (not resized copies).')
    lines.append(f'Or {TRUST_FILES}.')
    return '\n'.join(lines)


def segmentation_problem(seg, width, height):
    """What is wrong with a mask annotation's ``segmentation``, or None.

    Polygons: lists of finite x, y numbers (an even count; polygons of fewer than 3
    points are left to MMDetection, which ignores such an instance as it does for
    COCO). RLE: a dict with ``size`` equal to the image's [height, width] and
    ``counts``, a compressed string or run lengths that sum to height x width.
    """
    if isinstance(seg, list):
        for poly in seg:
            if not (isinstance(poly, list) and len(poly) % 2 == 0
                    and all(_finite_number(v) for v in poly)):
                return (f'holds the polygon {poly!r:.60}; each polygon must be a list of finite '
                        'numbers x1, y1, x2, y2, ... (an even count)')
        return None
    if isinstance(seg, dict):
        size, counts = seg.get('size'), seg.get('counts')
        if not _finite_numbers(size, 2):
            return (f"is an RLE whose 'size' is {size!r}; an RLE needs 'size' [height, width] "
                    "and 'counts'")
        if list(size) != [height, width]:
            return (f"is an RLE of size {list(size)} (height, width), but the image is "
                    f'{height}x{width} (height x width); re-encode the mask at the image size')
        if isinstance(counts, list):
            if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                       for c in counts) or sum(counts) != height * width:
                return ("is an RLE whose 'counts' are not non-negative run lengths summing to "
                        f'height x width = {height * width}')
        elif not (isinstance(counts, (str, bytes)) and counts):
            return (f"is an RLE whose 'counts' is {counts!r:.40}; an RLE needs 'counts', a "
                    'compressed string or a list of run lengths')
        return None
    return (f'is a {type(seg).__name__}; it must be a list of polygons or an RLE dict '
            "with 'size' and 'counts'")


def load_weak_json(ann_file: str, local_path: str) -> dict:
    """Read and check the file's top level: a JSON object with COCO's three lists."""
    try:
        # Bytes, not text: json detects UTF-8 (with or without the BOM that Windows
        # tools write), UTF-16 and UTF-32 itself, whatever the locale's encoding.
        with open(local_path, 'rb') as f:
            raw = json.loads(f.read())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise WeakLabelError(f'{ann_file}: not valid JSON ({e}); a weak-label file is a '
                             'COCO instance JSON file in UTF-8 (docs/weak_labels.md)') from None
    if not isinstance(raw, dict):
        raise WeakLabelError(f'{ann_file}: the top level is a {type(raw).__name__}, expected '
                             "a JSON object with 'images', 'annotations' and 'categories'")
    for key in ('images', 'annotations', 'categories'):
        if not isinstance(raw.get(key), list):
            raise WeakLabelError(f"{ann_file}: '{key}' is missing or not a list; a weak-label "
                                 'file is a COCO instance JSON file (docs/weak_labels.md)')
    return raw


def check_unique_ids(ann_file: str, items: list, what: str) -> None:
    seen = set()
    for item in items:
        if not isinstance(item, dict) or 'id' not in item:
            raise WeakLabelError(f"{ann_file}: an entry of '{what}' has no 'id': {item!r:.80}")
        if not _is_id(item['id']):
            raise WeakLabelError(f"{ann_file}: an entry of '{what}' has 'id' {item['id']!r:.40}; "
                                 'ids must be integers')
        if item['id'] in seen:
            raise WeakLabelError(f"{ann_file}: {SINGULAR.get(what, what)} id {item['id']!r} "
                                 'appears twice; ids must be unique')
        seen.add(item['id'])


def check_unique_file_names(ann_file: str, images: list) -> None:
    """Refuse two image records of one file: its labels would be split in two samples
    (each with part of the objects, the rest seen as background) and it would be seen
    twice per epoch. (To see images more often, use a sampler or ``RepeatDataset``.)"""
    seen = {}
    for img in images:
        name = osp.normpath(img['file_name'])
        if name in seen:
            raise WeakLabelError(
                f"{ann_file}: image {seen[name]!r} and image {img['id']!r} both have "
                f"'file_name' {img['file_name']!r}; an image file must appear once: merge "
                "the two records' labels into one image (one label type), or drop one")
        seen[name] = img['id']


def check_image(ann_file: str, img: dict, cat2label: dict) -> str:
    """Check one image entry; return its label type."""
    where = _where(ann_file, img)
    for key in ('file_name', 'width', 'height'):
        if key not in img:
            raise WeakLabelError(f"{where}: '{key}' is missing")
    if not (isinstance(img['file_name'], str) and img['file_name']):
        raise WeakLabelError(f"{where}: 'file_name' must be a non-empty string (the image's "
                             f"path under data_prefix['img']), got {img['file_name']!r}")
    if not (_finite_numbers([img['width'], img['height']], 2)
            and img['width'] > 0 and img['height'] > 0):
        raise WeakLabelError(f"{where}: 'width'/'height' must be positive numbers, got "
                             f"{img['width']!r}x{img['height']!r}")
    label_type = img.get('label_type', 'mask')
    if label_type not in LABEL_TYPES:
        raise WeakLabelError(f"{where}: unknown 'label_type' {label_type!r}; use one of "
                             f'{", ".join(LABEL_TYPES)}')
    if label_type == 'tag':
        tags = img.get('tags')
        if not isinstance(tags, list):
            raise WeakLabelError(f"{where}: a tag image needs 'tags', a list of category ids "
                                 '(empty if no object is present)')
        for cat in tags:
            if not _is_id(cat):
                raise WeakLabelError(f"{where}: 'tags' must hold category ids (integers), got "
                                     f'{cat!r} in {tags}')
            if cat not in cat2label:
                raise WeakLabelError(f"{where}: 'tags' holds category id {cat!r}, which is not "
                                     "among the classes of the dataset's metainfo")
        if len(set(tags)) != len(tags):
            raise WeakLabelError(f"{where}: 'tags' repeats a category id: {tags}")
    elif 'tags' in img:
        raise WeakLabelError(f"{where}: 'tags' is only for tag images; a {label_type} image's "
                             'tags are the categories of its annotations')
    return label_type


def check_annotation(ann_file: str, img: dict, ann: dict, label_type: str,
                     cat2label: dict) -> None:
    """Check one annotation against the label type of its image."""
    where = _where(ann_file, img, ann)
    if label_type == 'tag':
        raise WeakLabelError(f"{where}: tag images carry no annotations; put the class in the "
                             "image's 'tags' or change its 'label_type'")
    if not _is_id(ann.get('category_id')) or ann['category_id'] not in cat2label:
        raise WeakLabelError(f"{where}: 'category_id' {ann.get('category_id')!r} is not among "
                             "the classes of the dataset's metainfo; fix the annotation or "
                             'pass metainfo=dict(classes=...) with that class')
    for key in FORBIDDEN_KEYS[label_type]:
        if key in ann:
            raise WeakLabelError(
                f"{where}: has '{key}', which a {label_type} image's annotations must not "
                f"carry; change the image's 'label_type' or drop '{key}' (docs/weak_labels.md)")
    w, h = img['width'], img['height']
    if label_type == 'point':
        point = ann.get('point')
        if not _finite_numbers(point, 2):
            raise WeakLabelError(f"{where}: 'point' must be two finite numbers [x, y], got "
                                 f'{point!r}')
        if not (0 <= point[0] <= w and 0 <= point[1] <= h):
            raise WeakLabelError(f"{where}: 'point' {point} lies outside the {w}x{h} image; "
                                 'points must satisfy 0 <= x <= width and 0 <= y <= height')
    elif label_type == 'box':
        box = ann.get('bbox')
        if not _finite_numbers(box, 4):
            raise WeakLabelError(f"{where}: 'bbox' must be four finite numbers [x, y, w, h], "
                                 f'got {box!r}')
        x, y, bw, bh = box
        if bw <= 0 or bh <= 0:
            raise WeakLabelError(f"{where}: 'bbox' {box} is degenerate; width and height must "
                                 'be positive')
        if (x < -BOX_SLACK or y < -BOX_SLACK or x + bw > w + BOX_SLACK
                or y + bh > h + BOX_SLACK):
            raise WeakLabelError(f"{where}: 'bbox' {box} lies outside the {w}x{h} image "
                                 f'(by more than {BOX_SLACK:g} pixel)')
    else:
        box = ann.get('bbox')
        if not _finite_numbers(box, 4):
            raise WeakLabelError(f"{where}: 'bbox' must be four finite numbers [x, y, w, h], "
                                 f'got {box!r}')
        if not isinstance(ann.get('area'), (int, float)):
            raise WeakLabelError(f"{where}: 'area' is missing or not a number")
        if not ann.get('segmentation') and not ann.get('iscrowd', 0):
            raise WeakLabelError(f"{where}: a mask image's annotation needs 'segmentation' "
                                 "(polygons or RLE); label the image 'box' to train on its box")
        if 'segmentation' in ann:
            problem = segmentation_problem(ann['segmentation'], w, h)
            if problem:
                raise WeakLabelError(f"{where}: 'segmentation' {problem}")


@DATASETS.register_module()
class WeakCocoDataset(CocoDataset):
    """A COCO instance dataset whose images carry tag, point, box or mask labels.

    Each data info gains ``label_type`` and ``tags`` (sorted class indices present
    in the image); instances of point images carry ``point`` (x, y) and no box,
    instances of box images ``bbox`` and no mask. ``mask`` images are parsed
    exactly as by :class:`CocoDataset`, so a plain COCO file trains as it does
    in MMDetection. The whole file is checked at load time
    (:class:`WeakLabelError`), and so is each image file: that it exists, that the
    image loader can decode it and that its size as loaded (EXIF rotation applied)
    is the file's ``width`` x ``height`` (docs/weak_labels.md, "Image files").

    Args:
        check_files (bool): check that every image file exists (local paths only).
        check_image_sizes (bool | str): with ``check_files``, also read each image's
            header and refuse sizes that differ from the annotation file's (one error
            for all of them: their count and the first five);
            ``'trust_files'`` takes the file's size instead (with a warning), False
            checks existence only.
        image_size_cache (bool | str): cache the headers (keyed by each file's
            modification time and size) in this folder; True: ``$MMWISH_CACHE_DIR``
            or ``~/.cache/mmwish``; False: no cache.
    """

    def __init__(self, *args, check_files: bool = True,
                 check_image_sizes: Union[bool, str] = True,
                 image_size_cache: Union[bool, str] = True, **kwargs):
        if check_image_sizes not in (True, False, 'trust_files'):
            raise ValueError("check_image_sizes is True, False or 'trust_files', not "
                             f'{check_image_sizes!r}')
        self.check_files = check_files
        self.check_image_sizes = check_image_sizes
        self.image_size_cache = image_size_cache
        super().__init__(*args, **kwargs)

    def load_data_list(self) -> List[dict]:
        with get_local_path(self.ann_file, backend_args=self.backend_args) as local_path:
            raw = load_weak_json(self.ann_file, local_path)
        for what in ('images', 'annotations', 'categories'):
            check_unique_ids(self.ann_file, raw[what], what)
        classes = list(self.metainfo['classes'])
        for cat in raw['categories']:
            if not (isinstance(cat.get('name'), str) and cat['name']):
                raise WeakLabelError(
                    f"{self.ann_file}: categories: category id {cat['id']!r} has no 'name' (a "
                    "string); give each category the class name that metainfo's classes use")
        name2cat = {c['name']: c['id'] for c in raw['categories']}
        unknown = [c['name'] for c in raw['categories'] if c.get('name') not in classes]
        if unknown:
            raise WeakLabelError(
                f'{self.ann_file}: categories {unknown} are not among the classes of the '
                f"dataset's metainfo ({len(classes)} classes, e.g. {classes[:3]}); pass "
                'metainfo=dict(classes=...) that lists them, or remove them from the file')
        self.cat_ids = [name2cat[c] for c in classes if c in name2cat]
        self.cat2label = {cat: classes.index(name) for name, cat in name2cat.items()}

        images = {img['id']: img for img in raw['images']}
        anns_of = defaultdict(list)
        for ann in raw['annotations']:
            if not _is_id(ann.get('image_id')) or ann['image_id'] not in images:
                raise WeakLabelError(f"{_where(self.ann_file, ann=ann)}: 'image_id' "
                                     f"{ann.get('image_id')!r} is not an image of the file")
            anns_of[ann['image_id']].append(ann)

        # The image entries first, then their files in one pass (the sizes they find
        # may replace the entries' with 'trust_files'), then the annotations.
        label_types = [check_image(self.ann_file, img, self.cat2label) for img in raw['images']]
        check_unique_file_names(self.ann_file, raw['images'])
        self._check_image_files(raw['images'])
        label2cat = {label: cat for cat, label in self.cat2label.items()}
        self.cat_img_map = defaultdict(list)
        data_list = []
        for img, label_type in zip(raw['images'], label_types):
            for ann in anns_of[img['id']]:
                check_annotation(self.ann_file, img, ann, label_type, self.cat2label)
            data_info = self.parse_data_info(dict(
                raw_img_info=dict(img, img_id=img['id']), raw_ann_info=anns_of[img['id']]))
            for label in data_info['tags']:
                self.cat_img_map[label2cat[label]].append(img['id'])
            data_list.append(data_info)
        return data_list

    def _image_loader(self) -> Tuple[str, str]:
        """(imdecode_backend, color_type) of the pipeline's image loader; without one
        (``tools/sam_cache.py`` builds the dataset with no pipeline and reads images with
        ``mmcv.imread``), mmcv's backend and ``'color'``."""
        for transform in getattr(self.pipeline, 'transforms', ()):
            if hasattr(transform, 'imdecode_backend') and hasattr(transform, 'color_type'):
                return transform.imdecode_backend, transform.color_type
        import mmcv.image.io
        return mmcv.image.io.imread_backend, 'color'

    def _check_image_files(self, images: List[dict]) -> None:
        """Check each image file exists and, with ``check_image_sizes``, that it is an
        image the loader decodes at the entry's size (one stat and, unless cached, one
        header read per file). Local files only."""
        folder = self.data_prefix.get('img', '')
        if not self.check_files or self.backend_args or '://' in folder:
            return
        if not self.check_image_sizes:
            for img in images:
                path = osp.join(folder, img['file_name'])
                if not osp.isfile(path):
                    raise WeakLabelError(_missing(self.ann_file, img, path))
            return
        backend, color_type = self._image_loader()
        # cv2 and Pillow apply the EXIF orientation unless told not to; turbojpeg and
        # tifffile never do (mmcv.imread's documentation).
        apply_exif = backend in ('cv2', 'pillow') and color_type in ('color', 'grayscale')
        cache = self.image_size_cache
        cache_file = (default_cache_file(folder, cache if isinstance(cache, str) else None)
                      if cache else None)
        headers = read_headers(folder, [img['file_name'] for img in images], cache_file)
        decodable = {}
        trusted, mismatched = [], []  # all of them: one load lists a whole set's
        for img, header in zip(images, headers):
            path = osp.join(folder, img['file_name'])
            if isinstance(header, Exception):
                raise WeakLabelError(_unreadable(self.ann_file, img, path, header))
            if backend == 'cv2' and header.format not in decodable:
                import cv2
                decodable[header.format] = cv2.haveImageReader(path)
            if backend == 'cv2' and not decodable[header.format]:
                raise WeakLabelError(
                    f'{_where(self.ann_file, img)}: the image file {path} is a {header.format} '
                    "image, which the image loader (mmcv's cv2 backend) cannot decode; "
                    'convert it to PNG or JPEG')
            width, height = header.size(apply_exif)
            if (width, height) != (img['width'], img['height']):
                if self.check_image_sizes != 'trust_files':
                    mismatched.append((img, path, header))
                    continue
                trusted.append(f"{img['id']!r} ({img['width']}x{img['height']} -> "
                               f'{width}x{height})')
                img['width'], img['height'] = width, height
        if mismatched:
            raise WeakLabelError(_size_mismatches(self.ann_file, mismatched, apply_exif))
        if trusted:
            more = ', ...' if len(trusted) > 5 else ''
            warnings.warn(f"{self.ann_file}: check_image_sizes='trust_files' took the image "
                          f"files' sizes for {len(trusted)} images whose 'width'/'height' "
                          f"differed: images {', '.join(trusted[:5])}{more}", stacklevel=2)

    def parse_data_info(self, raw_data_info: dict) -> dict:
        img = raw_data_info['raw_img_info']
        label_type = img.get('label_type', 'mask')
        if label_type == 'mask':
            data_info = super().parse_data_info(raw_data_info)
        else:
            data_info = super().parse_data_info(dict(raw_data_info, raw_ann_info=[]))
            data_info['instances'] = [
                self._weak_instance(ann, img, label_type)
                for ann in raw_data_info['raw_ann_info']]
        data_info['label_type'] = label_type
        cats = img['tags'] if label_type == 'tag' else [
            a['category_id'] for a in raw_data_info['raw_ann_info']]
        data_info['tags'] = sorted({self.cat2label[c] for c in cats})
        return data_info

    def _weak_instance(self, ann: dict, img: dict, label_type: str) -> dict:
        instance = dict(bbox_label=self.cat2label[ann['category_id']], ignore_flag=0,
                        ann_id=ann['id'])
        if label_type == 'point':
            instance['point'] = [float(v) for v in ann['point']]
        else:
            x, y, w, h = ann['bbox']
            x1, y1 = max(x, 0.0), max(y, 0.0)
            x2, y2 = min(x + w, img['width']), min(y + h, img['height'])
            instance['bbox'] = [float(x1), float(y1), float(x2), float(y2)]
        return instance

    def get_cat_ids(self, idx: int) -> List[int]:
        """Class indices of an image, tags included (used by class-aware samplers)."""
        return list(self.get_data_info(idx)['tags'])


@DATASETS.register_module()
class WeakVOCDataset(WeakCocoDataset):
    """:class:`WeakCocoDataset` with PASCAL VOC's 20 classes (e.g. VOC 2012 + SBD
    converted by ``tools/dataset_converters/voc_sbd_to_coco.py``)."""
    METAINFO = dict(VOCDataset.METAINFO)


def weak_label_types(data_list: List[dict]) -> dict:
    """Count images per label type (for logs and tests)."""
    counts = {t: 0 for t in LABEL_TYPES}
    for info in data_list:
        counts[info['label_type']] += 1
    return counts
