"""Multi-scale deformable attention in float32 under autocast.

mmcv 2.1's CUDA kernel of ``MultiScaleDeformableAttention`` has no bfloat16 version,
and in float16 its sampling locations lose the precision a 1/4-resolution level needs,
so Mask2Former's pixel decoder crashes under bf16 AMP and gives NaN losses under fp16
AMP. The layer is built directly by mmdet's encoder layers (not from a registry), so
it cannot be swapped by a config: its ``forward`` is wrapped instead, once, to run in
float32 with autocast off whenever autocast is on. Outside autocast nothing changes.
"""
import functools

import torch
from mmcv.ops import MultiScaleDeformableAttention


def _to_float(x):
    return x.float() if torch.is_tensor(x) and x.is_floating_point() else x


def fp32_forward(forward):
    """``forward`` run in float32, autocast off, when autocast is on for its device."""
    if getattr(forward, '_mmwish_fp32', False):
        return forward

    @functools.wraps(forward)
    def wrapped(self, query, *args, **kwargs):
        device = query.device.type
        if not torch.is_autocast_enabled(device):
            return forward(self, query, *args, **kwargs)
        with torch.autocast(device_type=device, enabled=False):
            return forward(self, _to_float(query), *[_to_float(a) for a in args],
                           **{k: _to_float(v) for k, v in kwargs.items()})

    wrapped._mmwish_fp32 = True
    return wrapped


def patch_deformable_attention() -> None:
    """Make ``MultiScaleDeformableAttention`` autocast-safe (idempotent)."""
    MultiScaleDeformableAttention.forward = fp32_forward(MultiScaleDeformableAttention.forward)
