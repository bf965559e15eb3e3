"""YOLO and YOLO-seg label files as :class:`ToolImage` records (docs/importers.md).

One .txt file per image, one object per line, coordinates normalised by the image's
width and height (EXIF applied):

- ``class x_center y_center width height`` (5 values): a box;
- ``class x1 y1 x2 y2 ...`` (class and 3 or more x y pairs): a polygon, i.e. a mask.

Each line is read by its count, so a file may hold both kinds; the shared label-type
rule then refuses the image, or makes it a box image with ``--mixed-to-box``. Class
indices name the lines of ``classes.txt`` or the ``names`` of an Ultralytics
``data.yaml``. The files give no image sizes, so the images are read: every image
under ``image_dir`` (with Ultralytics' image extensions, subfolders too) is listed, and
the labels of ``<image_dir>/a/b.jpg`` are ``<source>/a/b.txt`` (Ultralytics'
``images/`` -> ``labels/``); an image without a label file or with an empty one has no
label. The label-type rule, the class list and the border rules are tool_labels.py's.

Coordinates may lie up to :data:`NORM_SLACK` outside ``[0, 1]`` (Ultralytics' own
allowance): a polygon's vertices and a box's corners there are clipped onto the image
here; a value or a box corner beyond that is refused with its file and line.
"""
import math
import os
import os.path as osp
from typing import Dict, List, Optional

from .tool_labels import LabelImportError, ToolImage, file_size, refuse_repeats

# Ultralytics' image extensions (ultralytics/data/utils.py IMG_FORMATS)
IMG_FORMATS = ('bmp', 'dng', 'jpeg', 'jpg', 'mpo', 'png', 'tif', 'tiff', 'webp', 'pfm',
               'heic')
# Ultralytics accepts normalised coordinates up to 1% outside [0, 1]; more is most
# likely a file of pixel coordinates
NORM_SLACK = 0.01


def _names_from_yaml(path: str) -> List[str]:
    import yaml
    with open(path, encoding='utf-8-sig') as f:
        try:
            data = yaml.safe_load(f)
        except yaml.YAMLError as e:
            raise LabelImportError(f'{path} is not valid YAML ({e})') from None
    names = data.get('names') if isinstance(data, dict) else None
    if isinstance(data, dict) and 'kpt_shape' in data:
        # pose lines (box and keypoints) would read as polygons: no weak label
        raise LabelImportError(f'{path} describes a pose (keypoint) dataset (kpt_shape); '
                               'only detection and segmentation labels can be imported')
    if isinstance(names, dict):
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            by_index = {}
        if sorted(by_index) != list(range(len(names))):
            raise LabelImportError(
                f'{path}: names {names!r} must map the indices 0 .. {len(names) - 1} to names')
        names = [by_index[i] for i in range(len(names))]
    if not isinstance(names, list) or not names:
        raise LabelImportError(f'{path} has no names: list or {{index: name}} mapping; add '
                               'the class names (names: [cat, dog] or names: {0: cat, 1: dog})')
    nc = data.get('nc')
    if nc is not None and nc != len(names):
        raise LabelImportError(f'{path}: nc is {nc} but names holds {len(names)} names')
    return [str(n) for n in names]


def yolo_class_names(classes_file: Optional[str]) -> Optional[List[str]]:
    """Class names by index: ``classes.txt`` (line i names class i) or a ``data.yaml``
    (``names`` as a list or an {index: name} mapping). None gives None."""
    if classes_file is None:
        return None
    if not osp.isfile(classes_file):
        raise LabelImportError(f'{classes_file} does not exist; give classes.txt or the '
                               "dataset's data.yaml (--yolo-classes)")
    if classes_file.lower().endswith(('.yaml', '.yml')):
        names = _names_from_yaml(classes_file)
    else:
        with open(classes_file, encoding='utf-8-sig') as f:
            names = [line.strip() for line in f.read().rstrip().splitlines()]
        if not names or '' in names:
            # a blank line would shift every later index
            raise LabelImportError(f'{classes_file}: line {names.index("") + 1 if names else 1}'
                                   ' is empty; each line names the class of its index')
    refuse_repeats(names, classes_file, 'class indices need distinct names')
    return names


def _files(root: str, exts) -> Dict[str, List[str]]:
    """Path without extension -> the paths (relative to ``root``) of the files by extension."""
    out = {}
    for folder, _, names in os.walk(root):
        for name in names:
            if osp.splitext(name)[1][1:].lower() in exts:
                rel = osp.relpath(osp.join(folder, name), root).replace(os.sep, '/')
                out.setdefault(osp.splitext(rel)[0], []).append(rel)
    return out


def _parse_label_file(path: str, where: str, names: List[str], img: ToolImage) -> None:
    """Add the boxes and polygons of one label file to ``img`` (its size known)."""
    w, h = img.width, img.height
    with open(path, encoding='utf-8-sig') as f:
        lines = f.read().splitlines()
    for n, line in enumerate(lines, 1):
        values = line.split()
        if not values:
            continue
        at = f'{where} line {n} (image {img.file_name})'
        try:
            nums = [float(v) for v in values]
        except ValueError:
            raise LabelImportError(f'{at}: {line.strip()!r} is not numbers; fix or delete '
                                   'the line') from None
        if not all(math.isfinite(v) for v in nums):
            raise LabelImportError(f'{at}: {line.strip()!r} holds a non-finite number')
        cls, coords = nums[0], nums[1:]
        if not cls.is_integer() or not 0 <= cls < len(names):
            raise LabelImportError(
                f'{at}: class {values[0]} is no index of the {len(names)} class names '
                f'(0 .. {len(names) - 1}); add its name to the classes file or fix the line')
        name = names[int(cls)]
        if any(v < -NORM_SLACK or v > 1 + NORM_SLACK for v in coords):
            raise LabelImportError(
                f'{at}: the {name!r} coordinates {values[1:]} leave [0, 1]; YOLO '
                'coordinates are normalised by the image size (pixel coordinates?)')
        if len(coords) == 4:
            xc, yc, bw, bh = coords
            corners = [xc - bw / 2, yc - bh / 2, xc + bw / 2, yc + bh / 2]
            if any(c < -NORM_SLACK or c > 1 + NORM_SLACK for c in corners):
                raise LabelImportError(
                    f'{at}: the {name!r} box spans x {corners[0]:g} .. {corners[2]:g}, y '
                    f'{corners[1]:g} .. {corners[3]:g}, more than {NORM_SLACK:.0%} outside '
                    'the image [0, 1]; fix the line')
            x1, y1, x2, y2 = (min(max(c, 0.0), 1.0) for c in corners)
            if x2 <= x1 or y2 <= y1:
                raise LabelImportError(f'{at}: the {name!r} box {values[1:]} has no area inside '
                                       'the image; fix or delete the line')
            img.boxes.append((name, x1 * w, y1 * h, x2 * w, y2 * h))
        elif len(coords) >= 6 and len(coords) % 2 == 0:
            img.masks.append((name, [[min(max(v, 0.0), 1.0) * (w if i % 2 == 0 else h)
                                      for i, v in enumerate(coords)]]))
        else:
            raise LabelImportError(
                f'{at}: {len(values)} values are neither a box (class x_center y_center '
                'width height) nor a polygon (class and 3 or more x y pairs); fix the line')


def read_yolo(source: str, image_dir: Optional[str] = None,
              classes_file: Optional[str] = None) -> List[ToolImage]:
    """The :class:`ToolImage` of every image under ``image_dir``, sorted by file name.

    ``source`` is the folder of label files (``labels/``; it may be ``image_dir``
    itself, for label files saved beside their images), ``classes_file`` the
    ``classes.txt`` or ``data.yaml`` naming the class indices. File names are relative
    to ``image_dir``, the folder the config's ``data_prefix.img`` names.
    """
    if image_dir is None:
        raise LabelImportError(
            f'{source}: YOLO labels are normalised and give no image size; pass the images '
            'folder (--image-dir images/) whose a/b.jpg has the labels <source>/a/b.txt')
    if classes_file is None:
        found = [osp.join(source, f) for f in ('classes.txt', 'data.yaml')
                 if osp.isfile(osp.join(source, f))]
        hint = f' (--yolo-classes {found[0]})' if found else ''
        raise LabelImportError(
            f'{source}: YOLO labels hold class indices; give the file that names them, '
            f'classes.txt or data.yaml{hint}')
    for folder, what in ((source, 'the label folder'), (image_dir, 'the image folder')):
        if not osp.isdir(folder):
            raise LabelImportError(f'{folder} is not a folder; give {what}')
    names = yolo_class_names(classes_file)
    images = _files(image_dir, IMG_FORMATS)
    labels = _files(source, ('txt',))
    if 'classes' not in images:  # LabelImg saves classes.txt beside its label files
        labels.pop('classes', None)
    labels = {k: v for k, v in labels.items()
              if not osp.samefile(osp.join(source, v[0]), classes_file)}
    if not images:
        raise LabelImportError(f'{image_dir} holds no image ({", ".join(IMG_FORMATS)}); give '
                               'the folder of the images (--image-dir)')
    label_dir = osp.basename(osp.normpath(source))
    for stem, files in sorted(images.items()):
        if len(files) > 1:
            raise LabelImportError(
                f'{image_dir}: the images {files} share the label file {stem}.txt; rename one')
    orphans = sorted(set(labels) - set(images))
    if orphans:
        raise LabelImportError(
            f'{label_dir}/{labels[orphans[0]][0]} has no image {orphans[0]}.<ext> under '
            f'{image_dir} ({len(orphans)} label file(s) without an image); put the image '
            'there, delete the label file, or pass the right --image-dir')
    out = []
    for stem, (file_name,) in sorted(images.items()):
        img = ToolImage(file_name=file_name, where=f'{label_dir}/{stem}.txt')
        img.width, img.height = file_size(osp.join(image_dir, file_name), img)
        if stem in labels:
            _parse_label_file(osp.join(source, labels[stem][0]), img.where, names, img)
        out.append(img)
    return out
