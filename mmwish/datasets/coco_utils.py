"""Small helpers shared by the dataset writers (generator, converters)."""
import json

import numpy as np
from pycocotools import mask as mask_utils


def encode_rle(mask: np.ndarray) -> dict:
    """COCO RLE of a bool mask, with ``counts`` as str so that it serialises to JSON."""
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def print_split_summary(outputs: dict) -> None:
    """Print images and instances of each written split (split -> COCO JSON path)."""
    for split, path in outputs.items():
        with open(path) as f:
            coco = json.load(f)
        print(f'{split}: {len(coco["images"])} images, {len(coco["annotations"])} '
              f'instances -> {path}')
