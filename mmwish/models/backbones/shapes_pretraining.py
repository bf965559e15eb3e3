"""Pretrain the tiny configs' ResNet-18 on shape crops: the shapes' stand-in for ImageNet.

MMDetection's Mask2Former starts from an ImageNet backbone; the shapes have none, and a
ResNet-18 trained from scratch for 1,500 iterations barely learns the classes, so every
row of the quality table is limited by classification. This pretrains the backbone as
ImageNet does: single-object crops, one label each, on images generated with another
seed than the benchmark's and with all 12 shape classes (the 6 benchmark classes and the
6 others), so no benchmark image, mask or box is seen.
"""
import time
from dataclasses import dataclass
from typing import Callable, Dict, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

from ...datasets.synthetic_shapes import (
    DEFAULT_CLASSES,
    OTHER_CLASSES,
    ShapesConfig,
    generate_image,
)

ALL_CLASSES = tuple(DEFAULT_CLASSES) + tuple(OTHER_CLASSES)
MEAN = (123.675, 116.28, 103.53)  # the detector's data_preprocessor (RGB)
STD = (58.395, 57.12, 57.375)


@dataclass
class PretrainConfig:
    iters: int = 1500
    batch_size: int = 64
    crop_size: int = 64
    num_images: int = 3000
    lr: float = 2e-3
    weight_decay: float = 0.05
    warmup: int = 100
    seed: int = 1000  # the benchmark's shapes use seed 0
    depth: int = 18
    base_channels: int = 64  # 32: ResNet-18 at half width, small enough to ship (the demo's)


def shape_crops(num_images: int, seed: int, size: int, classes=ALL_CLASSES,
                margin: Tuple[float, float] = (1.2, 1.8)) -> Tuple[Tensor, Tensor]:
    """Square crops around each visible object of generated images.

    Returns (N, 3, size, size) uint8 RGB crops and their (N,) labels (indices into
    ``classes``). The crop side is the object's longer box side times a random margin,
    so neighbours and clutter stay in view as they do in a scene.
    """
    cfg = ShapesConfig(seed=seed, num_train=num_images, num_val=0, classes=classes)
    rng = np.random.default_rng(seed)
    crops, labels = [], []
    for i in range(num_images):
        image, objects = generate_image(cfg, 'train', i)
        rgb = torch.from_numpy(np.ascontiguousarray(image[..., ::-1])).permute(2, 0, 1)
        h, w = image.shape[:2]
        for label, mask in objects:
            ys, xs = np.nonzero(mask)
            cx, cy = (xs.min() + xs.max()) / 2, (ys.min() + ys.max()) / 2
            side = max(xs.max() - xs.min(), ys.max() - ys.min()) + 1
            half = side * rng.uniform(*margin) / 2
            x0, x1 = int(max(cx - half, 0)), int(min(cx + half + 1, w))
            y0, y1 = int(max(cy - half, 0)), int(min(cy + half + 1, h))
            crop = rgb[:, y0:y1, x0:x1][None].float()
            crops.append(F.interpolate(crop, (size, size), mode='bilinear',
                                       align_corners=False).round().clamp(0, 255).byte()[0])
            labels.append(label)
    return torch.stack(crops), torch.tensor(labels)


def augment(crops: Tensor, generator: torch.Generator) -> Tensor:
    """uint8 crops -> normalised float crops, randomly flipped and rotated by 90 degrees."""
    x = crops.float()
    flip = torch.rand(len(x), generator=generator) < 0.5
    x[flip] = x[flip].flip(-1)
    turns = torch.randint(0, 4, (len(x),), generator=generator)
    x = torch.stack([torch.rot90(c, int(k), (1, 2)) for c, k in zip(x, turns)])
    return normalise(x)


def normalise(crops: Tensor) -> Tensor:
    """uint8 or float RGB crops -> the detector's normalisation."""
    mean = torch.tensor(MEAN).view(1, 3, 1, 1)
    std = torch.tensor(STD).view(1, 3, 1, 1)
    return (crops.float() - mean) / std


@MODELS.register_module()
class CropClassifier(nn.Module):
    """mmdet's ResNet (``base_channels`` wide; 64 is the standard width), global average
    pooling and a linear layer."""

    def __init__(self, num_classes: int, depth: int = 18, base_channels: int = 64):
        super().__init__()
        from mmdet.models.backbones import ResNet
        self.backbone = ResNet(depth=depth, out_indices=(3,), norm_eval=False,
                               base_channels=base_channels, stem_channels=base_channels,
                               norm_cfg=dict(type='BN', requires_grad=True))
        self.fc = nn.Linear(self.backbone.feat_dim, num_classes)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.backbone(x)[-1].mean((2, 3)))


def accuracy(model: CropClassifier, crops: Tensor, labels: Tensor, batch: int = 256) -> float:
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(normalise(crops[i:i + batch])).argmax(1)
                          for i in range(0, len(crops), batch)])
    model.train()
    return (pred == labels).float().mean().item()


def pretrain_backbone(cfg: PretrainConfig, log: Callable = print,
                      log_interval: int = 100) -> Tuple[Dict[str, Tensor], Dict[str, float]]:
    """Train ``CropClassifier`` on shape crops; return the backbone's state dict (the
    keys of mmdet's ``ResNet``, ready for ``init_cfg=dict(type='Pretrained', ...)``)
    and a report with the held-out accuracy."""
    torch.manual_seed(cfg.seed)
    t0 = time.time()
    crops, labels = shape_crops(cfg.num_images, cfg.seed, cfg.crop_size)
    held_crops, held_labels = shape_crops(max(cfg.num_images // 10, 20), cfg.seed + 1,
                                          cfg.crop_size)
    log(f'{len(crops)} training crops, {len(held_crops)} held-out crops '
        f'({time.time() - t0:.0f} s)')
    model = CropClassifier(len(ALL_CLASSES), cfg.depth, cfg.base_channels)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda it: min((it + 1) / cfg.warmup, 1.0) * 0.5 *
        (1 + np.cos(np.pi * min(it / cfg.iters, 1.0))))
    g = torch.Generator().manual_seed(cfg.seed)
    t0 = time.time()
    losses = []
    for it in range(cfg.iters):
        idx = torch.randint(0, len(crops), (cfg.batch_size,), generator=g)
        loss = F.cross_entropy(model(augment(crops[idx], g)), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if (it + 1) % log_interval == 0 or it + 1 == cfg.iters:
            per_iter = (time.time() - t0) / (it + 1)
            log(f'iter {it + 1}/{cfg.iters} loss {loss.item():.4f} '
                f'{per_iter:.2f} s/iter eta {per_iter * (cfg.iters - it - 1) / 60:.1f} min')
    report = dict(held_out_accuracy=accuracy(model, held_crops, held_labels),
                  train_accuracy=accuracy(model, crops[:len(held_crops)],
                                          labels[:len(held_crops)]),
                  num_crops=len(crops), minutes=(time.time() - t0) / 60,
                  loss_first=float(np.mean(losses[:10])), loss_last=float(np.mean(losses[-10:])))
    state = {k: v.detach().clone() for k, v in model.backbone.state_dict().items()}
    return state, report
