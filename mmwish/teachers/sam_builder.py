"""Build Segment Anything models and load their checkpoints safely.

``segment_anything``'s own builders fix the image size at 1024 and call
``torch.load`` without ``weights_only``; here every architecture parameter can be
set (the public ViT-B/L/H, or a small encoder for tests and a self-trained
teacher), and checkpoints load with ``weights_only=True`` and a clear message
for each way they can be wrong.
"""
import hashlib
import os.path as osp
import pickle
import re
from functools import partial
from typing import Dict, Optional, Sequence

import torch
from torch import nn

# The public checkpoints' image encoders (segment_anything/build_sam.py).
SAM_VARIANTS: Dict[str, dict] = {
    'vit_b': dict(embed_dim=768, depth=12, num_heads=12, global_attn_indexes=(2, 5, 8, 11)),
    'vit_l': dict(embed_dim=1024, depth=24, num_heads=16, global_attn_indexes=(5, 11, 17, 23)),
    'vit_h': dict(embed_dim=1280, depth=32, num_heads=16, global_attn_indexes=(7, 15, 23, 31)),
}
ENCODER_KEYS = ('embed_dim', 'depth', 'num_heads', 'global_attn_indexes')


class SAMCheckpointError(RuntimeError):
    """A SAM checkpoint is missing, unreadable or of another architecture."""


def sam_arch(variant: str = 'vit_b', **overrides) -> dict:
    """The full architecture of a variant, with ``overrides`` applied.

    ``variant='custom'`` takes the four encoder keys (``embed_dim``, ``depth``,
    ``num_heads``, ``global_attn_indexes``) from ``overrides``.
    """
    if variant == 'custom':
        missing = [k for k in ENCODER_KEYS if k not in overrides]
        if missing:
            raise ValueError(f"variant='custom' needs the encoder's {missing} in arch")
        encoder = {}
    elif variant in SAM_VARIANTS:
        encoder = dict(SAM_VARIANTS[variant])
    else:
        raise ValueError(f'unknown SAM variant {variant!r}; use one of '
                         f'{", ".join(SAM_VARIANTS)} or custom')
    arch = dict(image_size=1024, patch_size=16, window_size=14, prompt_embed_dim=256,
                decoder_mlp_dim=2048, **encoder)
    unknown = set(overrides) - set(arch) - set(ENCODER_KEYS)
    if unknown:
        raise ValueError(f'unknown SAM arch keys {sorted(unknown)}')
    arch.update(overrides)
    return arch


def build_sam_model(variant: str = 'vit_b', **overrides) -> nn.Module:
    """A ``segment_anything`` ``Sam`` with random weights, in eval mode."""
    from segment_anything.modeling import (
        ImageEncoderViT,
        MaskDecoder,
        PromptEncoder,
        Sam,
        TwoWayTransformer,
    )
    a = sam_arch(variant, **overrides)
    grid = a['image_size'] // a['patch_size']
    sam = Sam(
        image_encoder=ImageEncoderViT(
            depth=a['depth'], embed_dim=a['embed_dim'], img_size=a['image_size'], mlp_ratio=4,
            norm_layer=partial(nn.LayerNorm, eps=1e-6), num_heads=a['num_heads'],
            patch_size=a['patch_size'], qkv_bias=True, use_rel_pos=True,
            global_attn_indexes=tuple(a['global_attn_indexes']), window_size=a['window_size'],
            out_chans=a['prompt_embed_dim']),
        prompt_encoder=PromptEncoder(
            embed_dim=a['prompt_embed_dim'], image_embedding_size=(grid, grid),
            input_image_size=(a['image_size'], a['image_size']), mask_in_chans=16),
        mask_decoder=MaskDecoder(
            num_multimask_outputs=3,
            transformer=TwoWayTransformer(depth=2, embedding_dim=a['prompt_embed_dim'],
                                          mlp_dim=a['decoder_mlp_dim'], num_heads=8),
            transformer_dim=a['prompt_embed_dim'], iou_head_depth=3, iou_head_hidden_dim=256),
        pixel_mean=[123.675, 116.28, 103.53],
        pixel_std=[58.395, 57.12, 57.375])
    return sam.eval()


def file_sha256(path: str, chunk: int = 1 << 22) -> str:
    """Hex SHA-256 of a file (the cache keys name the checkpoint by it)."""
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for block in iter(lambda: f.read(chunk), b''):
            h.update(block)
    return h.hexdigest()


def read_sam_state_dict(path: str) -> Dict[str, torch.Tensor]:
    """Read a SAM checkpoint with ``weights_only=True``."""
    if not osp.isfile(path):
        raise SAMCheckpointError(
            f'SAM checkpoint {path} does not exist; download one (e.g. sam_vit_b_01ec64.pth) '
            'and set the teacher\'s checkpoint to its path')
    try:
        state = torch.load(path, map_location='cpu', weights_only=True)
    except pickle.UnpicklingError as e:
        found = re.search(r'GLOBAL ([\w.]+)', str(e))
        what = found.group(1) if found else 'an object that is not allow-listed'
        raise SAMCheckpointError(
            f'SAM checkpoint {path} holds pickled Python objects besides tensors ({what}) and '
            'is refused (loaded with weights_only=True); save its state dict alone with '
            'torch.save(model.state_dict(), path)') from None
    except Exception as e:  # truncated zip, not a torch file, ...
        raise SAMCheckpointError(
            f'SAM checkpoint {path} cannot be read as a PyTorch checkpoint (corrupt or '
            f'truncated?): {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ""}'
        ) from None
    for key in ('model', 'state_dict'):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor)
                                              for v in state.values()):
        raise SAMCheckpointError(f'SAM checkpoint {path} is not a state dict of tensors')
    return state


def guess_variant(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """The public variant whose encoder width and depth the state dict has, if any."""
    proj = state.get('image_encoder.patch_embed.proj.weight')
    if proj is None:
        return None
    depth = len({k.split('.')[2] for k in state if k.startswith('image_encoder.blocks.')})
    for name, enc in SAM_VARIANTS.items():
        if enc['embed_dim'] == proj.shape[0] and enc['depth'] == depth:
            return name
    return f'custom (embed_dim={proj.shape[0]}, depth={depth})'


def load_sam_checkpoint(sam: nn.Module, path: str, variant: str,
                        allow_missing: Sequence[str] = ()) -> None:
    """Load ``path`` into ``sam`` strictly, explaining any architecture mismatch."""
    state = read_sam_state_dict(path)
    expected = sam.state_dict()
    problems = [f'{k} is missing' for k in expected if k not in state
                and not any(k.startswith(p) for p in allow_missing)]
    problems += [f'{k} is not in {variant}' for k in state if k not in expected]
    problems += [f'{k} has shape {tuple(state[k].shape)} in the file but '
                 f'{tuple(expected[k].shape)} in {variant}'
                 for k in state if k in expected and state[k].shape != expected[k].shape]
    if problems:
        guess = guess_variant(state)
        hint = f'; the file looks like {guess}' if guess and guess != variant else ''
        raise SAMCheckpointError(
            f'SAM checkpoint {path} does not match variant {variant!r} '
            f'({len(problems)} differences, e.g. {problems[0]}){hint}: set the teacher\'s '
            'variant (and arch for a custom SAM) to the checkpoint\'s')
    sam.load_state_dict(state, strict=not allow_missing)


def teacher_config(cfg, checkpoint: Optional[str] = None, variant: Optional[str] = None,
                   arch: Optional[dict] = None) -> dict:
    """The teacher of a training config (``model.teacher``, a ``SAMTeacher`` unless it
    names another type), with the tools' command-line overrides applied."""
    base = dict(cfg.model.get('teacher', {}) or {})
    base.setdefault('type', 'SAMTeacher')
    for key, value in dict(checkpoint=checkpoint, variant=variant, arch=arch).items():
        if value is not None:
            base[key] = value
    if 'checkpoint' not in base:
        raise SAMCheckpointError('no SAM checkpoint: pass --checkpoint or set '
                                 'model.teacher.checkpoint in the config')
    return base
