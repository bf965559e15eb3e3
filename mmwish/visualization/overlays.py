"""PNG overlays of instance masks: ground truth beside predictions."""
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Union

import cv2
import numpy as np
from pycocotools import mask as mask_utils

PALETTE = np.array([(220, 20, 60), (0, 130, 200), (60, 180, 75), (255, 225, 25),
                    (145, 30, 180), (245, 130, 48), (70, 240, 240), (240, 50, 230),
                    (210, 245, 60), (0, 128, 128)], np.uint8)


def draw_instances(image_bgr: np.ndarray, masks: Sequence[np.ndarray], labels: Sequence[str],
                   scores: Optional[Sequence[float]] = None, alpha: float = 0.5,
                   scale: int = 1) -> np.ndarray:
    """Each mask filled in its own colour with its outline and a caption. With ``scale`` > 1
    the image is enlarged first (nearest) so that outlines stay thin and captions, drawn
    on a filled box at the enlarged size, stay legible."""
    out = image_bgr.copy()
    if scale > 1:
        out = cv2.resize(out, None, fx=scale, fy=scale, interpolation=cv2.INTER_NEAREST)
    captions = []
    for n, mask in enumerate(masks):
        colour = PALETTE[n % len(PALETTE)][::-1].astype(np.float32)  # RGB -> BGR
        m = mask.astype(bool)
        if scale > 1:
            m = m.repeat(scale, 0).repeat(scale, 1)
        out[m] = (out[m] * (1 - alpha) + colour * alpha).astype(np.uint8)
        contours, _ = cv2.findContours(m.astype(np.uint8), cv2.RETR_EXTERNAL,
                                       cv2.CHAIN_APPROX_SIMPLE)
        cv2.drawContours(out, contours, -1, colour.tolist(), 1 if scale == 1 else 2)
        ys, xs = np.nonzero(m)
        if len(xs) and labels[n]:
            text = labels[n] if scores is None else f'{labels[n]} {scores[n]:.2f}'
            captions.append((text, int(xs.min()), int(ys.min()), colour.tolist()))
    # captions last, so that no later mask covers one
    font = 0.3 if scale == 1 else 0.5
    for text, x, y, colour in captions:
        (tw, th), _ = cv2.getTextSize(text, cv2.FONT_HERSHEY_SIMPLEX, font, 1)
        y = max(y - 2, th + 2)
        if scale > 1:
            cv2.rectangle(out, (x, y - th - 2), (x + tw + 2, y + 2), (255, 255, 255), -1)
            cv2.putText(out, text, (x + 1, y), cv2.FONT_HERSHEY_SIMPLEX, font,
                        [0.6 * c for c in colour], 1, cv2.LINE_AA)
        else:
            cv2.putText(out, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, font, colour, 1,
                        cv2.LINE_AA)
    return out


def side_by_side(panels: List[np.ndarray], titles: List[str], scale: int = 3) -> np.ndarray:
    """Panels of one image, enlarged by ``scale`` (1: as drawn), with a title bar each."""
    tiles = []
    for panel, title in zip(panels, titles):
        big = panel if scale == 1 else cv2.resize(panel, None, fx=scale, fy=scale,
                                                  interpolation=cv2.INTER_NEAREST)
        bar = np.full((18, big.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, title, (4, 13), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 1,
                    cv2.LINE_AA)
        tiles.append(np.vstack([bar, big]))
    return _row(tiles, 6)


def _row(tiles: List[np.ndarray], gap: int) -> np.ndarray:
    """Tiles of one height left to right, ``gap`` white pixels apart."""
    space = np.full((tiles[0].shape[0], gap, 3), 255, np.uint8)
    row = [tiles[0]]
    for t in tiles[1:]:
        row += [space, t]
    return np.hstack(row)


def overview_sheet(panels: List[np.ndarray], cols: int = 3, gap: int = 16) -> np.ndarray:
    """Panels on a grid of ``cols`` columns, each padded to the largest, white between
    and around."""
    h = max(p.shape[0] for p in panels)
    w = max(p.shape[1] for p in panels)
    panels = [cv2.copyMakeBorder(p, 0, h - p.shape[0], 0, w - p.shape[1],
                                 cv2.BORDER_CONSTANT, value=(255, 255, 255)) for p in panels]
    blank = np.full((h, w, 3), 255, np.uint8)
    rows = []
    for i in range(0, len(panels), cols):
        cells = list(panels[i:i + cols])
        cells += [blank] * (cols - len(cells))
        rows.append(_row(cells, gap))
    sheet = rows[0]
    for r in rows[1:]:
        sheet = np.vstack([sheet, np.full((gap, sheet.shape[1], 3), 255, np.uint8), r])
    return cv2.copyMakeBorder(sheet, gap, gap, gap, gap, cv2.BORDER_CONSTANT,
                              value=(255, 255, 255))


def coco_overlays(gt: dict, results: Union[List[dict], Dict[str, List[dict]]],
                  image_dir: str, out_dir: str, num: int = 6, score_thr: float = 0.5,
                  scale: int = 3, sheet: Optional[str] = None, cols: int = 3) -> List[str]:
    """Write ``num`` PNGs (ground truth | predictions scoring at least ``score_thr``) for
    the first images of a COCO file and COCO-format segmentation results, and with
    ``sheet`` one overview PNG of them all on a grid; return the PNGs' paths.
    ``results`` may also map titles to several models' results, drawn left to right
    after the ground truth (e.g. fully supervised | WISH from boxes).

    The predictions are what mmdet's instance post-processing returns (each query's
    best classes, scored by class probability times mask confidence); a well-trained
    Mask2Former gives one above 0.5 per object, while a threshold of 0.3 also shows the
    weaker duplicates its set loss leaves."""
    os.makedirs(out_dir, exist_ok=True)
    names = {c['id']: c['name'] for c in gt['categories']}
    by_image: Dict[int, List[dict]] = {}
    for ann in gt['annotations']:
        by_image.setdefault(ann['image_id'], []).append(ann)
    runs = results if isinstance(results, dict) else {'prediction': results}
    preds: Dict[str, Dict[int, List[dict]]] = {title: {} for title in runs}
    for title, run in runs.items():
        for r in run:
            if r['score'] >= score_thr:
                preds[title].setdefault(r['image_id'], []).append(r)
    written, panels = [], []
    for info in gt['images'][:num]:
        image = cv2.imread(osp.join(image_dir, info['file_name']))
        if image is None:
            raise FileNotFoundError(f'{osp.join(image_dir, info["file_name"])} cannot be read')
        h, w = info['height'], info['width']
        gts = by_image.get(info['id'], [])
        gt_masks = [mask_utils.decode(_rle(a['segmentation'], h, w)) for a in gts]
        tiles = [draw_instances(image, gt_masks, [names[a['category_id']] for a in gts],
                                scale=scale)]
        for title in runs:
            # the lowest score first, so that the strongest prediction is drawn on top
            ps = sorted(preds[title].get(info['id'], []), key=lambda r: r['score'])
            tiles.append(draw_instances(
                image, [mask_utils.decode(r['segmentation']) for r in ps],
                [names[r['category_id']] for r in ps], [r['score'] for r in ps], scale=scale))
        panel = side_by_side(
            tiles, [f'{info["file_name"]}: ground truth']
            + [f'{title} (score >= {score_thr})' for title in runs], scale=1)
        path = osp.join(out_dir, f'{osp.splitext(osp.basename(info["file_name"]))[0]}.png')
        cv2.imwrite(path, panel)
        written.append(path)
        panels.append(panel)
    if sheet and panels:
        cv2.imwrite(sheet, overview_sheet(panels, cols))
    return written


def _rle(segmentation, h, w):
    if isinstance(segmentation, list):
        return mask_utils.merge(mask_utils.frPyObjects(segmentation, h, w))
    if isinstance(segmentation['counts'], list):
        return mask_utils.frPyObjects(segmentation, h, w)
    return segmentation
