"""TinyViT, MobileSAM's image encoder, written for mmwish.

MobileSAM (Zhang et al., 2023) distils SAM ViT-H's image encoder into a TinyViT-5M
(Wu et al., 2022) and keeps SAM's prompt encoder and mask decoder. This module builds
that encoder with the parameter names and shapes of MobileSAM's ``mobile_sam.pt``, so the
official checkpoint loads strictly (``tests/teachers/fixtures/mobile_sam_reference.json``):

- ``patch_embed``: two 3x3 stride-2 conv-BN layers (stride 4);
- ``layers.0``: MBConv blocks (inverted residuals); ``layers.1..``: windowed
  self-attention blocks with a learnt bias per relative offset, a depthwise conv and
  an MLP. Every stage but the last ends in a patch merging to the next stage's width
  that halves the resolution, except the last merging, which keeps it: MobileSAM's
  change to TinyViT, so that a 1024 px input gives SAM's 64 x 64 embedding (stride
  16). (MobileSAM picks the stride-1 merging by its width, 320, 448 or 576, i.e. the
  last merging of its TinyViTs; here it is the last one of any widths.)
- ``norm_head`` and ``head``: TinyViT's ImageNet classifier, unused by SAM but saved in
  ``mobile_sam.pt``, so kept for a strict load;
- ``neck``: SAM's neck (1x1 conv, LayerNorm2d, 3x3 conv, LayerNorm2d) to the prompt
  embedding width.

Every conv-BN pair runs with its batch-norm statistics (the teacher is in eval mode).
"""
from typing import Sequence

import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from segment_anything.modeling.common import LayerNorm2d
from torch import Tensor, nn


@MODELS.register_module()
class TinyViTConvBN(nn.Sequential):
    """A bias-free conv and a batch norm (``c`` and ``bn``, as ``mobile_sam.pt``
    names them); padding keeps the size at stride 1."""

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int = 1,
                 stride: int = 1, groups: int = 1):
        super().__init__()
        self.c = nn.Conv2d(in_channels, out_channels, kernel_size, stride,
                           kernel_size // 2, groups=groups, bias=False)
        self.bn = nn.BatchNorm2d(out_channels)


@MODELS.register_module()
class TinyViTMBConv(nn.Module):
    """An inverted residual block: 1x1 expand, 3x3 depthwise, 1x1 project, GELUs, and
    a GELU after the residual sum. (B, C, H, W) -> same."""

    def __init__(self, channels: int, expand_ratio: float):
        super().__init__()
        hidden = int(channels * expand_ratio)
        self.conv1 = TinyViTConvBN(channels, hidden)
        self.conv2 = TinyViTConvBN(hidden, hidden, 3, groups=hidden)
        self.conv3 = TinyViTConvBN(hidden, channels)

    def forward(self, x: Tensor) -> Tensor:
        y = F.gelu(self.conv2(F.gelu(self.conv1(x))))
        return F.gelu(x + self.conv3(y))


@MODELS.register_module()
class TinyViTPatchMerging(nn.Module):
    """1x1 conv to the next stage's width, 3x3 depthwise conv at ``stride``, 1x1 conv."""

    def __init__(self, in_channels: int, out_channels: int, stride: int):
        super().__init__()
        self.conv1 = TinyViTConvBN(in_channels, out_channels)
        self.conv2 = TinyViTConvBN(out_channels, out_channels, 3, stride, groups=out_channels)
        self.conv3 = TinyViTConvBN(out_channels, out_channels)

    def forward(self, x: Tensor) -> Tensor:
        return self.conv3(F.gelu(self.conv2(F.gelu(self.conv1(x)))))


@MODELS.register_module()
class TinyViTMlp(nn.Module):
    """Pre-norm MLP with a GELU, on channels-last tokens."""

    def __init__(self, dim: int, hidden: int):
        super().__init__()
        self.norm = nn.LayerNorm(dim)
        self.fc1 = nn.Linear(dim, hidden)
        self.fc2 = nn.Linear(hidden, dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(F.gelu(self.fc1(self.norm(x))))


@MODELS.register_module()
class TinyViTPatchEmbed(nn.Module):
    """Two 3x3 stride-2 conv-BN layers with a GELU between (``seq.0``, ``seq.2``)."""

    def __init__(self, in_channels: int, dim: int):
        super().__init__()
        self.seq = nn.Sequential(TinyViTConvBN(in_channels, dim // 2, 3, 2), nn.GELU(),
                                 TinyViTConvBN(dim // 2, dim, 3, 2))

    def forward(self, x: Tensor) -> Tensor:
        return self.seq(x)


@MODELS.register_module()
class TinyViTAttention(nn.Module):
    """Multi-head self-attention over the tokens of one square window, with a
    pre-norm and a learnt bias per head and relative offset ``(|dy|, |dx|)``.

    ``attention_biases`` is (heads, window**2), the offset ``(dy, dx)`` at column
    ``dy * window + dx``; ``qkv`` gives each head's query, key and value side by side.
    (n, window**2, C) -> same.
    """

    def __init__(self, dim: int, num_heads: int, window_size: int):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f'TinyViT stage width {dim} is not divisible by its '
                             f'{num_heads} heads')
        self.num_heads = num_heads
        self.norm = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.proj = nn.Linear(dim, dim)
        self.attention_biases = nn.Parameter(torch.zeros(num_heads, window_size ** 2))
        yx = torch.stack(torch.meshgrid(torch.arange(window_size), torch.arange(window_size),
                                        indexing='ij')).flatten(1)
        offset = (yx[:, :, None] - yx[:, None, :]).abs()
        # derived from the window size: not a checkpoint entry
        self.register_buffer('bias_index', offset[0] * window_size + offset[1],
                             persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        n, tokens, dim = x.shape
        qkv = self.qkv(self.norm(x)).view(n, tokens, self.num_heads, 3, -1)
        q, k, v = qkv.permute(3, 0, 2, 1, 4)  # each (n, heads, tokens, head_dim)
        bias = self.attention_biases[:, self.bias_index].to(q.dtype)
        out = F.scaled_dot_product_attention(q, k, v, attn_mask=bias)
        return self.proj(out.transpose(1, 2).reshape(n, tokens, dim))


@MODELS.register_module()
class TinyViTBlock(nn.Module):
    """Windowed attention (residual), a depthwise conv, an MLP (residual).
    (B, C, H, W) -> same.

    A map that is not a whole number of windows is zero-padded at the bottom and
    right before the attention's norm, as TinyViT does (the padded tokens take part
    in the attention; their outputs are cut off).
    """

    def __init__(self, dim: int, num_heads: int, window_size: int, mlp_ratio: float,
                 local_conv_size: int):
        super().__init__()
        self.window_size = window_size
        self.attn = TinyViTAttention(dim, num_heads, window_size)
        self.mlp = TinyViTMlp(dim, int(dim * mlp_ratio))
        self.local_conv = TinyViTConvBN(dim, dim, local_conv_size, groups=dim)

    def windowed_attention(self, x: Tensor) -> Tensor:
        """Attention within windows of a channels-last map (B, H, W, C)."""
        b, h, w, c = x.shape
        s = self.window_size
        pad_h, pad_w = -h % s, -w % s
        x = F.pad(x, (0, 0, 0, pad_w, 0, pad_h))
        nh, nw = (h + pad_h) // s, (w + pad_w) // s
        windows = x.reshape(b, nh, s, nw, s, c).transpose(2, 3).reshape(-1, s * s, c)
        out = self.attn(windows).view(b, nh, nw, s, s, c).transpose(2, 3)
        return out.reshape(b, nh * s, nw * s, c)[:, :h, :w]

    def forward(self, x: Tensor) -> Tensor:
        x = x.permute(0, 2, 3, 1)
        x = x + self.windowed_attention(x)
        x = self.local_conv(x.permute(0, 3, 1, 2)).permute(0, 2, 3, 1)
        x = x + self.mlp(x)
        return x.permute(0, 3, 1, 2)


@MODELS.register_module()
class TinyViTStage(nn.Module):
    """A stage's blocks, then its patch merging (none in the last stage)."""

    def __init__(self, blocks: Sequence[nn.Module], downsample: nn.Module = None):
        super().__init__()
        self.blocks = nn.ModuleList(blocks)
        if downsample is not None:  # absent from the last stage's checkpoint keys
            self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        for block in self.blocks:
            x = block(x)
        downsample = getattr(self, 'downsample', None)
        return x if downsample is None else downsample(x)


@MODELS.register_module()
class TinyViT(nn.Module):
    """MobileSAM's image encoder: (B, 3, S, S) SAM-normalised images ->
    (B, out_chans, S / 16, S / 16) embeddings (four stages; in general the stride is
    ``4 * 2 ** (len(depths) - 2)``).

    The defaults are MobileSAM's TinyViT-5M (``build_sam_vit_t``).

    Args:
        img_size (int): the square input size S (a multiple of the stride).
        embed_dims, depths, num_heads, window_sizes: per stage; stage 0 is TinyViTMBConv
            blocks (its heads and window unused), the others attention blocks.
        mlp_ratio (float): attention blocks' MLP width, times the stage width.
        mbconv_expand_ratio (float): TinyViTMBConv blocks' hidden width, times the stage width.
        local_conv_size (int): kernel of the attention blocks' depthwise conv.
        out_chans (int): the neck's width (SAM's prompt embedding width).
        num_classes (int): outputs of the unused classifier ``head`` (1000 in
            ``mobile_sam.pt``; 0 for none).
    """

    def __init__(self, img_size: int = 1024, embed_dims: Sequence[int] = (64, 128, 160, 320),
                 depths: Sequence[int] = (2, 2, 6, 2), num_heads: Sequence[int] = (2, 4, 5, 10),
                 window_sizes: Sequence[int] = (7, 7, 14, 7), mlp_ratio: float = 4.0,
                 mbconv_expand_ratio: float = 4.0, local_conv_size: int = 3,
                 out_chans: int = 256, num_classes: int = 1000):
        super().__init__()
        stages = len(depths)
        if stages < 2 or not (len(embed_dims) == len(num_heads) == len(window_sizes) == stages):
            raise ValueError('TinyViT needs embed_dims, depths, num_heads and window_sizes of '
                             f'one length of at least 2, not {len(embed_dims)}, {stages}, '
                             f'{len(num_heads)} and {len(window_sizes)}')
        self.img_size = img_size
        self.stride = 4 * 2 ** (stages - 2)
        if img_size % self.stride:
            raise ValueError(f'TinyViT input size {img_size} is not a multiple of its '
                             f'stride {self.stride}')
        d = list(embed_dims)
        self.patch_embed = TinyViTPatchEmbed(3, d[0])
        self.layers = nn.ModuleList()
        for i in range(stages):
            if i == 0:
                blocks = [TinyViTMBConv(d[0], mbconv_expand_ratio) for _ in range(depths[0])]
            else:
                blocks = [TinyViTBlock(d[i], num_heads[i], window_sizes[i], mlp_ratio,
                                       local_conv_size) for _ in range(depths[i])]
            merge = None
            if i < stages - 1:
                merge = TinyViTPatchMerging(d[i], d[i + 1], 1 if i == stages - 2 else 2)
            self.layers.append(TinyViTStage(blocks, merge))
        self.norm_head = nn.LayerNorm(d[-1])
        self.head = nn.Linear(d[-1], num_classes) if num_classes > 0 else nn.Identity()
        self.neck = nn.Sequential(
            nn.Conv2d(d[-1], out_chans, 1, bias=False), LayerNorm2d(out_chans),
            nn.Conv2d(out_chans, out_chans, 3, padding=1, bias=False), LayerNorm2d(out_chans))

    def forward(self, x: Tensor) -> Tensor:
        x = self.patch_embed(x)
        for layer in self.layers:
            x = layer(x)
        return self.neck(x)
