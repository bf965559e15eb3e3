"""Synthetic textured shapes written as a COCO instance dataset.

Small images (default 128-160 px) that a CPU trains on in minutes, with the
difficulties of real instance segmentation: several classes, textured objects on
a cluttered background, overlaps with occlusion (annotations are the *visible*
masks), objects cut by the image border and 1 to N instances per image.

Deterministic: image ``i`` of split ``s`` depends only on ``(seed, s, i)``, so
asking for more images never changes the earlier ones.

CLI::

    python tools/dataset_converters/make_shapes.py data/shapes --seed 0
"""
import argparse
import json
import os
import os.path as osp
from dataclasses import asdict, dataclass, field
from typing import Dict, List, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

from .coco_utils import encode_rle, print_split_summary

# Classes of the default dataset; the others stay unseen by it (e.g. to train a
# class-agnostic teacher on shapes the student never sees).
DEFAULT_CLASSES = ('circle', 'square', 'triangle', 'star', 'hexagon', 'cross')
OTHER_CLASSES = ('ellipse', 'diamond', 'ring', 'pentagon', 'crescent', 'arrow')
TEXTURES = ('solid', 'stripes', 'checker', 'gradient')
SPLITS = {'train': 0, 'val': 1, 'test': 2}


@dataclass
class ShapesConfig:
    """Everything that determines the generated files."""
    seed: int = 0
    num_train: int = 200
    num_val: int = 50
    classes: Sequence[str] = DEFAULT_CLASSES
    min_size: int = 128
    max_size: int = 160
    min_instances: int = 1
    max_instances: int = 6
    min_radius: float = 0.09  # of the image's shorter side
    max_radius: float = 0.24
    min_visible: float = 0.4  # fraction of an occluded object that must stay visible
    min_area: int = 40  # pixels
    splits: Dict[str, int] = field(default_factory=dict)

    def __post_init__(self):
        unknown = [c for c in self.classes if c not in SHAPE_DRAWERS]
        if unknown:
            raise ValueError(f'unknown shape classes {unknown}; choose from '
                             f'{sorted(SHAPE_DRAWERS)}')
        if not 16 <= self.min_size <= self.max_size:
            raise ValueError(f'need 16 <= min_size <= max_size, got {self.min_size}, '
                             f'{self.max_size}')
        if not 1 <= self.min_instances <= self.max_instances:
            raise ValueError('need 1 <= min_instances <= max_instances')
        self.classes = tuple(self.classes)
        self.splits = {'train': self.num_train, 'val': self.num_val}


def _regular_polygon(n: int, radius: float, angle: float, start: float = 0.0) -> np.ndarray:
    t = start + angle + np.arange(n) * 2 * np.pi / n
    return np.stack([radius * np.cos(t), radius * np.sin(t)], axis=1)


def _star(r, angle):
    t = angle + np.arange(10) * np.pi / 5
    radii = np.where(np.arange(10) % 2 == 0, r, 0.45 * r)
    return np.stack([radii * np.cos(t), radii * np.sin(t)], axis=1)


def _cross(r, angle):
    a = 0.33 * r
    pts = np.array([[-a, -r], [a, -r], [a, -a], [r, -a], [r, a], [a, a], [a, r], [-a, r],
                    [-a, a], [-r, a], [-r, -a], [-a, -a]])
    return _rotate(pts, angle)


def _arrow(r, angle):
    pts = np.array([[-r, -0.25 * r], [0.2 * r, -0.25 * r], [0.2 * r, -0.6 * r], [r, 0],
                    [0.2 * r, 0.6 * r], [0.2 * r, 0.25 * r], [-r, 0.25 * r]])
    return _rotate(pts, angle)


def _rotate(pts, angle):
    c, s = np.cos(angle), np.sin(angle)
    return pts @ np.array([[c, s], [-s, c]])


def _fill_polygon(canvas, center, pts):
    pts = np.round((pts + center) * 16).astype(np.int32)  # 4 fractional bits
    cv2.fillPoly(canvas, [pts], 1, lineType=cv2.LINE_8, shift=4)


def _draw_polygon(make):
    def draw(canvas, center, r, angle):
        _fill_polygon(canvas, center, make(r, angle))
    return draw


def _draw_circle(canvas, center, r, angle):
    cv2.circle(canvas, _pt(center), int(round(r)), 1, -1)


def _draw_ellipse(canvas, center, r, angle):
    cv2.ellipse(canvas, _pt(center), (int(round(r)), int(round(0.55 * r))),
                np.degrees(angle), 0, 360, 1, -1)


def _draw_ring(canvas, center, r, angle):
    cv2.circle(canvas, _pt(center), int(round(r)), 1, -1)
    cv2.circle(canvas, _pt(center), int(round(0.5 * r)), 0, -1)


def _draw_crescent(canvas, center, r, angle):
    cv2.circle(canvas, _pt(center), int(round(r)), 1, -1)
    offset = center + 0.45 * r * np.array([np.cos(angle), np.sin(angle)])
    cv2.circle(canvas, _pt(offset), int(round(0.85 * r)), 0, -1)


def _pt(xy):
    return int(round(xy[0])), int(round(xy[1]))


SHAPE_DRAWERS = {
    'circle': _draw_circle,
    'square': _draw_polygon(lambda r, a: _regular_polygon(4, r, a, np.pi / 4)),
    'triangle': _draw_polygon(lambda r, a: _regular_polygon(3, r, a, -np.pi / 2)),
    'star': _draw_polygon(_star),
    'hexagon': _draw_polygon(lambda r, a: _regular_polygon(6, r, a)),
    'cross': _draw_polygon(_cross),
    'ellipse': _draw_ellipse,
    'diamond': _draw_polygon(lambda r, a: _rotate(
        _regular_polygon(4, r, 0) * np.array([1.0, 0.6]), a)),
    'ring': _draw_ring,
    'pentagon': _draw_polygon(lambda r, a: _regular_polygon(5, r, a, -np.pi / 2)),
    'crescent': _draw_crescent,
    'arrow': _draw_polygon(_arrow),
}


def _texture(rng, h, w, kind=None) -> np.ndarray:
    """An (h, w, 3) uint8 texture: solid, stripes, checker or gradient, plus noise."""
    kind = kind or TEXTURES[rng.integers(len(TEXTURES))]
    c1 = rng.integers(20, 236, size=3).astype(np.float32)
    c2 = np.clip(c1 + rng.choice([-1, 1], size=3) * rng.integers(50, 110, size=3), 0, 255)
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    if kind == 'solid':
        t = np.zeros((h, w), np.float32)
    elif kind == 'stripes':
        theta, period = rng.uniform(0, np.pi), rng.uniform(4, 10)
        t = (((xx * np.cos(theta) + yy * np.sin(theta)) // (period / 2)) % 2)
    elif kind == 'checker':
        cell = rng.integers(3, 8)
        t = ((xx // cell + yy // cell) % 2)
    else:
        theta = rng.uniform(0, 2 * np.pi)
        t = (xx * np.cos(theta) + yy * np.sin(theta))
        t = (t - t.min()) / max(float(np.ptp(t)), 1.0)
    img = c1 * (1 - t[..., None]) + c2 * t[..., None]
    img += rng.normal(0, 6, size=(h, w, 3))
    return np.clip(img, 0, 255).astype(np.uint8)


def _background(rng, h, w) -> np.ndarray:
    img = _texture(rng, h, w, kind='gradient').astype(np.float32) * 0.6 + 50
    # Clutter: thin lines and blobs that belong to no class.
    for _ in range(rng.integers(2, 6)):
        p1 = (int(rng.integers(w)), int(rng.integers(h)))
        p2 = (int(rng.integers(w)), int(rng.integers(h)))
        color = [float(c) for c in rng.integers(0, 255, size=3)]
        cv2.line(img, p1, p2, color, int(rng.integers(1, 3)))
    img += rng.normal(0, 8, size=img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def _sample_mask(rng, cfg, h, w, name):
    short = min(h, w)
    r = rng.uniform(cfg.min_radius, cfg.max_radius) * short
    # Centres may sit near the border, so some objects are cut by it.
    center = np.array([rng.uniform(0.3 * r, w - 0.3 * r), rng.uniform(0.3 * r, h - 0.3 * r)])
    mask = np.zeros((h, w), np.uint8)
    SHAPE_DRAWERS[name](mask, center, r, rng.uniform(0, 2 * np.pi))
    return mask.astype(bool)


def generate_image(cfg: ShapesConfig, split: str, index: int):
    """Render one image.

    Returns:
        (image HxWx3 uint8 BGR, list of (class index, visible bool mask)).
    """
    rng = np.random.default_rng([cfg.seed, SPLITS[split], index])
    h = int(rng.integers(cfg.min_size, cfg.max_size + 1))
    w = int(rng.integers(cfg.min_size, cfg.max_size + 1))
    image = _background(rng, h, w)
    wanted = int(rng.integers(cfg.min_instances, cfg.max_instances + 1))
    labels: List[int] = []
    full: List[np.ndarray] = []
    visible: List[np.ndarray] = []
    for _ in range(wanted):
        label = int(rng.integers(len(cfg.classes)))
        for _attempt in range(20):
            mask = _sample_mask(rng, cfg, h, w, cfg.classes[label])
            if mask.sum() < max(cfg.min_area, 1):
                continue
            # The new object goes on top; every earlier one must stay visible enough.
            new_visible = [v & ~mask for v in visible]
            if all(nv.sum() >= max(cfg.min_visible * f.sum(), cfg.min_area)
                   for nv, f in zip(new_visible, full)):
                break
        else:
            continue
        visible = new_visible + [mask]
        full.append(mask)
        labels.append(label)
        texture = _texture(rng, h, w)
        image[mask] = texture[mask]
    return image, list(zip(labels, visible))


def generate(out_dir: str, cfg: ShapesConfig, overwrite: bool = False) -> Dict[str, str]:
    """Write ``images/<split>/*.png`` and ``annotations/instances_<split>.json``.

    Refuses to write over existing annotation files unless ``overwrite``.

    Returns:
        dict split -> annotation file path.
    """
    ann_dir = osp.join(out_dir, 'annotations')
    outputs = {s: osp.join(ann_dir, f'instances_{s}.json') for s in cfg.splits}
    existing = [p for p in outputs.values() if osp.exists(p)]
    if existing and not overwrite:
        raise FileExistsError(
            f'{existing[0]} already exists; choose another output folder or pass '
            '--overwrite to replace the generated shapes dataset there')
    os.makedirs(ann_dir, exist_ok=True)
    categories = [dict(id=i + 1, name=n, supercategory='shape')
                  for i, n in enumerate(cfg.classes)]
    for split, count in cfg.splits.items():
        img_dir = osp.join(out_dir, 'images', split)
        os.makedirs(img_dir, exist_ok=True)
        images, annotations = [], []
        for idx in range(count):
            image, instances = generate_image(cfg, split, idx)
            file_name = f'{split}/{idx:06d}.png'
            cv2.imwrite(osp.join(out_dir, 'images', file_name), image)
            img_id = idx + 1
            images.append(dict(id=img_id, file_name=file_name,
                               height=image.shape[0], width=image.shape[1]))
            for label, mask in instances:
                rle = encode_rle(mask)
                annotations.append(dict(
                    id=len(annotations) + 1, image_id=img_id,
                    category_id=label + 1, segmentation=rle,
                    area=float(mask_utils.area(rle)),
                    bbox=[float(v) for v in mask_utils.toBbox(rle)], iscrowd=0))
        coco = dict(
            info=dict(description='mmwish synthetic shapes', version='1',
                      generator=asdict(cfg)),
            licenses=[], images=images, annotations=annotations, categories=categories)
        with open(outputs[split], 'w') as f:
            json.dump(coco, f)
    return outputs


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='Generate the synthetic shapes instance segmentation dataset (COCO JSON).')
    parser.add_argument('out_dir', help='output folder (images/ and annotations/ go in it)')
    parser.add_argument('--seed', type=int, default=0)
    parser.add_argument('--num-train', type=int, default=200)
    parser.add_argument('--num-val', type=int, default=50)
    parser.add_argument('--classes', nargs='+', default=list(DEFAULT_CLASSES),
                        help=f'shape classes, from {sorted(SHAPE_DRAWERS)}')
    parser.add_argument('--min-size', type=int, default=128)
    parser.add_argument('--max-size', type=int, default=160)
    parser.add_argument('--min-instances', type=int, default=1)
    parser.add_argument('--max-instances', type=int, default=6)
    parser.add_argument('--overwrite', action='store_true',
                        help='replace annotation files already in out_dir')
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    try:
        cfg = ShapesConfig(
            seed=args.seed, num_train=args.num_train, num_val=args.num_val,
            classes=args.classes, min_size=args.min_size, max_size=args.max_size,
            min_instances=args.min_instances, max_instances=args.max_instances)
        outputs = generate(args.out_dir, cfg, overwrite=args.overwrite)
    except (ValueError, FileExistsError) as e:
        raise SystemExit(f'error: {e}') from None
    print_split_summary(outputs)


if __name__ == '__main__':
    main()
