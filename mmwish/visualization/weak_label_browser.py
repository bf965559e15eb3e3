"""A static HTML page of what WISH is taught, image by image: the label type, the
points, boxes and tags, SAM's 3 candidates per prompt with their IoU scores, the
candidate the matching selected and the CAM peaks (the last two need a trained WISH
checkpoint; without one SAM's own best-scored candidate is marked)."""
import copy
import html
import os
import os.path as osp
from typing import List, Optional

import cv2
import numpy as np
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint

from ..models.detectors.wish import sam_target_instances
from ..teachers.sam_teacher import weak_prompts
from .overlays import PALETTE, draw_instances

SCALE = 2
MAX_PROMPTS = 6


def browse_pipeline() -> list:
    """The training labels in the original frame: no augmentation."""
    return [dict(type='LoadImageFromFile', to_float32=True),
            dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
            dict(type='ProjectWeakLabels'), dict(type='PackWeakDetInputs')]


def _bgr(inputs, mean, std) -> np.ndarray:
    img = inputs[0].float().cpu() * torch.tensor(std).view(3, 1, 1) + torch.tensor(mean).view(
        3, 1, 1)
    return np.ascontiguousarray(img.clamp(0, 255).byte().permute(1, 2, 0).numpy()[..., ::-1])


def _labels_panel(image, sample, classes, peaks) -> np.ndarray:
    out = image.copy()
    kind = sample.label_type
    if kind == 'mask':
        masks = sample.gt_instances.masks
        masks = masks.to_ndarray() if hasattr(masks, 'to_ndarray') else masks.cpu().numpy()
        names = [classes[int(c)] for c in sample.gt_instances.labels]
        out = draw_instances(out, list(masks), names)
    elif kind == 'box':
        boxes = sample.gt_instances.bboxes
        for n, (box, c) in enumerate(zip(getattr(boxes, 'tensor', boxes).tolist(),
                                         sample.gt_instances.labels.tolist())):
            col = PALETTE[n % len(PALETTE)][::-1].tolist()
            cv2.rectangle(out, (int(box[0]), int(box[1])), (int(box[2]) - 1, int(box[3]) - 1),
                          col, 1)
            cv2.putText(out, classes[c], (int(box[0]), max(int(box[1]) - 2, 8)),
                        cv2.FONT_HERSHEY_SIMPLEX, 0.3, col, 1, cv2.LINE_AA)
    elif kind == 'point':
        for n, (p, c) in enumerate(zip(sample.gt_points.points.tolist(),
                                       sample.gt_points.labels.tolist())):
            col = PALETTE[n % len(PALETTE)][::-1].tolist()
            cv2.circle(out, (int(p[0]), int(p[1])), 3, col, -1)
            cv2.putText(out, classes[c], (int(p[0]) + 4, int(p[1])), cv2.FONT_HERSHEY_SIMPLEX,
                        0.3, col, 1, cv2.LINE_AA)
    if peaks is not None:
        for p, c in zip(peaks[0].tolist(), peaks[1].tolist()):
            cv2.drawMarker(out, (int(p[0]), int(p[1])), (0, 0, 255), cv2.MARKER_STAR, 9, 1)
            cv2.putText(out, classes[c], (int(p[0]) + 4, int(p[1])), cv2.FONT_HERSHEY_SIMPLEX,
                        0.3, (0, 0, 255), 1, cv2.LINE_AA)
    return out


def _candidates_panel(image, masks, iou, selected, title, prompt) -> np.ndarray:
    """One prompt (drawn in white): its 3 candidates side by side, IoU score above, the
    selected one framed."""
    tiles = []
    p = [int(v * SCALE) for v in prompt]
    for k in range(3):
        tile = draw_instances(image, [masks[k]], [''], alpha=0.6)
        tile = cv2.resize(tile, None, fx=SCALE, fy=SCALE, interpolation=cv2.INTER_NEAREST)
        if len(p) == 2:
            cv2.drawMarker(tile, tuple(p), (255, 255, 255), cv2.MARKER_CROSS, 12, 2)
        else:
            cv2.rectangle(tile, tuple(p[:2]), tuple(p[2:]), (255, 255, 255), 2)
        if k == selected:
            cv2.rectangle(tile, (0, 0), (tile.shape[1] - 1, tile.shape[0] - 1), (0, 200, 0), 3)
        bar = np.full((16, tile.shape[1], 3), 255, np.uint8)
        cv2.putText(bar, f'{title} k={k} IoU {iou[k]:.2f}', (3, 12), cv2.FONT_HERSHEY_SIMPLEX,
                    0.38, (0, 0, 0), 1, cv2.LINE_AA)
        tiles.append(np.vstack([bar, tile]))
    return np.hstack(tiles)


def browse(cfg, out_dir: str, num: int = 20, checkpoint: Optional[str] = None,
           device: str = 'cpu', start: int = 0) -> str:
    """Write ``out_dir/index.html`` and one PNG per image; return the HTML path."""
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    ds_cfg = copy.deepcopy(cfg.train_dataloader.dataset)
    ds_cfg.pipeline = browse_pipeline()
    dataset = DATASETS.build(ds_cfg)
    classes = dataset.metainfo['classes']
    model = MODELS.build(cfg.model)
    if checkpoint:
        load_checkpoint(model, checkpoint, map_location='cpu')
    model = model.to(device).eval()
    teacher = model.teacher
    pre = model.data_preprocessor
    mean, std = pre.mean.flatten().tolist(), pre.std.flatten().tolist()
    os.makedirs(osp.join(out_dir, 'img'), exist_ok=True)
    rows: List[str] = []
    for i in range(start, min(start + num, len(dataset))):
        data = pre(pseudo_collate([dataset[i]]), False)
        inputs, samples = data['inputs'], data['data_samples']
        sample = samples[0]
        hw = tuple(inputs.shape[-2:])
        h, w = sample.img_shape[:2]
        image = _bgr(inputs, mean, std)[:h, :w]  # without the batch padding
        notes, peaks, targets = [], None, None
        with torch.no_grad():
            feats = model.backbone(inputs)
            cams = model.cam_neck(feats) if model.cam_neck is not None else None
            emb = teacher.image_embeddings(inputs, mean, std) if teacher.needs_embedding \
                else None
            if sample.label_type == 'tag' and checkpoint and cams is not None:
                peaks = model.pseudo_points(cams, samples, warmup=False)[0]
            if sample.label_type in ('point', 'box') or peaks is not None:
                targets = teacher.targets(sample, hw, embedding=emb, pseudo_points=peaks)
                labels = targets['labels']
                prompts_xy = weak_prompts(sample, peaks)[1]
            elif sample.label_type == 'tag':
                notes.append('CAM peaks (pseudo points) need a trained checkpoint: --checkpoint')
            selected = None
            if targets is not None and checkpoint:
                x = model.neck(feats) if model.with_neck else feats
                cls, masks, prompts = model.panoptic_head(x, samples, with_prompts=True)
                gt = sam_target_instances(targets)
                res = model.panoptic_head.weak_targets_single(
                    cls[-1][0], masks[-1][0], gt, sample.metainfo,
                    None if prompts[-1] is None else prompts[-1][0])[6]
                selected = {int(g): int(c) for g, c in zip(res.pos_assigned_gt_inds.tolist(),
                                                           res.sam_choice.tolist())}
        panels = [_labels_panel(image, sample, classes, peaks)]
        panels = [cv2.resize(panels[0], None, fx=SCALE, fy=SCALE,
                             interpolation=cv2.INTER_NEAREST)]
        if targets is not None:
            masks_np = targets['masks'][..., :h, :w].cpu().numpy()
            iou = targets['iou'].cpu().numpy()
            for j in range(min(len(masks_np), MAX_PROMPTS)):
                pick = selected.get(j) if selected is not None else int(iou[j].argmax())
                name = classes[int(labels[j])]
                panels.append(_candidates_panel(image, masks_np[j], iou[j], pick,
                                                f'#{j} {name}', prompts_xy[j].tolist()))
            if len(masks_np) > MAX_PROMPTS:
                notes.append(f'{len(masks_np) - MAX_PROMPTS} more prompts not shown')
        width = max(p.shape[1] for p in panels)
        sheet = np.vstack([np.pad(p, ((0, 6), (0, width - p.shape[1]), (0, 0)),
                                  constant_values=255) for p in panels])
        png = f'img/{i:05d}.png'
        cv2.imwrite(osp.join(out_dir, png), sheet)
        tags = ', '.join(classes[int(t)] for t in sample.gt_tags)
        how = ('green frame: the candidate the matching selected' if selected is not None
               else 'green frame: SAM\'s best-scored candidate')
        rows.append(
            f'<section><h2>{html.escape(osp.basename(sample.img_path))} '
            f'<span class="type">{sample.label_type}</span></h2>'
            f'<p>tags: {html.escape(tags) or "none"}. {html.escape(how)}. '
            f'{html.escape(" ".join(notes))}</p><img src="{png}" alt="image {i}"></section>')
    title = f'Weak labels of {html.escape(str(ds_cfg.get("ann_file")))}'
    page = ('<!doctype html><html><head><meta charset="utf-8"><title>' + title + '</title>'
            '<style>body{font-family:sans-serif;margin:20px}section{margin-bottom:28px}'
            '.type{background:#def;padding:2px 6px;border-radius:4px;font-size:70%}'
            'img{image-rendering:pixelated;max-width:100%}</style></head><body><h1>' + title +
            '</h1><p>Left: the labels (red stars: CAM peaks used as pseudo points). Right of '
            'it, per prompt: SAM\'s 3 candidates with the IoU SAM predicts for each.</p>' +
            '\n'.join(rows) + '</body></html>')
    path = osp.join(out_dir, 'index.html')
    with open(path, 'w') as f:
        f.write(page)
    return path
