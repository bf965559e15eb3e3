"""Hand-made weak-label files for the tests."""
import copy
import json

import cv2
import numpy as np

CATEGORIES = [dict(id=1, name='circle'), dict(id=2, name='square'), dict(id=3, name='triangle')]


def square_rle(h, w, x0, y0, x1, y1):
    from pycocotools import mask as mask_utils
    m = np.zeros((h, w), np.uint8)
    m[y0:y1, x0:x1] = 1
    rle = mask_utils.encode(np.asfortranarray(m))
    rle['counts'] = rle['counts'].decode()
    return rle


def base_file():
    """Four 40x60 (h x w) images, one of each label type."""
    images = [
        dict(id=1, file_name='t.png', width=60, height=40, label_type='tag', tags=[3, 1]),
        dict(id=2, file_name='p.png', width=60, height=40, label_type='point'),
        dict(id=3, file_name='b.png', width=60, height=40, label_type='box'),
        dict(id=4, file_name='m.png', width=60, height=40),
    ]
    annotations = [
        dict(id=10, image_id=2, category_id=2, point=[10.5, 20.5]),
        dict(id=11, image_id=2, category_id=3, point=[50.0, 5.0]),
        dict(id=12, image_id=3, category_id=1, bbox=[4.0, 6.0, 20.0, 10.0]),
        dict(id=13, image_id=3, category_id=2, bbox=[-0.5, 30.0, 10.0, 10.4]),
        dict(id=14, image_id=4, category_id=3, bbox=[10, 10, 20, 10], area=200, iscrowd=0,
             segmentation=square_rle(40, 60, 10, 10, 30, 20)),
    ]
    return dict(images=images, annotations=annotations, categories=CATEGORIES)


def write(tmp_path, data, name='weak.json'):
    """Write the JSON and the images it names; return the annotation file path."""
    images = data.get('images', []) if isinstance(data, dict) else []
    for img in images if isinstance(images, list) else []:
        if isinstance(img, dict) and isinstance(img.get('file_name'), str):
            h, w = (v if isinstance(v, int) and v > 0 else d
                    for v, d in ((img.get('height'), 40), (img.get('width'), 60)))
            cv2.imwrite(str(tmp_path / img['file_name']),
                        np.full((h, w, 3), 128, np.uint8))
    path = tmp_path / name
    path.write_text(json.dumps(data) if not isinstance(data, str) else data)
    return str(path)


def variant(edit):
    data = copy.deepcopy(base_file())
    edit(data)
    return data
