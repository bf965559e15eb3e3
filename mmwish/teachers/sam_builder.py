"""Build Segment Anything models and load their checkpoints safely.

``segment_anything``'s own builders fix the image size at 1024 and call
``torch.load`` without ``weights_only``; here every architecture parameter can be
set (the public ViT-B/L/H, MobileSAM, or a small encoder for tests and a self-trained
teacher), and checkpoints load with ``weights_only=True`` and a clear message
for each way they can be wrong.

Teacher families. Every family is a ``segment_anything`` ``Sam`` with SAM's own
``PromptEncoder`` and ``MaskDecoder``; only the image encoder differs, so the teacher
gives the same latents, candidates and IoU for all:

- ``sam``: SAM's ViT (``vit_b``, ``vit_l``, ``vit_h``; ``image_encoder.blocks.*``);
- ``mobile_sam``: MobileSAM's TinyViT (``mobile_sam``, alias ``vit_t`` as MobileSAM's
  registry names it; ``image_encoder.layers.*``; :mod:`mmwish.teachers.tiny_vit`);
- ``sam2``: SAM 2.1 and SAM 2 (``sam2.1_hiera_{t,s,b+,l}``, ``sam2_hiera_*``;
  ``image_encoder.trunk.*``): ``sam2``'s own model, whose prompt encoder and mask
  decoder are SAM's with high-resolution features added (:mod:`mmwish.teachers.sam2_model`).

``variant='custom'`` builds any encoder of a family (``arch['family']``, default
``sam``) from the arch's encoder keys.
"""
import hashlib
import os.path as osp
import pickle
import re
from functools import partial
from typing import Dict, Optional, Sequence

import torch
from torch import nn

from .sam2_model import SAM2_VARIANTS, SAM2Image, build_sam2_base, sam2_variant_of

# The public checkpoints' image encoders: segment_anything/build_sam.py and MobileSAM's
# mobile_sam/build_sam.py (build_sam_vit_t).
SAM_VARIANTS: Dict[str, dict] = {
    'vit_b': dict(family='sam', embed_dim=768, depth=12, num_heads=12,
                  global_attn_indexes=(2, 5, 8, 11)),
    'vit_l': dict(family='sam', embed_dim=1024, depth=24, num_heads=16,
                  global_attn_indexes=(5, 11, 17, 23)),
    'vit_h': dict(family='sam', embed_dim=1280, depth=32, num_heads=16,
                  global_attn_indexes=(7, 15, 23, 31)),
    'mobile_sam': dict(family='mobile_sam', embed_dims=(64, 128, 160, 320),
                       depths=(2, 2, 6, 2), num_heads=(2, 4, 5, 10),
                       window_sizes=(7, 7, 14, 7)),
    **{name: dict(family='sam2', base=config, embed_dim=dim, stages=stages)
       for name, (config, dim, stages) in SAM2_VARIANTS.items()},
}
VARIANT_ALIASES = {'vit_t': 'mobile_sam'}  # MobileSAM's sam_model_registry name
# Per family: the encoder keys a custom encoder must give, the defaults of the others,
# and what its checkpoints look like (named when a file is given to another family).
SAM_DECODER = dict(prompt_embed_dim=256, decoder_mlp_dim=2048)
FAMILIES: Dict[str, dict] = {
    'sam': dict(encoder_keys=('embed_dim', 'depth', 'num_heads', 'global_attn_indexes'),
                defaults=dict(patch_size=16, window_size=14, **SAM_DECODER),
                looks='a SAM ViT image encoder, keys image_encoder.blocks.*'),
    'mobile_sam': dict(encoder_keys=('embed_dims', 'depths', 'num_heads', 'window_sizes'),
                       defaults=dict(mlp_ratio=4.0, mbconv_expand_ratio=4.0, local_conv_size=3,
                                     num_classes=1000, **SAM_DECODER),
                       looks="MobileSAM's TinyViT image encoder, keys image_encoder.layers.*"),
    # d_model: the neck's and the decoder's width (256 in the public models)
    'sam2': dict(encoder_keys=('embed_dim', 'num_heads', 'stages', 'global_att_blocks'),
                 defaults=dict(window_spec=(8, 4, 14, 7), d_model=256),
                 looks="a SAM 2 Hiera image encoder, keys image_encoder.trunk.*"),
}
ENCODER_KEYS = FAMILIES['sam']['encoder_keys']


class SAMCheckpointError(RuntimeError):
    """A SAM checkpoint is missing, unreadable or of another architecture."""


def canonical_variant(variant: str) -> str:
    """``variant`` with its alias resolved (``vit_t`` -> ``mobile_sam``)."""
    return VARIANT_ALIASES.get(variant, variant)


def sam_arch(variant: str = 'vit_b', **overrides) -> dict:
    """The full architecture of a variant, with ``overrides`` applied.

    ``variant='custom'`` takes the family (``family``, default ``'sam'``) and that
    family's encoder keys from ``overrides``: ``embed_dim``, ``depth``, ``num_heads``,
    ``global_attn_indexes`` for SAM's ViT; ``embed_dims``, ``depths``, ``num_heads``,
    ``window_sizes`` (per stage) for MobileSAM's TinyViT; ``embed_dim``, ``num_heads``,
    ``stages``, ``global_att_blocks`` (and ``window_spec``, ``d_model``) for SAM 2's Hiera.
    A public SAM 2 variant is built from ``sam2``'s own config (``base``), as it is: only
    its ``image_size`` can be changed. A custom SAM 2 is a SAM 2.1 model on the config of
    ``sam2.1_hiera_t`` with its Hiera trunk (and widths) replaced.
    """
    variant = canonical_variant(variant)
    if variant == 'custom':
        family = overrides.get('family', 'sam')
        if family not in FAMILIES:
            raise ValueError(f'unknown SAM family {family!r}; use one of {", ".join(FAMILIES)}')
        missing = [k for k in FAMILIES[family]['encoder_keys'] if k not in overrides]
        if missing:
            raise ValueError(f"variant='custom' of family {family!r} needs the encoder's "
                             f'{missing} in arch')
        encoder = dict(family=family)
    elif variant in SAM_VARIANTS:
        encoder = dict(SAM_VARIANTS[variant])
        family = encoder['family']
        if overrides.get('family', family) != family:
            raise ValueError(f"variant {variant!r} is of family {family!r}, not "
                             f"{overrides['family']!r}; use variant='custom' for another "
                             "family's custom encoder")
        if family == 'sam2' and set(overrides) - {'family', 'image_size'}:
            raise ValueError(f"variant {variant!r} is built from sam2's own config; only its "
                             "image_size can be changed: use variant='custom' with "
                             "arch=dict(family='sam2', ...) for another encoder")
    else:
        raise ValueError(f'unknown SAM variant {variant!r}; use one of '
                         f'{", ".join([*SAM_VARIANTS, *VARIANT_ALIASES])} or custom')
    # a public SAM 2 is its config's: no defaults that would misreport it
    defaults = {} if 'base' in encoder else FAMILIES[family]['defaults']
    arch = dict(image_size=1024, **{**defaults, **encoder})
    unknown = set(overrides) - set(arch) - set(FAMILIES[family]['encoder_keys'])
    if unknown:
        raise ValueError(f'unknown SAM arch keys {sorted(unknown)} for family {family!r}')
    arch.update(overrides)
    return arch


def build_image_encoder(a: dict) -> nn.Module:
    """The image encoder of a full arch (``sam_arch``); its ``img_size`` is the input
    size and ``stride`` the input pixels per embedding cell."""
    if a['family'] == 'mobile_sam':
        from .tiny_vit import TinyViT
        return TinyViT(
            img_size=a['image_size'], embed_dims=tuple(a['embed_dims']),
            depths=tuple(a['depths']), num_heads=tuple(a['num_heads']),
            window_sizes=tuple(a['window_sizes']), mlp_ratio=a['mlp_ratio'],
            mbconv_expand_ratio=a['mbconv_expand_ratio'],
            local_conv_size=a['local_conv_size'], out_chans=a['prompt_embed_dim'],
            num_classes=a['num_classes'])
    from segment_anything.modeling import ImageEncoderViT
    encoder = ImageEncoderViT(
        depth=a['depth'], embed_dim=a['embed_dim'], img_size=a['image_size'], mlp_ratio=4,
        norm_layer=partial(nn.LayerNorm, eps=1e-6), num_heads=a['num_heads'],
        patch_size=a['patch_size'], qkv_bias=True, use_rel_pos=True,
        global_attn_indexes=tuple(a['global_attn_indexes']), window_size=a['window_size'],
        out_chans=a['prompt_embed_dim'])
    encoder.stride = a['patch_size']
    return encoder


def build_sam_model(variant: str = 'vit_b', **overrides) -> nn.Module:
    """A SAM of any family with random weights, in eval mode: a ``segment_anything``
    ``Sam`` (the family's image encoder, SAM's own prompt encoder and mask decoder), or
    for ``sam2`` a :class:`SAM2Image` around ``sam2``'s model."""
    from segment_anything.modeling import MaskDecoder, PromptEncoder, Sam, TwoWayTransformer
    a = sam_arch(variant, **overrides)
    if a['family'] == 'sam2':
        return SAM2Image(build_sam2_base(a)).eval()
    encoder = build_image_encoder(a)
    grid = a['image_size'] // encoder.stride
    sam = Sam(
        image_encoder=encoder,
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


def checkpoint_module(sam: nn.Module) -> nn.Module:
    """The module whose state dict a family's checkpoint holds."""
    return sam.model if isinstance(sam, SAM2Image) else sam


def state_family(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """The family whose image encoder the state dict's keys have, if any."""
    if any(k.startswith('image_encoder.trunk.') for k in state):
        return 'sam2'
    if any(k.startswith('image_encoder.layers.') for k in state):
        return 'mobile_sam'
    if any(k.startswith('image_encoder.blocks.') for k in state):
        return 'sam'
    return None


def _stage_depths(state: Dict[str, torch.Tensor], prefix: str) -> Dict[int, int]:
    """``{i: number of j}`` over the keys ``<prefix>.<i>.blocks.<j>.*``."""
    blocks = {}
    for k in state:
        if k.startswith(prefix + '.'):
            parts = k[len(prefix) + 1:].split('.')
            if len(parts) > 2 and parts[1] == 'blocks':
                blocks.setdefault(int(parts[0]), set()).add(parts[2])
    return {i: len(b) for i, b in blocks.items()}


def guess_variant(state: Dict[str, torch.Tensor]) -> Optional[str]:
    """The public variant whose encoder the state dict has, if any, else a short
    description of its encoder (``custom ...``); None when no family's keys are there."""
    family = state_family(state)
    if family == 'sam2':
        return sam2_variant_of(state)
    if family == 'mobile_sam':
        found = _stage_depths(state, 'image_encoder.layers')
        depths = [found.get(i, 0) for i in range(max(found, default=0) + 1)]
        widths = ['image_encoder.patch_embed.seq.2.c.weight'] + [
            f'image_encoder.layers.{i}.downsample.conv1.c.weight' for i in range(len(depths) - 1)]
        dims = [state[k].shape[0] if k in state else None for k in widths]
        for name, enc in SAM_VARIANTS.items():
            if enc['family'] == family and (list(enc['embed_dims']), list(enc['depths'])) \
                    == (dims, depths):
                return name
        return f'custom MobileSAM (embed_dims={dims}, depths={depths})'
    proj = state.get('image_encoder.patch_embed.proj.weight')
    if proj is None:
        return None
    depth = len({k.split('.')[2] for k in state if k.startswith('image_encoder.blocks.')})
    for name, enc in SAM_VARIANTS.items():
        if enc['family'] == family and (enc['embed_dim'], enc['depth']) == (proj.shape[0], depth):
            return name
    return f'custom (embed_dim={proj.shape[0]}, depth={depth})'


def load_sam_checkpoint(sam: nn.Module, path: str, variant: str,
                        allow_missing: Sequence[str] = ()) -> None:
    """Load ``path`` into ``sam`` strictly, explaining any architecture mismatch: a
    file of another family is named as such (what its keys look like)."""
    state = read_sam_state_dict(path)
    sam = checkpoint_module(sam)
    expected = sam.state_dict()
    problems = [f'{k} is missing' for k in expected if k not in state
                and not any(k.startswith(p) for p in allow_missing)]
    problems += [f'{k} is not in {variant}' for k in state if k not in expected]
    problems += [f'{k} has shape {tuple(state[k].shape)} in the file but '
                 f'{tuple(expected[k].shape)} in {variant}'
                 for k in state if k in expected and state[k].shape != expected[k].shape]
    if problems:
        guess = guess_variant(state)
        found, built = state_family(state), state_family(expected)
        hint = ''
        if found and built and found != built:
            hint = (f"; the file looks like {guess} ({FAMILIES[found]['looks']}), another "
                    f"family than variant {variant!r} ({FAMILIES[built]['looks']})")
        elif guess and guess != canonical_variant(variant):
            hint = f'; the file looks like {guess}'
        elif not found:
            hint = ('; its image encoder is of no family mmwish builds (none of '
                    'image_encoder.blocks.*, image_encoder.layers.*, image_encoder.trunk.*)')
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
