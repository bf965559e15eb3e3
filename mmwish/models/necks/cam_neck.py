"""The CAM branch of WISH (METHOD.md, "Tags to points" and "Self-enhancement")."""
import math
from typing import List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor, nn

CAM_POOLS = ('gap', 'lse')


def cam_scores(cams: Tensor, pool: str = 'gap', lse_r: float = 5.0) -> Tensor:
    """Class logits of CAMs (..., K, h, w) -> (..., K): ``GAP(A_c)`` (METHOD.md), or
    with ``pool='lse'`` the log-sum-exp pooling ``log(mean(exp(r A_c))) / r``, which
    tends to the maximum as ``r`` grows. GAP calls a class present only when its
    activation is high on average; ``L_se`` asks the CAM to be low outside the
    class's masks, so for objects that fill a small part of the image the two losses
    pull against each other. LSE asks for a high region instead, as ``L_se`` does."""
    if pool == 'gap':
        return cams.mean(dim=(-2, -1))
    if pool == 'lse':
        flat = cams.flatten(-2) * lse_r
        return (flat.logsumexp(-1) - math.log(flat.shape[-1])) / lse_r
    raise ValueError(f'CAM pool must be one of {CAM_POOLS}, not {pool!r}')


def cam_loss(cams: Tensor, tags: Sequence[Tensor], pool: str = 'gap',
             lse_r: float = 5.0) -> Tensor:
    """``L_cam = BCE(GAP(A), y_tags)``, multi-label, averaged over images and classes
    (another pooling with ``pool``, :func:`cam_scores`).

    Args:
        cams: (B, K, h, w) class activation maps (logits).
        tags: per image, the class indices present.
    """
    target = torch.zeros(cams.shape[:2], device=cams.device)
    for b, t in enumerate(tags):
        target[b, t.long()] = 1.0
    return F.binary_cross_entropy_with_logits(cam_scores(cams, pool, lse_r), target)


def cam_peaks(cam: Tensor, tags: Tensor, stride: int, threshold: float = 0.5,
              window: int = 3, max_per_class: int = 5, upsample: int = 1,
              class_score_thr: Optional[float] = None, pool: str = 'gap',
              lse_r: float = 5.0) -> Tuple[Tensor, Tensor]:
    """Pseudo points from one image's CAMs (METHOD.md, "Tags to points").

    For each tagged class ``c``: ``A_c`` is normalised to [0, 1] by its maximum
    (after clamping negatives to 0); local maxima (equal to their ``window x
    window`` max-pool) with value ``>= threshold`` are peaks; the global maximum
    is always one; at most ``max_per_class`` are kept, strongest first. A peak at
    cell (i, j) becomes the point ``((j + 0.5) * stride, (i + 0.5) * stride)``.

    Args:
        cam: (K, h, w) CAMs of the image.
        tags: (T,) tagged class indices.
        upsample (int): find the peaks on the CAM upsampled bilinearly by this
            factor (cells of ``stride / upsample`` pixels, the window grown to cover
            the same area), which places a point below the stride-``stride`` cell
            centre; 1 is METHOD.md's cell centre.
        class_score_thr (float, optional): a tagged class whose CAM score
            ``sigmoid(GAP(A_c))`` is below it gives no point (e.g. a crop removed the
            object, the tag stays); None always keeps the global maximum.
        pool, lse_r: the pooling of that score (:func:`cam_scores`), as ``L_cam``'s.

    Returns:
        points (n, 2) x-y in image pixels and their class labels (n,).
    """
    points, labels = [], []
    cam = cam.detach().float()
    scores = cam_scores(cam, pool, lse_r).sigmoid()
    if upsample > 1:
        cam = F.interpolate(cam[None], scale_factor=upsample, mode='bilinear',
                            align_corners=False)[0]
        stride, window = stride / upsample, window * upsample + (upsample + 1) % 2
    h, w = cam.shape[-2:]
    for c in tags.long().tolist():
        if class_score_thr is not None and scores[c] < class_score_thr:
            continue
        a = cam[c].clamp(min=0)
        a = a / a.max().clamp(min=1e-12)
        pooled = F.max_pool2d(a[None, None], window, stride=1, padding=window // 2)[0, 0]
        is_peak = (a == pooled) & (a >= threshold)
        is_peak.view(-1)[a.argmax()] = True
        idx = is_peak.view(-1).nonzero(as_tuple=True)[0]
        idx = idx[a.view(-1)[idx].argsort(descending=True)][:max_per_class]
        ys, xs = idx // w, idx % w
        points.append(torch.stack([(xs + 0.5) * stride, (ys + 0.5) * stride], dim=1).float())
        labels.append(torch.full((len(idx),), c, dtype=torch.long, device=cam.device))
    if not points:
        return cam.new_zeros((0, 2)), torch.zeros(0, dtype=torch.long, device=cam.device)
    return torch.cat(points), torch.cat(labels)


def self_enhancement_target(mask_logits: Tensor, scores: Tensor, labels: Tensor,
                            tags: Tensor, cam_hw: Tuple[int, int],
                            score_thr: float = 0.5) -> Tuple[Tensor, Tensor]:
    """``T_c = max_{i: label_i = c, score_i >= tau_se} sigmoid(M_hat_i)``, detached and
    resized to the CAM (METHOD.md, "Self-enhancement").

    Returns (T, h, w) targets for the tagged classes, in ``tags`` order, and (T,) bool:
    whether a class has such a query. A class without one has no target (the max over
    an empty set): a zero map would teach the CAM that a tagged class is absent, against
    ``L_cam``.
    """
    probs = F.interpolate(mask_logits.detach()[None].float().sigmoid(), size=cam_hw,
                          mode='bilinear', align_corners=False)[0]
    target = probs.new_zeros((len(tags),) + tuple(cam_hw))
    valid = torch.zeros(len(tags), dtype=torch.bool, device=probs.device)
    for n, c in enumerate(tags.long().tolist()):
        keep = (labels == c) & (scores >= score_thr)
        if keep.any():
            target[n] = probs[keep].max(dim=0).values
            valid[n] = True
    return target, valid


def self_enhancement_loss(cam: Tensor, tags: Tensor, target: Tensor,
                          valid: Optional[Tensor] = None) -> Tensor:
    """``L_se = mean over tag classes c of BCE(sigmoid(A_c), T_c)``, over the classes
    that have a target (``valid``; all when None); 0 when none has."""
    if valid is None:
        valid = torch.ones(len(tags), dtype=torch.bool, device=cam.device)
    if not bool(valid.any()):
        return cam.sum() * 0
    return F.binary_cross_entropy_with_logits(cam[tags.long()[valid]], target[valid])


@MODELS.register_module()
class CAMNeck(BaseModule):
    """``A = Conv1x1(F_s)``: class activation maps from one feature level.

    Used beside the detector's own neck: it reads ``feats[level]`` (stride
    ``stride``) of the backbone and returns (B, K, h, w) CAM logits; the
    functions of this module turn them into ``L_cam``, pseudo points and ``L_se``.

    Args:
        in_channels (int): channels of the feature level.
        num_classes (int): K.
        level (int): which backbone output to read.
        stride (int): its stride in pixels.
        peak (dict): ``threshold``, ``window``, ``max_per_class``, ``upsample`` and
            ``class_score_thr`` of :func:`cam_peaks`.
        pool (str): ``L_cam``'s pooling, ``'gap'`` (METHOD.md) or ``'lse'``
            (:func:`cam_scores`); ``lse_r`` its sharpness.
    """

    def __init__(self, in_channels: int, num_classes: int, level: int = -1, stride: int = 32,
                 peak: dict = None, pool: str = 'gap', lse_r: float = 5.0, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.conv = nn.Conv2d(in_channels, num_classes, kernel_size=1)
        self.level, self.stride = level, stride
        self.peak = dict(threshold=0.5, window=3, max_per_class=5, upsample=1,
                         class_score_thr=None)
        unknown = set(peak or {}) - set(self.peak)
        if unknown:
            raise ValueError(f'CAMNeck peak: unknown keys {sorted(unknown)}; '
                             f'use {sorted(self.peak)}')
        self.peak.update(peak or {})
        if pool not in CAM_POOLS:
            raise ValueError(f'CAMNeck pool must be one of {CAM_POOLS}, not {pool!r}')
        self.pool, self.lse_r = pool, lse_r

    def forward(self, feats: Sequence[Tensor]) -> Tensor:
        return self.conv(feats[self.level])

    def loss(self, cams: Tensor, tags: Sequence[Tensor]) -> Tensor:
        return cam_loss(cams, tags, self.pool, self.lse_r)

    def pseudo_points(self, cams: Tensor, tags: Sequence[Tensor]) -> List[Tuple[Tensor, Tensor]]:
        """Per image, (points, labels) from its CAM peaks."""
        return [cam_peaks(cams[b], t, self.stride, pool=self.pool, lse_r=self.lse_r,
                          **self.peak) for b, t in enumerate(tags)]
