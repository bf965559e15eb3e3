"""SAM 2 / SAM 2.1 as a teacher family, through the ``sam2`` package (Meta's code; an
optional extra: ``requirements/sam2.txt``).

The model is ``sam2``'s own ``SAM2Base``, built from the package's config of the variant
(``configs/sam2.1/sam2.1_hiera_t.yaml``, ...), so an official checkpoint loads strictly,
its video-only parts (memory attention and encoder, object pointers) included but never
run. :class:`SAM2Image` is its image path as ``SAM2ImagePredictor`` runs it:

- the image is resized to the model's square (``image_size``, 1024) without keeping its
  aspect ratio, so a prompt's x and y scale apart (``SAMTeacher`` reads ``resize``);
- the encoder gives three levels (strides 4, 8, 16); the two finer ones pass the mask
  decoder's ``conv_s0``/``conv_s1`` and the coarse one gets ``no_mem_embed`` added.
  :meth:`SAM2Image.encode` returns them as one tensor on the coarse grid (the finer
  levels space-to-depth, :func:`pack_levels`), so the online and cached paths carry SAM
  2's high-resolution features as they carry SAM's embedding: ``C + 16 C/8 + 4 C/4 = 4C``
  channels (1024 for the public models: 8 MiB per 1024 px image in fp16);
- prompts are SAM's: a point is (point, padding token), a box its two corner tokens, to
  which the decoder call appends the padding token, as ``SAM2Base`` always pads.
"""
from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor, nn

INSTALL = ("SAM 2 teachers need Meta's sam2 package: SAM2_BUILD_CUDA=0 pip install "
           '--no-build-isolation -r requirements/sam2.txt')
# variant -> (the sam2 package's config, the Hiera trunk's embed_dim and stages: what a
# checkpoint's keys tell apart). Parameter counts of the built models equal the public
# README's model table (tests/teachers/test_sam2.py).
SAM2_VARIANTS: Dict[str, Tuple[str, int, Tuple[int, ...]]] = {
    'sam2.1_hiera_t': ('configs/sam2.1/sam2.1_hiera_t.yaml', 96, (1, 2, 7, 2)),
    'sam2.1_hiera_s': ('configs/sam2.1/sam2.1_hiera_s.yaml', 96, (1, 2, 11, 2)),
    'sam2.1_hiera_b+': ('configs/sam2.1/sam2.1_hiera_b+.yaml', 112, (2, 3, 16, 3)),
    'sam2.1_hiera_l': ('configs/sam2.1/sam2.1_hiera_l.yaml', 144, (2, 6, 36, 4)),
    'sam2_hiera_t': ('configs/sam2/sam2_hiera_t.yaml', 96, (1, 2, 7, 2)),
    'sam2_hiera_s': ('configs/sam2/sam2_hiera_s.yaml', 96, (1, 2, 11, 2)),
    'sam2_hiera_b+': ('configs/sam2/sam2_hiera_b+.yaml', 112, (2, 3, 16, 3)),
    'sam2_hiera_l': ('configs/sam2/sam2_hiera_l.yaml', 144, (2, 6, 36, 4)),
}
# keys only SAM 2.1's checkpoints have (video: object pointers' temporal encoding)
SAM2_1_ONLY = ('no_obj_embed_spatial', 'obj_ptr_tpos_proj.weight')


def import_sam2():
    try:
        import sam2  # noqa: F401  (initialises hydra on sam2's configs)
    except ImportError:
        raise ImportError(INSTALL) from None


def hydra_overrides(arch: dict) -> list:
    """``sam2`` config overrides for an arch (``sam_arch``'s ``sam2`` family keys): the
    input size, and for a custom encoder its Hiera trunk and the widths that follow."""
    ov = [f'++model.image_size={int(arch["image_size"])}']
    if 'base' in arch:  # a public variant: its own config as it is
        return ov
    trunk = 'model.image_encoder.trunk.'
    dim = int(arch['embed_dim'])
    d = int(arch['d_model'])
    listed = lambda v: '[' + ','.join(str(int(x)) for x in v) + ']'  # noqa: E731
    ov += [f'{trunk}embed_dim={dim}', f'{trunk}num_heads={int(arch["num_heads"])}',
           f'{trunk}stages={listed(arch["stages"])}',
           f'{trunk}global_att_blocks={listed(arch["global_att_blocks"])}',
           f'++{trunk}window_spec={listed(arch["window_spec"])}',
           # Hiera doubles the width at each stage; the neck reads them coarse first
           'model.image_encoder.neck.backbone_channel_list='
           + listed(dim * 2 ** i for i in reversed(range(len(arch['stages'])))),
           f'model.image_encoder.neck.d_model={d}',
           f'model.image_encoder.neck.position_encoding.num_pos_feats={d}']
    if d != 256:  # the video-only parts follow the width as the public configs' ratios do
        mem = 'model.memory_attention.'
        ov += [f'{mem}d_model={d}', f'{mem}layer.d_model={d}',
               f'{mem}layer.dim_feedforward={8 * d}',
               f'{mem}layer.self_attention.embedding_dim={d}',
               f'{mem}layer.cross_attention.embedding_dim={d}',
               f'{mem}layer.cross_attention.kv_in_dim={d // 4}',
               f'model.memory_encoder.out_dim={d // 4}',
               f'model.memory_encoder.position_encoding.num_pos_feats={d // 4}',
               f'model.memory_encoder.fuser.layer.dim={d}']
    return ov


def build_sam2_base(arch: dict) -> nn.Module:
    """``sam2``'s ``SAM2Base`` for an arch, random weights, eval mode."""
    import_sam2()
    from hydra import compose
    from hydra.utils import instantiate
    from omegaconf import OmegaConf
    config = arch.get('base', SAM2_VARIANTS['sam2.1_hiera_t'][0])
    cfg = compose(config_name=config, overrides=hydra_overrides(arch))
    OmegaConf.resolve(cfg)
    return instantiate(cfg.model, _recursive_=True).eval()


def pack_levels(embed: Tensor, s0: Tensor, s1: Tensor) -> Tensor:
    """SAM 2's three feature levels -> one (B, C + 16 C0 + 4 C1, h, w) tensor on the
    coarse grid: the stride-4 level ``s0`` and stride-8 level ``s1`` space-to-depth."""
    return torch.cat([embed, F.pixel_unshuffle(s0, 4), F.pixel_unshuffle(s1, 2)], dim=1)


def unpack_levels(packed: Tensor, dim: int) -> Tuple[Tensor, Tensor, Tensor]:
    """Inverse of :func:`pack_levels` for a model of width ``dim`` (C0 = dim / 8,
    C1 = dim / 4, as SAM 2's ``conv_s0``/``conv_s1`` make them)."""
    c0 = dim // 8 * 16
    return (packed[:, :dim], F.pixel_shuffle(packed[:, dim:dim + c0], 4),
            F.pixel_shuffle(packed[:, dim + c0:], 2))


@MODELS.register_module()
class SAM2Image(nn.Module):
    """SAM 2's image path with the attributes ``SAMTeacher`` uses of a SAM: its
    ``prompt_encoder``, ``image_size``, :meth:`encode` and :meth:`decode`.

    Args:
        model: ``sam2``'s ``SAM2Base`` (its state dict is the checkpoint's).
    """

    family = 'sam2'
    resize = 'square'  # SAM 2 stretches the image to its square input

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    @property
    def prompt_encoder(self) -> nn.Module:
        return self.model.sam_prompt_encoder

    @property
    def image_size(self) -> int:
        return int(self.model.image_size)

    @property
    def embed_dim(self) -> int:
        return int(self.model.hidden_dim)

    def encode(self, x: Tensor) -> Tensor:
        """SAM-normalised (B, 3, S, S) -> the packed levels (B, 4C, S/16, S/16)."""
        m = self.model
        fpn = m.forward_image(x)['backbone_fpn'][-m.num_feature_levels:]
        embed = fpn[-1]
        if m.directly_add_no_mem_embed:  # as SAM2ImagePredictor for a single image
            embed = embed + m.no_mem_embed.view(1, -1, 1, 1)
        return pack_levels(embed, fpn[0], fpn[1])

    def decode(self, packed: Tensor, tokens: Tensor,
               boxes: bool = False) -> Tuple[Tensor, Tensor]:
        """SAM 2's mask decoder on (n, 2, C) sparse tokens of one image (``packed``:
        (1, 4C, h, w)), 3 masks each: low-res logits (n, 3, 4h, 4w) and IoU (n, 3).
        ``boxes``: the tokens are box corners, to which SAM 2's padding token is
        appended (a point's tokens already end with it)."""
        pe = self.prompt_encoder
        if boxes:
            pad = pe.not_a_point_embed.weight.reshape(1, 1, -1).expand(len(tokens), 1, -1)
            tokens = torch.cat([tokens, pad.to(tokens.dtype)], dim=1)
        embed, s0, s1 = unpack_levels(packed, self.embed_dim)
        dense = pe.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
            len(tokens), -1, *embed.shape[-2:])
        low_res, iou, _, _ = self.model.sam_mask_decoder(
            image_embeddings=embed, image_pe=pe.get_dense_pe(),
            sparse_prompt_embeddings=tokens.to(dense.dtype), dense_prompt_embeddings=dense,
            multimask_output=True, repeat_image=True, high_res_features=[s0, s1])
        return low_res, iou


def sam2_variant_of(state: Dict[str, Tensor]) -> Optional[str]:
    """The public SAM 2 variant whose trunk a state dict has, or a short description."""
    proj = state.get('image_encoder.trunk.patch_embed.proj.weight')
    if proj is None:
        return None
    blocks = len({k.split('.')[3] for k in state if k.startswith('image_encoder.trunk.blocks.')})
    version = '2.1' if all(k in state for k in SAM2_1_ONLY) else '2'
    for name, (_, dim, stages) in SAM2_VARIANTS.items():
        if name.startswith(f'sam{version}_') and (dim, sum(stages)) == (proj.shape[0], blocks):
            return name
    return f'custom SAM {version} (embed_dim={proj.shape[0]}, {blocks} blocks)'
