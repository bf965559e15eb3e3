"""Label Studio's JSON export (a list of tasks) as :class:`ToolImage` records.

What maps to what (docs/importers.md, "Label Studio"):

- ``keypointlabels`` -> a point; ``rectanglelabels`` -> a box (a ``rotation`` other than
  0 is refused); ``polygonlabels`` -> a mask given by its polygon; ``brushlabels`` -> a
  mask given by its pixels; image-level ``choices`` -> tags. A region drawn with a
  plain ``<Rectangle>``/``<Polygon>``/``<KeyPoint>``/``<Brush>`` tag and labelled by a
  ``<Labels>`` tag (result type ``labels``, or the plain shape's type) maps the same way.
- Results that carry no class (``textarea``, ``rating``, ``number``, ``datetime``,
  ``relation``) and per-region ``choices`` (they share a region's ``id``: attributes of
  the region) are ignored; any other result type is refused by name.

Label Studio gives positions in percent of the image's original size:
``x_pixels = x * original_width / 100`` (likewise y, width, height), which lands on
COCO's continuous pixel coordinates (100 % is the image's right/bottom edge).

Which annotation of a task: the non-cancelled one marked ground truth, else the newest
non-cancelled one (by ``created_at``, list order when absent), as label-studio-converter
orders them. A task with no annotation, or only cancelled ones (skipped in the editor),
was not labelled and is left out, with a warning that counts such tasks and the tasks
whose several annotations were reduced to one. Predictions are never used.

The image's file name is the path of its URL in ``data`` (the ``image`` key, or the
only key whose value looks like an image URL, or ``data_key``), URL-decoded, without
query string and leading ``/``, folders kept (two images ``a/1.jpg`` and ``b/1.jpg``
stay apart): for local storage (``/data/local-files/?d=dir/a.jpg``) ``d``, the path
below the storage's document root; for cloud storage (``s3://``, ``gs://``,
``azure-blob://``) the object key after the bucket or container; for uploads
(``/data/upload/1/8f2a1b3c-cat.jpg``) the path below Label Studio's ``media/upload``
folder, ``1/8f2a1b3c-cat.jpg`` (the project's folder, and the prefix Label Studio gives
the file on disk); for any other URL or path its path. ``path_root``, a leading folder,
is then stripped from every name, so that names are relative to the folder the config's
``data_prefix.img`` names; an image outside it is refused.

Label Studio's brush RLE (``label_studio_converter/brush.py``, after thi.ng's
rle-pack) is a bit stream, each byte most significant bit first: 32 bits the number of
values (``4 * width * height``: the RGBA bytes of the image, row by row), 5 bits the word
size minus 1, four 4-bit run-length field sizes minus 1; then, until all values are out,
chunks of: 1 bit (1: a run of one repeated word, 0: literal words), 2 bits choosing a
field size, that many bits ``n`` (the chunk holds ``n + 1`` values), then one word (a
run) or ``n + 1`` words (literals). A pixel is the object's where its alpha (4th value)
is not 0.
"""
import json
import os.path as osp
import warnings
from typing import Dict, List, Optional, Sequence
from urllib.parse import parse_qs, unquote, urlparse

import numpy as np

from .tool_labels import LabelImportError, ToolImage, rotation_degrees

# result type -> the kind of geometry it draws
GEOMETRY = {'keypointlabels': 'point', 'keypoint': 'point',
            'rectanglelabels': 'box', 'rectangle': 'box',
            'polygonlabels': 'polygon', 'polygon': 'polygon',
            'brushlabels': 'brush', 'brush': 'brush'}
IGNORED = ('textarea', 'rating', 'number', 'datetime', 'relation')
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp', '.gif', '.tif', '.tiff', '.webp')
URL_PREFIXES = ('/data/', 's3://', 'gs://', 'azure-blob://', 'http://', 'https://')
# cloud storage URLs: scheme://bucket-or-container/key
STORAGE_SCHEMES = ('s3', 'gs', 'azure-blob')
UPLOAD_PREFIX = '/data/upload/'


class _Bits:
    """Reads unsigned big-endian integers of any width from a bit array."""

    def __init__(self, data: Sequence[int]):
        self.bits = np.unpackbits(np.asarray(data, dtype=np.uint8))
        self.pos = 0

    def read(self, n: int, count: int = 1) -> np.ndarray:
        """``count`` consecutive ``n``-bit numbers."""
        end = self.pos + n * count
        if end > len(self.bits):
            raise ValueError('the bit stream ends early')
        chunk = self.bits[self.pos:end].reshape(count, n).astype(np.uint64)
        self.pos = end
        return chunk @ (np.uint64(1) << np.arange(n - 1, -1, -1, dtype=np.uint64))

    def int(self, n: int) -> int:
        return int(self.read(n)[0])


def decode_brush_rle(rle: Sequence[int]) -> np.ndarray:
    """The values (RGBA bytes, row-major) of a Label Studio brush RLE, as a flat array.

    Raises ValueError on a malformed stream (see the module docstring for the layout).
    """
    if not len(rle) or any(not isinstance(v, int) or not 0 <= v <= 255 for v in rle):
        raise ValueError("'rle' must be a non-empty list of bytes (whole numbers 0..255)")
    bits = _Bits(rle)
    num = bits.int(32)
    word = bits.int(5) + 1
    field_sizes = [bits.int(4) + 1 for _ in range(4)]
    out = np.zeros(num, dtype=np.uint8 if word <= 8 else np.uint16 if word <= 16 else np.uint32)
    i = 0
    while i < num:
        repeated = bits.int(1)
        j = i + 1 + bits.int(field_sizes[bits.int(2)])
        if j > num:
            raise ValueError(f'a run ends at value {j}, past the {num} values announced')
        out[i:j] = bits.int(word) if repeated else bits.read(word, j - i)
        i = j
    return out


def brush_mask(rle: Sequence[int], width: int, height: int) -> np.ndarray:
    """A Label Studio brush RLE as a ``height x width`` boolean mask (alpha != 0)."""
    values = decode_brush_rle(rle)
    if len(values) != 4 * width * height:
        raise ValueError(f'it holds {len(values)} values, not 4 x {width} x {height} (the '
                         'RGBA bytes of the original image)')
    return values.reshape(height, width, 4)[:, :, 3] != 0


def file_name_of(url: str, path_root: Optional[str] = None) -> Optional[str]:
    """The image's file name from a task's image URL (see the module docstring): its
    path, relative to ``path_root`` when given; None when it lies outside ``path_root``."""
    parsed = urlparse(url)
    query = parse_qs(parsed.query)  # decoded
    if len(parsed.scheme) == 1:  # a Windows drive letter: a path, not a URL
        path = url
    elif parsed.path.rstrip('/').endswith('/data/local-files') and 'd' in query:
        path = query['d'][0]
    elif parsed.scheme not in STORAGE_SCHEMES and parsed.path.startswith(UPLOAD_PREFIX):
        path = unquote(parsed.path)[len(UPLOAD_PREFIX):]
    else:  # the netloc (a bucket, a host) is no part of the path
        path = unquote(parsed.path)
    path = path.replace('\\', '/').strip('/')
    if path_root is None:
        return path
    root = path_root.replace('\\', '/').strip('/')
    if not root:
        return path
    return path[len(root) + 1:] if path.startswith(root + '/') else None


def _image_url(task: dict, data_key: Optional[str], where: str) -> str:
    data = task.get('data')
    if not isinstance(data, dict):
        raise LabelImportError(f"{where}: has no 'data' object; give Label Studio's JSON "
                               'export (not JSON-MIN or CSV)')
    if data_key is None:
        if isinstance(data.get('image'), str):
            data_key = 'image'
        else:
            keys = [k for k, v in data.items() if isinstance(v, str) and (
                v.startswith(URL_PREFIXES)
                or osp.splitext(urlparse(v).path)[1].lower() in IMAGE_EXTS)]
            if len(keys) != 1:
                raise LabelImportError(
                    f"{where}: cannot tell which of the data keys {sorted(data)} is the image "
                    "(none is 'image'); pass --data-key (data_key=) the key your labeling "
                    'config\'s <Image value="$..."> names')
            data_key = keys[0]
    url = data.get(data_key)
    if not isinstance(url, str) or not url or url.startswith('data:'):
        raise LabelImportError(
            f'{where}: data[{data_key!r}] is {str(url)[:40]!r}, not an image URL or path; '
            'import the images into Label Studio as files, not inline data')
    return url


def _choose(annotations: list) -> Optional[dict]:
    """The annotation to use: ground truth first, then the newest; None if all cancelled."""
    live = [(i, a) for i, a in enumerate(annotations) if isinstance(a, dict)
            and not (a.get('was_cancelled') or a.get('skipped'))]
    if not live:
        return None
    return max(live, key=lambda ia: (bool(ia[1].get('ground_truth')),
                                     str(ia[1].get('created_at') or ''), ia[0]))[1]


def _label(r: dict, kind: str, img: ToolImage) -> str:
    value = r['value']
    names = value.get(r['type']) if r['type'].endswith('labels') else None
    names = names if names is not None else value.get('labels')
    if not isinstance(names, list) or len(names) != 1 or not isinstance(names[0], str):
        raise LabelImportError(
            f"{img.describe()}: a {kind} region (result id {r.get('id')!r}) has the labels "
            f'{names!r}; each region needs exactly one label: fix it in Label Studio (a '
            'labeling config with choice="multiple" on its labels allows several)')
    return names[0]


def _size(r: dict, img: ToolImage, kind: str):
    """The original image size a region's percentages refer to; set on ``img``."""
    w, h = r.get('original_width'), r.get('original_height')
    if not (isinstance(w, (int, float)) and isinstance(h, (int, float)) and w > 0 and h > 0):
        raise LabelImportError(
            f"{img.describe()}: a {kind} region (result id {r.get('id')!r}) has no "
            'original_width/original_height; re-export the project as JSON from Label Studio')
    w, h = int(w), int(h)
    if img.width is not None and (img.width, img.height) != (w, h):
        raise LabelImportError(
            f"{img.describe()}: result id {r.get('id')!r} gives the image size {w}x{h}, "
            f'another result {img.width}x{img.height}; re-export the project from Label Studio')
    img.width, img.height = w, h
    what = f"{img.describe()}: result id {r.get('id')!r}"
    rotation = rotation_degrees(r.get('image_rotation'), what)
    if rotation:
        raise LabelImportError(f'{what} was drawn on the image rotated by {rotation:g} degrees '
                               'in the editor; relabel it with the image unrotated')
    return w, h


def _number(value: dict, key: str, r: dict, img: ToolImage, kind: str) -> float:
    v = value.get(key)
    if not isinstance(v, (int, float)) or not np.isfinite(v):
        raise LabelImportError(f"{img.describe()}: a {kind} region (result id {r.get('id')!r}) "
                               f"has {key}={v!r}, not a number")
    return float(v)


def _add_region(r: dict, kind: str, img: ToolImage) -> None:
    name = _label(r, kind, img)
    w, h = _size(r, img, kind)
    value = r['value']
    if kind == 'point':
        x, y = (_number(value, k, r, img, kind) for k in ('x', 'y'))
        img.points.append((name, x * w / 100, y * h / 100))
    elif kind == 'box':
        x, y, bw, bh = (_number(value, k, r, img, kind) for k in ('x', 'y', 'width', 'height'))
        what = f"{img.describe()}: the {name!r} rectangle (result id {r.get('id')!r})"
        rotation = rotation_degrees(value.get('rotation'), what)
        if rotation:
            raise LabelImportError(
                f'{what} is rotated by {rotation:g} degrees; a weak-label box is axis-aligned: '
                'set its rotation to 0 or redraw it as a polygon in Label Studio')
        img.boxes.append((name, x * w / 100, y * h / 100, (x + bw) * w / 100,
                          (y + bh) * h / 100))
    elif kind == 'polygon':
        points = value.get('points')
        if value.get('closed') is False:
            raise LabelImportError(
                f"{img.describe()}: the {name!r} polygon (result id {r.get('id')!r}) is not "
                'closed; close or delete it in Label Studio')
        try:
            flat = [float(c) * s / 100 for x, y in points for c, s in ((x, w), (y, h))]
        except (TypeError, ValueError):
            raise LabelImportError(
                f"{img.describe()}: the {name!r} polygon (result id {r.get('id')!r}) has "
                f'points {str(points)[:60]}, not [[x, y], ...] in percent') from None
        img.masks.append((name, [flat]))
    else:
        if value.get('format') != 'rle':
            raise LabelImportError(
                f"{img.describe()}: the {name!r} brush region (result id {r.get('id')!r}) has "
                f"format {value.get('format')!r}; only Label Studio's 'rle' is read")
        try:
            mask = brush_mask(value.get('rle') or [], w, h)
        except ValueError as e:
            raise LabelImportError(
                f"{img.describe()}: the {name!r} brush RLE (result id {r.get('id')!r}) cannot "
                f'be read: {e}; re-export the project as JSON from Label Studio') from None
        img.masks.append((name, mask))


def _task_image(task: dict, annotation: dict, source: str, data_key: Optional[str],
                path_root: Optional[str] = None) -> ToolImage:
    where = f"{source}: task {task.get('id', '?')}"
    url = _image_url(task, data_key, where)
    img = ToolImage(file_name=file_name_of(url, path_root), where=where)
    if img.file_name is None:
        raise LabelImportError(
            f'{where}: the image {file_name_of(url)} lies outside --path-root {path_root!r}; '
            'give the folder that every image path starts with (the one data_prefix.img '
            'names), or none')
    if not img.file_name:
        raise LabelImportError(f'{img.describe()}: its image URL gives no file name')
    results = annotation.get('result') or []
    if not isinstance(results, list) or not all(isinstance(r, dict) for r in results):
        raise LabelImportError(f"{img.describe()}: the annotation's 'result' is not a list of "
                               "objects; give Label Studio's JSON export")
    region_ids = {r.get('id') for r in results
                  if str(r.get('type', '')).lower() in set(GEOMETRY) | {'labels'}}
    for r in results:
        kind = str(r.get('type', '')).lower()
        if kind in IGNORED:  # carry no class (a relation has no 'value' at all)
            continue
        if not isinstance(r.get('value'), dict):
            raise LabelImportError(f"{img.describe()}: result id {r.get('id')!r} has no "
                                   "'value' object; give Label Studio's JSON export")
        r = dict(r, type=kind)
        if kind == 'choices':
            if r.get('id') in region_ids:
                continue  # a per-region choice: an attribute of that region
            choices = r['value'].get('choices')
            if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
                raise LabelImportError(
                    f"{img.describe()}: choices result id {r.get('id')!r} holds {choices!r}, "
                    'not a list of names (a nested <Taxonomy> is not read)')
            img.tags += choices
        elif kind in GEOMETRY:
            _add_region(r, GEOMETRY[kind], img)
        elif kind == 'labels' and _labels_kind(r['value']):
            _add_region(r, _labels_kind(r['value']), img)
        else:
            raise LabelImportError(
                f"{img.describe()}: result id {r.get('id')!r} has type {kind!r} (from "
                f"{r.get('from_name')!r}), which cannot be imported (keypointlabels, "
                'rectanglelabels, polygonlabels, brushlabels and choices can): delete it or '
                'relabel it with one of those')
    return img


def _labels_kind(value: dict) -> Optional[str]:
    """The geometry of a ``labels`` result by its keys (``<Labels>`` beside a plain shape)."""
    if 'rle' in value:
        return 'brush'
    if 'points' in value:
        return 'polygon'
    if 'radiusX' in value or 'radiusY' in value:
        return None  # an ellipse
    if {'x', 'y', 'width', 'height'} <= set(value):
        return 'box'
    if {'x', 'y'} <= set(value):
        return 'point'
    return None


def read_label_studio(source: str, image_dir: Optional[str] = None,
                      data_key: Optional[str] = None,
                      path_root: Optional[str] = None) -> List[ToolImage]:
    """The labelled tasks of a Label Studio JSON export, in export order.

    ``image_dir`` is not read here: the shared code reads the size of images whose
    results give none (tag-only and empty images) from it. ``data_key`` names the task
    ``data`` key of the image when neither ``image`` nor a single image-like URL is there.
    ``path_root`` is a leading folder stripped from every image path (module docstring).
    """
    try:
        with open(source, encoding='utf-8-sig') as f:
            tasks = json.load(f)
    except (OSError, ValueError) as e:
        raise LabelImportError(f'{source}: cannot be read as JSON ({e})') from None
    if isinstance(tasks, dict):
        tasks = [tasks]  # one task, as Label Studio also accepts
    if not isinstance(tasks, list):
        raise LabelImportError(f"{source}: is not a list of tasks; give Label Studio's JSON "
                               'export')
    images: List[ToolImage] = []
    unlabelled: List[str] = []
    several: Dict[str, int] = {}
    for n, task in enumerate(tasks):
        where = f"{source}: task {task.get('id', '?') if isinstance(task, dict) else n}"
        if not isinstance(task, dict) or 'data' not in task:
            raise LabelImportError(
                f"{where}: is not a task with 'data' and 'annotations'; give Label Studio's "
                'JSON export (JSON-MIN, CSV and COCO exports are not read)')
        annotations = task.get('annotations', task.get('completions')) or []
        chosen = _choose(annotations)
        if chosen is None:
            unlabelled.append(str(task.get('id', n)))
            continue
        live = sum(1 for a in annotations if isinstance(a, dict)
                   and not (a.get('was_cancelled') or a.get('skipped')))
        if live > 1:
            several[str(task.get('id', n))] = live
        images.append(_task_image(task, chosen, source, data_key, path_root))
    if unlabelled:
        warnings.warn(f'{source}: {len(unlabelled)} task(s) have no annotation that is not '
                      f"cancelled and are left out (ids {', '.join(unlabelled[:5])}"
                      f"{' ...' if len(unlabelled) > 5 else ''})", stacklevel=2)
    if several:
        warnings.warn(f'{source}: {len(several)} task(s) have several annotations; each '
                      'keeps the one marked ground truth, else the newest (ids '
                      f"{', '.join(list(several)[:5])}{' ...' if len(several) > 5 else ''})",
                      stacklevel=2)
    return images
