"""PNG overlays of instance masks: ground truth beside predictions."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence

import cv2
import numpy as np
from pycocotools import mask as mask_utils

PALETTE = np.array([(220, 20, 60), (0, 130, 200), (60, 180, 75), (255, 225, 25),
                    (145, 30, 180), (245, 130, 48), (70, 240, 240), (240, 50, 230),
                    (210, 245, 60), (0, 128, 128)], np.uint8)


def draw_instances(image_bgr: np.ndarray, masks: Sequence[np.ndarray], labels: Sequence[str],
                   scores: Optional[Sequence[float]] = None, alpha: float = 0.5) -> np.ndarray:
    """Each mask filled in its own colour with its outline and a caption."""
    out = image_bgr.copy()
    for n, mask in enumerate(masks):
        colour = PALETTE[n % len(PALETTE)][::-1].astype(np.float32)  # RGB -> BGR
        m = mask.astype(bool)
        out[m] = (out[m] * (1 - alpha) + colour * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour.tolist(), 1)
        ys, xs = np.nonzero(m)
        if len(xs):
            text = labels[n] if scores is None else f'{labels[n]} {scores[n]:.2f}'
            cv2.putText(out, text, (int(xs.min()), max(int(ys.min()) - 2, 8)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.3, colour.tolist(), 1, cv2.LINE_AA)
    return out


def side_by_side(panels: List[np.ndarray], titles: List[str], scale: int = 3) -> np.ndarray:
    """Panels of one image, enlarged by ``scale``, with a title bar each."""
    tiles = []
    for panel, title in zip(panels, titles):
        big = cv2.resize(panel, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
        bar = np.full((18, big.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, title, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        tiles.append(np.vstack([bar, big]))
    gap = np.full((tiles[0].shape[0], 6, 3), 255, np.uint8)
    row = [tiles[0]]
    for t in tiles[1:]:
        row += [gap, t]
    return np.hstack(row)


def coco_overlays(gt: dict, results: List[dict], image_dir: str, out_dir: str, num: int = 6,
                  score_thr: float = 0.3) -> List[str]:
    """Write ``num`` PNGs (ground truth | predictions above ``score_thr``) for the first
    images of a COCO file and COCO-format segmentation results; return their paths."""
    os.makedirs(out_dir, exist_ok=True)
    names = {c['id']: c['name'] for c in gt['categories']}
    by_image: Dict[int, List[dict]] = {}
    for ann in gt['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    preds: Dict[int, List[dict]] = {}
    for r in results:
        if r['score'] >= score_thr:
            preds.setdefault(r['image_id'], []).append(r)
    written = []
    for info in gt['images'][:num]:
        image = cv2.imread(osp.join(image_dir, info['file_name']))
        if image is None:
            raise FileNotFoundError(f'{osp.join(image_dir, info["file_name"])} cannot be read')
        h, w = info['height'], info['width']
        gts = by_image.get(info['id'], [])
        gt_masks = [mask_utils.decode(_rle(a['segmentation'], h, w)) for a in gts]
        ps = sorted(preds.get(info['id'], []), key=lambda r: -r['score'])
        p_masks = [mask_utils.decode(r['segmentation']) for r in ps]
        panel = side_by_side(
            [draw_instances(image, gt_masks, [names[a['category_id']] for a in gts]),
             draw_instances(image, p_masks, [names[r['category_id']] for r in ps],
                            [r['score'] for r in ps])],
            ['ground truth', f'prediction (score >= {score_thr})'])
        path = osp.join(out_dir, f'{osp.splitext(osp.basename(info["file_name"]))[0]}.png')
        cv2.imwrite(path, panel)
        written.append(path)
    return written


def _rle(segmentation, h, w):
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation['counts'], list):
        return mask_utils.frPyObjects(segmentation, h, w)
    return segmentation
