"""Train a small SAM on class-agnostic synthetic shapes, and measure it.

The proof on data (no pretrained SAM can be had offline) needs a teacher that never saw
the student's classes: this SAM learns on ``OTHER_CLASSES`` shapes only, with SAM's own
recipe in small: point and box prompts, 3 masks per prompt, the loss of the best of the
3 (focal x 20 + Dice), and the IoU head regressed to each mask's true IoU.
``segment_anything``'s ``PromptEncoder`` and ``MaskDecoder`` are used unchanged; only
the ViT image encoder is small.
"""
import time
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor

from ..datasets.synthetic_shapes import DEFAULT_CLASSES, OTHER_CLASSES, ShapesConfig, generate_image
from .sam_builder import build_sam_model
from .sam_teacher import decode_sparse, sparse_tokens

# The small SAM of the shapes configs: 128 px input, 16x16 embedding, 64x64 low-res masks.
SHAPES_SAM_ARCH = dict(image_size=128, patch_size=8, embed_dim=96, depth=4, num_heads=4,
                       global_attn_indexes=(1, 3), window_size=8, prompt_embed_dim=64,
                       decoder_mlp_dim=256)


@dataclass
class SAMTrainConfig:
    iters: int = 3000
    batch_size: int = 8
    prompts_per_image: int = 4
    lr: float = 1e-3
    weight_decay: float = 0.05
    warmup: int = 200
    box_noise: float = 0.1  # SAM's box jitter, a fraction of the box side (at most)
    seed: int = 0
    classes: Sequence[str] = OTHER_CLASSES


def sam_input(image_bgr: np.ndarray, size: int) -> Tuple[Tensor, float]:
    """(H, W, 3) uint8 BGR -> SAM's (3, size, size) input (RGB, longest side resized,
    normalised, padded) and the scale."""
    rgb = torch.from_numpy(np.ascontiguousarray(image_bgr[..., ::-1])).permute(2, 0, 1).float()
    h, w = rgb.shape[-2:]
    scale = size / max(h, w)
    out_hw = (round(h * scale), round(w * scale))
    x = F.interpolate(rgb[None], out_hw, mode='bilinear', align_corners=False,
                      antialias=True)[0]
    mean = torch.tensor([123.675, 116.28, 103.53]).view(3, 1, 1)
    std = torch.tensor([58.395, 57.12, 57.375]).view(3, 1, 1)
    x = (x - mean) / std
    return F.pad(x, (0, size - out_hw[1], 0, size - out_hw[0])), scale


def resize_mask(mask: np.ndarray, scale: float, size: int) -> Tensor:
    """Bool (H, W) -> float (size, size) in SAM's padded frame."""
    m = torch.from_numpy(mask.astype(np.float32))[None, None]
    h, w = mask.shape
    out_hw = (round(h * scale), round(w * scale))
    m = F.interpolate(m, out_hw, mode='bilinear', align_corners=False)[0, 0]
    return F.pad(m, (0, size - out_hw[1], 0, size - out_hw[0])) > 0.5


def sample_prompts(rng: np.random.Generator, masks: List[Tensor], kinds: Sequence[str],
                   box_noise: float) -> Tuple[Tensor, Tensor, List[int]]:
    """One prompt per mask, in continuous coordinates of SAM's frame: the centre of a
    random pixel of the mask, or its box with SAM's jitter (a fraction of its side).
    Returns (n_p, 2) points, (n_b, 4) xyxy boxes and the masks' order in the
    decoder's output (points first, as :func:`~.sam_teacher.sparse_tokens` orders)."""
    points, boxes, point_idx, box_idx = [], [], [], []
    for i, (mask, kind) in enumerate(zip(masks, kinds)):
        ys, xs = torch.nonzero(mask, as_tuple=True)
        if kind == 'point':
            k = int(rng.integers(len(xs)))
            points.append([float(xs[k]) + 0.5, float(ys[k]) + 0.5])
            point_idx.append(i)
        else:
            x1, y1 = float(xs.min()), float(ys.min())
            x2, y2 = float(xs.max()) + 1, float(ys.max()) + 1
            w, h = x2 - x1, y2 - y1
            jitter = rng.uniform(-box_noise, box_noise, 4) * np.array([w, h, w, h])
            boxes.append((np.array([x1, y1, x2, y2]) + jitter).tolist())
            box_idx.append(i)
    return (torch.tensor(points, dtype=torch.float32).reshape(-1, 2),
            torch.tensor(boxes, dtype=torch.float32).reshape(-1, 4), point_idx + box_idx)


def decode(sam, embedding: Tensor, points: Tensor, boxes: Tensor) -> Tuple[Tensor, Tensor]:
    """SAM's prompt encoder and mask decoder for the prompts of one image, exactly as
    :class:`~.sam_teacher.SAMTeacher` calls them: (n, 3, L, L) low-res logits and (n, 3)
    IoU predictions, points first."""
    tokens = torch.cat(sparse_tokens(sam.prompt_encoder, 1.0, points, boxes))
    return decode_sparse(sam, embedding, tokens)


def mask_losses(logits: Tensor, target: Tensor) -> Tensor:
    """SAM's per-mask loss, 20 x focal + Dice: (n, 3, S, S) logits, (n, S, S) target -> (n, 3)."""
    t = target[:, None].float().expand_as(logits)
    p = logits.sigmoid()
    ce = F.binary_cross_entropy_with_logits(logits, t, reduction='none')
    p_t = p * t + (1 - p) * (1 - t)
    alpha = 0.25 * t + 0.75 * (1 - t)
    focal = (alpha * ce * (1 - p_t) ** 2).mean(dim=(-1, -2))
    inter = (p * t).sum(dim=(-1, -2))
    dice = 1 - (2 * inter + 1) / (p.sum(dim=(-1, -2)) + t.sum(dim=(-1, -2)) + 1)
    return 20 * focal + dice


def mask_iou(pred: Tensor, target: Tensor) -> Tensor:
    """IoU of bool masks (n, k, S, S) against (n, S, S) -> (n, k)."""
    t = target[:, None]
    inter = (pred & t).flatten(2).sum(-1).float()
    union = (pred | t).flatten(2).sum(-1).float()
    return inter / union.clamp(min=1)


def image_batch(cfg: ShapesConfig, split: str, indices: Sequence[int], size: int):
    """Images and their instance masks in SAM's frame."""
    images, masks = [], []
    for i in indices:
        img, instances = generate_image(cfg, split, i)
        x, scale = sam_input(img, size)
        images.append(x)
        masks.append([resize_mask(m, scale, size) for _, m in instances])
    return torch.stack(images), masks


def train_sam(cfg: SAMTrainConfig, log=print, log_interval: int = 50, on_checkpoint=None,
              checkpoint_interval: int = 0, stop_at: int = 0,
              init: Optional[Dict[str, Tensor]] = None, decoder_only: bool = False):
    """Train the small SAM from scratch, or from the state dict ``init``; returns it in
    eval mode. ``decoder_only`` trains the mask decoder alone (the image and prompt
    encoders stay as they are, and so do the latents WISH learns from them).
    ``on_checkpoint(sam, it)`` is called every ``checkpoint_interval`` iterations;
    ``stop_at`` ends the schedule of ``cfg.iters`` early, at that iteration."""
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    sam = build_sam_model('custom', **SHAPES_SAM_ARCH)
    if init is not None:
        sam.load_state_dict(init)
    sam.train()
    if decoder_only:
        sam.requires_grad_(False)
        sam.mask_decoder.requires_grad_(True)
    size = SHAPES_SAM_ARCH['image_size']
    data_cfg = ShapesConfig(seed=cfg.seed, classes=cfg.classes, num_train=0, num_val=0)
    opt = torch.optim.AdamW([p for p in sam.parameters() if p.requires_grad], lr=cfg.lr,
                            weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: min(1.0, (it + 1) / cfg.warmup) * (
        0.1 if it >= int(0.85 * cfg.iters) else 1.0))
    start, seen = time.time(), 0
    for it in range(min(cfg.iters, stop_at or cfg.iters)):
        images, masks = image_batch(data_cfg, 'train', range(seen, seen + cfg.batch_size), size)
        seen += cfg.batch_size
        with torch.set_grad_enabled(not decoder_only):
            embeddings = sam.image_encoder(images)
        loss_mask, loss_iou, n = 0.0, 0.0, 0
        for b, inst in enumerate(masks):
            inst = [m for m in inst if m.any()]
            if not inst:
                continue
            pick = rng.permutation(len(inst))[:cfg.prompts_per_image]
            target = torch.stack([inst[i] for i in pick])
            kinds = ['point' if rng.random() < 0.5 else 'box' for _ in pick]
            points, boxes, order = sample_prompts(rng, list(target), kinds, cfg.box_noise)
            target = target[order]
            low_res, iou_pred = decode(sam, embeddings[b:b + 1], points, boxes)
            logits = F.interpolate(low_res, (size, size), mode='bilinear', align_corners=False)
            losses = mask_losses(logits, target)
            best = losses.argmin(dim=1)
            rows = torch.arange(len(best))
            with torch.no_grad():
                iou_true = mask_iou(logits > 0, target)
            loss_mask = loss_mask + losses[rows, best].sum()
            loss_iou = loss_iou + F.mse_loss(iou_pred, iou_true, reduction='sum') / 3
            n += len(best)
        loss = (loss_mask + loss_iou) / max(n, 1)
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(sam.parameters(), 1.0)
        opt.step()
        sched.step()
        if on_checkpoint and checkpoint_interval and (it + 1) % checkpoint_interval == 0:
            on_checkpoint(sam, it + 1)
        if (it + 1) % log_interval == 0 or it == 0:
            elapsed = time.time() - start
            eta = elapsed / (it + 1) * (cfg.iters - it - 1)
            log(f'iter {it + 1}/{cfg.iters}  loss {loss.item():.4f}  '
                f'mask {float(loss_mask.detach()) / max(n, 1):.4f}  '
                f'iou {float(loss_iou.detach()) / max(n, 1):.4f}  '
                f'lr {sched.get_last_lr()[0]:.2e}  {elapsed / (it + 1):.2f} s/iter  '
                f'eta {eta / 60:.1f} min')
    return sam.eval()


@torch.no_grad()
def evaluate_sam(sam, classes: Sequence[str], num_images: int = 100, seed: int = 1000,
                 split: str = 'val') -> Dict[str, float]:
    """mIoU on held-out shapes, one prompt per instance (a random pixel, or the exact
    box): SAM's pick (the mask its IoU head scores best), the oracle (best of 3) and each
    of the 3 outputs alone (``miou_{point,box}_candidate{0,1,2}``, what a fixed
    candidate would give); and ``hits_{point,box}_coco``, the share of SAM's picks with
    IoU >= t averaged over COCO's thresholds 0.5:0.95, a ceiling on the mask AP of a
    student that copies the teacher exactly."""
    size = SHAPES_SAM_ARCH['image_size']
    rng = np.random.default_rng(seed)
    data_cfg = ShapesConfig(seed=seed, classes=classes, num_train=0, num_val=0)
    ious = {k: [] for k in ('point', 'box', 'point_oracle', 'box_oracle')}
    ious.update({f'{kind}_candidate{k}': [] for kind in ('point', 'box') for k in range(3)})
    for i in range(num_images):
        images, masks = image_batch(data_cfg, split, [i], size)
        inst = [m for m in masks[0] if m.any()]
        if not inst:
            continue
        embedding = sam.image_encoder(images)
        target = torch.stack(inst)
        for kind in ('point', 'box'):
            points, boxes, _ = sample_prompts(rng, inst, [kind] * len(inst), 0.0)
            low_res, iou_pred = decode(sam, embedding, points, boxes)
            logits = F.interpolate(low_res, (size, size), mode='bilinear', align_corners=False)
            iou = mask_iou(logits > 0, target)
            rows = torch.arange(len(iou))
            ious[kind] += iou[rows, iou_pred.argmax(dim=1)].tolist()
            ious[f'{kind}_oracle'] += iou.max(dim=1).values.tolist()
            for k in range(3):
                ious[f'{kind}_candidate{k}'] += iou[:, k].tolist()
    out = {f'miou_{k}': float(np.mean(v)) for k, v in ious.items()}
    # COCO's IoU thresholds: the share of SAM's picks a mask AP would count as hits
    thresholds = np.linspace(0.5, 0.95, 10)
    for kind in ('point', 'box'):
        picked = np.asarray(ious[kind])
        out[f'hits_{kind}_coco'] = float(np.mean([(picked >= t).mean() for t in thresholds]))
    out['instances'] = len(ious['point'])
    return out


def evaluate_both(sam, num_images: int = 100) -> Dict[str, Dict[str, float]]:
    """On the classes it trained on (new images) and on the benchmark's classes, which
    it never saw."""
    return {'other_classes': evaluate_sam(sam, OTHER_CLASSES, num_images),
            'benchmark_classes': evaluate_sam(sam, DEFAULT_CLASSES, num_images)}
