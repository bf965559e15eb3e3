"""LabelMe's per-image JSON files as :class:`ToolImage` records (docs/importers.md).

A LabelMe file holds one image: ``imagePath`` (relative to the JSON file), its size
(``imageWidth``, ``imageHeight``), image-level ``flags`` ({name: bool}) and ``shapes``,
each a ``label``, a ``shape_type``, ``points`` ([[x, y], ...], continuous pixel
coordinates as COCO's) and a ``group_id``. What becomes what:

- a flag set to true: a tag of that name;
- ``point``: a point; ``rectangle`` (two opposite corners, in either order): a box;
- ``polygon``: a mask; ``mask`` (a base64 PNG of the region between its two points):
  a binary mask. Polygons and masks that share a label and a ``group_id`` are one
  object, as LabelMe's own conversions take them, and so is a rectangle of that label
  and group (:attr:`ToolImage.groups`; it matters with ``mixed_to_box``);
- ``circle``, ``line``, ``linestrip``, ``oriented_rectangle``, ``points``: refused by
  name (none is a weak label; redraw the object or delete the shape).

The label-type rule, the class list and the border rules are tool_labels.py's.
"""
import base64
import io
import json
import os
import os.path as osp
from pathlib import PureWindowsPath
from typing import List, Optional

import numpy as np

from .tool_labels import LabelImportError, ToolImage, file_size, merge_mask_parts

SUPPORTED = ('point', 'rectangle', 'polygon', 'mask')


def labelme_files(source: str) -> List[str]:
    """The .json files of a folder (its subfolders too, sorted), or the one file given."""
    if osp.isfile(source):
        return [source]
    if not osp.isdir(source):
        raise LabelImportError(f'{source} does not exist; give a LabelMe .json file or the '
                               'folder that holds them')
    files = sorted(osp.join(root, f) for root, _, names in os.walk(source)
                   for f in names if f.lower().endswith('.json'))
    if not files:
        raise LabelImportError(f'{source} holds no .json file (subfolders included); give '
                               'the folder LabelMe saved its files in')
    return files


def _image_file(path: str, data: dict, root: str, image_dir: Optional[str], where: str):
    """(file_name, absolute path) of the JSON file's image.

    ``imagePath`` is relative to the JSON file's folder, and LabelMe on Windows writes
    it with backslashes. The file name is the image's path relative to ``image_dir``
    (the folder MMDetection's ``data_prefix.img`` names), else relative to the source
    folder, which for JSON files saved beside their images is ``imagePath`` as written.
    """
    image_path = data.get('imagePath')
    if not isinstance(image_path, str) or not image_path:
        raise LabelImportError(f'{where}: no imagePath; open the file in LabelMe and save it '
                               'again, or delete it')
    full = osp.normpath(osp.join(osp.dirname(path), PureWindowsPath(image_path).as_posix()))
    base = image_dir if image_dir is not None else root
    file_name = osp.relpath(full, base).replace(os.sep, '/')
    if file_name.startswith('../'):
        raise LabelImportError(
            f'{where}: the image {full} lies outside {base}; pass --image-dir, the folder '
            'that holds the images (file names are relative to it, as data_prefix.img is)')
    if not osp.isfile(full):
        raise LabelImportError(
            f'{where}: the image {full} (imagePath {image_path!r}) does not exist; mmdet '
            'reads the image file, not imageData: put the image there or fix imagePath')
    return file_name, full


def _size(data: dict, full: str, where: str):
    """The image's (width, height): LabelMe's (EXIF applied, as its own), else the file's."""
    w, h = data.get('imageWidth'), data.get('imageHeight')
    if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0:
        return w, h
    return file_size(full, where)


def _mask_shape(shape: dict, w: int, h: int, what: str) -> np.ndarray:
    """A ``mask`` shape as a binary (h, w) array, placed as LabelMe 7.1's
    ``shapes_to_label`` (``labelme/_utils/shape.py``) places it.

    The PNG's top-left pixel is the first point rounded (half to even). With
    whole-number points, which LabelMe writes, the PNG is cut to the pixels of both
    corners (columns ``x1 .. x2``, rows ``y1 .. y2``); with fractional ones (a moved
    mask) it keeps its own size. LabelMe up to 7.0 truncated the first point instead
    (``astype(int)``) and pasted the PNG into ``[y1:y2 + 1, x1:x2 + 1]``: the same
    placement for whole-number points; for fractional ones LabelMe's editor draws the
    PNG at the first point as it is, which rounding matches best. The part outside
    the image is cut off.
    """
    from PIL import Image
    try:
        png = base64.b64decode(shape.get('mask') or '', validate=True)
        with Image.open(io.BytesIO(png)) as im:
            patch = np.asarray(im.convert('L')) > 0
    except Exception as e:  # a broken PNG or base64, whichever library raises
        raise LabelImportError(f'{what}: its mask is not a base64 PNG ({e}); redraw it in '
                               'LabelMe or delete it') from None
    pts = np.asarray(shape['points'], dtype=float)
    (x1, y1), (x2, y2) = np.round(pts).astype(int)
    if np.array_equal(pts, np.trunc(pts)):
        patch = patch[:max(y2 - y1 + 1, 0), :max(x2 - x1 + 1, 0)]
    mask = np.zeros((h, w), bool)
    ys, xs = slice(max(y1, 0), min(y1 + patch.shape[0], h)), \
        slice(max(x1, 0), min(x1 + patch.shape[1], w))
    if ys.start < ys.stop and xs.start < xs.stop:
        mask[ys, xs] = patch[ys.start - y1:ys.stop - y1, xs.start - x1:xs.stop - x1]
    return mask


def _points(shape: dict, what: str, count: Optional[int] = None) -> List[List[float]]:
    pts = shape.get('points')
    ok = isinstance(pts, list) and all(
        isinstance(p, (list, tuple)) and len(p) == 2
        and all(isinstance(v, (int, float)) and not isinstance(v, bool)
                and np.isfinite(v) for v in p) for p in pts)
    if not ok or not pts or (count is not None and len(pts) != count):
        need = f'{count} point(s)' if count else 'a list of [x, y] points'
        raise LabelImportError(f'{what}: its points {pts!r} are not {need}; redraw it in '
                               'LabelMe or delete it')
    return [[float(x), float(y)] for x, y in pts]


def read_labelme_file(path: str, root: str, image_dir: Optional[str] = None) -> ToolImage:
    """One LabelMe JSON file as a :class:`ToolImage`; ``root`` is the source folder."""
    rel = osp.relpath(path, root)
    where = osp.join(osp.basename(osp.normpath(root)), rel).replace(os.sep, '/')
    try:
        with open(path, encoding='utf-8-sig') as f:
            data = json.load(f)
    except (OSError, ValueError) as e:
        raise LabelImportError(f'{where}: cannot read it as JSON ({e})') from None
    if not isinstance(data, dict) or not isinstance(data.get('shapes'), list):
        raise LabelImportError(f'{where} is not a LabelMe file (no list of shapes); move it '
                               'out of the folder')
    file_name, full = _image_file(path, data, root, image_dir, where)
    w, h = _size(data, full, where)
    img = ToolImage(file_name=file_name, width=w, height=h, where=where)

    flags = data.get('flags') or {}
    if not isinstance(flags, dict) or not all(isinstance(v, bool) for v in flags.values()):
        raise LabelImportError(f'{where}: flags {flags!r} are not {{name: true/false}}')
    img.tags = [name for name, on in flags.items() if on]

    groups = {}  # (label, group_id) -> index in img.masks: one object of several shapes
    single = {}  # (kind, label, group_id) of points and boxes, one shape each
    for i, shape in enumerate(data['shapes']):
        if not isinstance(shape, dict):
            raise LabelImportError(f'{where}: shapes[{i}] is not an object')
        label = shape.get('label')
        # a shape with no shape_type is a polygon: LabelMe's files before shape types
        kind = shape.get('shape_type') or 'polygon'
        what = f'{where}: image {file_name}: shape {i} ({kind} {label!r})'
        if not isinstance(label, str) or not label.strip():
            raise LabelImportError(f'{what} has no label; name it in LabelMe or delete it')
        if kind not in SUPPORTED:
            raise LabelImportError(
                f'{what}: a {kind} is no weak label (point, rectangle, polygon and mask '
                'are); redraw the object as one of those in LabelMe, or delete the shape')
        group = shape.get('group_id')
        if kind in ('point', 'rectangle'):
            key = (kind, label, group)
            if group is not None and key in single:
                raise LabelImportError(
                    f'{what} shares group_id {group} with shape {single[key]}: one object '
                    f'has one {kind} in a weak label; give them different group ids or '
                    'delete one')
            single[key] = i
            pts = _points(shape, what, 1 if kind == 'point' else 2)
            if kind == 'point':
                img.points.append((label, *pts[0]))
            else:
                if group is not None:
                    img.groups['box', len(img.boxes)] = group
                img.boxes.append((label, *pts[0], *pts[1]))
            continue
        if kind == 'polygon':
            pts = _points(shape, what)
            if len(pts) < 3:
                raise LabelImportError(f'{what} has {len(pts)} point(s); a polygon needs 3 '
                                       'or more: redraw it in LabelMe or delete it')
            part = [sum(pts, [])]
        else:
            _points(shape, what, 2)
            part = _mask_shape(shape, w, h, what)
        if group is None or (label, group) not in groups:
            if group is not None:
                groups[label, group] = len(img.masks)
                img.groups['mask', len(img.masks)] = group
            img.masks.append((label, part))
            continue
        j = groups[label, group]  # a further part of a grouped object
        img.masks[j] = (label, merge_mask_parts([img.masks[j][1], part], w, h))
    return img


def read_labelme(source: str, image_dir: Optional[str] = None) -> List[ToolImage]:
    """The :class:`ToolImage` of every LabelMe file of ``source``.

    ``source`` is a LabelMe .json file or a folder of them, read with its subfolders.
    File names are relative to ``image_dir`` when given (pass the folder the config's
    ``data_prefix.img`` names), else to the source folder (the JSON file's folder for
    one file).
    """
    files = labelme_files(source)
    root = source if osp.isdir(source) else osp.dirname(osp.abspath(source))
    return [read_labelme_file(path, root, image_dir) for path in files]
