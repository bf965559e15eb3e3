"""CVAT for images 1.1 XML (``annotations.xml``) as :class:`ToolImage` records.

What maps to what (docs/importers.md, "CVAT for images 1.1"):

- ``<tag label>`` -> a tag of its image;
- ``<points label points="x1,y1;x2,y2">`` -> one point per listed point;
- ``<box label xtl ytl xbr ybr>`` -> a box (a ``rotation`` other than 0 is refused);
- ``<polygon label points>`` -> a mask given by its polygon;
- ``<mask label rle left top width height>`` -> a mask given by its pixels;
- polygons and masks of one label that share a ``group_id`` -> one object (CVAT groups
  the parts of an object so; its COCO export makes one instance of them too); a box of
  that label and group is the same object's (:attr:`ToolImage.groups`), which matters
  when ``mixed_to_box`` makes the image a box image.

Any other shape (``polyline``, ``ellipse``, ``cuboid``, ``skeleton``, ...) is refused
with the image and label named, and so is a "CVAT for video" file (``<track>``).
Attributes (``<attribute>``, ``occluded``, ``z_order``, ``source``) are not labels and
are ignored. CVAT's coordinates are already COCO's continuous pixel coordinates (a box
over the whole image is ``0, 0, width, height``); a mask's pixel (row ``i``, column
``j``) covers ``[j, j + 1] x [i, i + 1]``.

CVAT's mask RLE (``cvat/apps/dataset_manager/formats/transformations.py``, MaskConverter):
comma-separated run lengths over the mask's own ``width x height`` rectangle at
``left, top``, row by row, alternating background and object and starting with a
background run (0 when the first pixel is the object's), summing to ``width * height``.
"""
import xml.etree.ElementTree as ET
from collections import OrderedDict
from typing import List, Optional, Tuple

import numpy as np

from .tool_labels import LabelImportError, ToolImage, merge_mask_parts, rotation_degrees

SHAPES = ('box', 'points', 'polygon', 'mask')
# What to do instead, per refused shape; anything else gets the general advice.
REFUSED = {
    'polyline': 'a polyline encloses no region; redraw it as a polygon',
    'ellipse': 'convert it to a polygon or a mask in CVAT, or redraw it as a box',
    'cuboid': 'redraw it as a box or a polygon',
    'skeleton': 'label the object with a point, a box or a polygon instead',
}


def rle_to_mask(runs: List[int], width: int, height: int) -> np.ndarray:
    """A CVAT mask RLE as a ``height x width`` boolean array (row-major runs, background
    first). Raises ValueError when the runs do not cover the rectangle exactly."""
    runs = np.asarray(runs, dtype=np.int64)
    if runs.ndim != 1 or (runs < 0).any():
        raise ValueError('run lengths must be whole numbers >= 0')
    if int(runs.sum()) != width * height:
        raise ValueError(f'its runs add up to {int(runs.sum())} pixels, not width x height = '
                         f'{width} x {height} = {width * height}')
    values = np.arange(len(runs)) % 2 == 1  # even runs background, odd runs object
    return np.repeat(values, runs).reshape(height, width)


def _floats(el, names, img: ToolImage, kind: str) -> List[float]:
    try:
        values = [float(el.attrib[n]) for n in names]
    except (KeyError, ValueError):
        raise LabelImportError(
            f"{img.describe()}: a <{kind}> of label {el.get('label')!r} lacks a number in "
            f'{names}; re-export the task from CVAT') from None
    if not np.isfinite(values).all():
        raise LabelImportError(f"{img.describe()}: a <{kind}> of label {el.get('label')!r} "
                               f'has a coordinate that is not finite: {values}')
    return values


def _point_list(el, img: ToolImage, kind: str) -> List[Tuple[float, float]]:
    """``"x1,y1;x2,y2;..."`` as (x, y) pairs."""
    text = el.get('points', '')
    try:
        pairs = [tuple(float(v) for v in p.split(',')) for p in text.split(';') if p.strip()]
    except ValueError:
        pairs = [()]
    if not pairs or any(len(p) != 2 or not np.isfinite(p).all() for p in pairs):
        raise LabelImportError(
            f"{img.describe()}: the <{kind}> of label {el.get('label')!r} has points "
            f'{text[:60]!r}, not "x1,y1;x2,y2;..."; re-export the task from CVAT')
    return pairs


def _mask_pixels(el, img: ToolImage) -> np.ndarray:
    """A ``<mask>`` as a boolean array of the whole image."""
    name = el.get('label')
    if not (img.width and img.height):
        raise LabelImportError(f'{img.describe()}: the image has no width/height in the '
                               f'export, so its {name!r} mask cannot be placed')
    try:
        left, top, w, h = (int(el.attrib[k]) for k in ('left', 'top', 'width', 'height'))
        runs = [int(v) for v in el.attrib['rle'].split(',')]
    except (KeyError, ValueError):
        raise LabelImportError(
            f'{img.describe()}: the {name!r} <mask> lacks rle/left/top/width/height whole '
            'numbers; re-export the task from CVAT') from None
    if left < 0 or top < 0 or w <= 0 or h <= 0 or left + w > img.width \
            or top + h > img.height:
        raise LabelImportError(
            f'{img.describe()}: the {name!r} mask (left {left}, top {top}, {w}x{h}) does not '
            f'lie inside the {img.width}x{img.height} image; fix it in CVAT')
    try:
        tight = rle_to_mask(runs, w, h)
    except ValueError as e:
        raise LabelImportError(f'{img.describe()}: the {name!r} mask cannot be read: {e}; '
                               're-export the task from CVAT') from None
    full = np.zeros((img.height, img.width), dtype=bool)
    full[top:top + h, left:left + w] = tight
    return full


def _merge_parts(img: ToolImage, name: str, parts: list):
    """Polygons and masks of one object (one CVAT group) as one mask."""
    if any(isinstance(p, np.ndarray) for p in parts) and not (img.width and img.height):
        raise LabelImportError(f'{img.describe()}: no image size to merge {name!r} parts')
    return merge_mask_parts(parts, img.width, img.height)


def _image(el, source: str) -> ToolImage:
    """One ``<image>`` element and its shapes."""
    def size(key):
        value = el.get(key)
        return int(float(value)) if value not in (None, '') else None

    img = ToolImage(file_name=el.get('name', ''), width=size('width'), height=size('height'),
                    where=f"{source}: image id {el.get('id', '?')}")
    if not img.file_name:
        raise LabelImportError(f'{img.where}: the <image> has no name; re-export the task '
                               'from CVAT')
    # (group, label) -> parts, in document order; group '0' or none: an object of its own
    objects = OrderedDict()
    for child in el:
        kind, name = child.tag, child.get('label')
        if kind == 'attribute':
            continue
        group = child.get('group_id', '0') or '0'  # '0' or none: an object of its own
        if not name:
            raise LabelImportError(f'{img.describe()}: a <{kind}> has no label; give it one '
                                   'in CVAT')
        if kind == 'tag':
            img.tags.append(name)
        elif kind == 'points':
            img.points += [(name, x, y) for x, y in _point_list(child, img, kind)]
        elif kind == 'box':
            x1, y1, x2, y2 = _floats(child, ('xtl', 'ytl', 'xbr', 'ybr'), img, kind)
            what = f'{img.describe()}: the {name!r} box'
            rotation = rotation_degrees(child.get('rotation'), what)
            if rotation:
                raise LabelImportError(
                    f'{what} is rotated by {rotation:g} degrees; a weak-label box is '
                    'axis-aligned: set its rotation to 0 or redraw it as a polygon in CVAT')
            if group != '0':
                img.groups['box', len(img.boxes)] = group
            img.boxes.append((name, x1, y1, x2, y2))
        elif kind in ('polygon', 'mask'):
            part = ([[c for xy in _point_list(child, img, kind) for c in xy]]
                    if kind == 'polygon' else _mask_pixels(child, img))
            key = (group, name) if group != '0' else (len(objects), None)
            objects.setdefault(key, (name, []))[1].append(part)
        else:
            advice = REFUSED.get(kind, 'delete it or redraw it as a point, box, polygon or '
                                       'mask')
            raise LabelImportError(
                f'{img.describe()}: a <{kind}> of label {name!r} cannot be imported (points, '
                f'boxes, polygons, masks and tags can): {advice}')
    for (group, _), (name, parts) in objects.items():
        if isinstance(group, str):
            img.groups['mask', len(img.masks)] = group
        img.masks.append((name, parts[0] if len(parts) == 1 else
                          _merge_parts(img, name, parts)))
    return img


def read_cvat(source: str, image_dir: Optional[str] = None) -> List[ToolImage]:
    """The images of a "CVAT for images 1.1" ``annotations.xml``, in file order.

    ``image_dir`` is not needed (CVAT gives every image's size) and is ignored. An image
    with no shape and no tag is kept (the shared rule makes it a negative tag image).
    """
    images = []
    try:
        context = ET.iterparse(source, events=('start', 'end'))
        _, root = next(context)
        if root.tag != 'annotations':
            raise LabelImportError(
                f'{source}: the root element is <{root.tag}>, not <annotations>; give the '
                'annotations.xml of a "CVAT for images 1.1" export')
        depth = 0
        for event, el in context:
            depth += 1 if event == 'start' else -1
            if event != 'end' or depth != 0:  # only the children of <annotations>
                continue
            if el.tag == 'version' and (el.text or '').strip() != '1.1':
                raise LabelImportError(
                    f'{source}: format version {(el.text or "").strip()!r}; export the task '
                    'from CVAT as "CVAT for images 1.1"')
            if el.tag == 'track':
                raise LabelImportError(
                    f'{source}: has <track> elements, so it is a "CVAT for video" export; '
                    'export the task as "CVAT for images 1.1"')
            if el.tag == 'image':
                images.append(_image(el, source))
            root.clear()  # keeps memory flat on large exports
    except ET.ParseError as e:
        raise LabelImportError(f'{source}: not well-formed XML ({e}); give the '
                               'annotations.xml of a "CVAT for images 1.1" export') from None
    except OSError as e:
        raise LabelImportError(f'{source}: cannot be read ({e})') from None
    return images
