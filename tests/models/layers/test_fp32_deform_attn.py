import torch
from mmcv.ops import MultiScaleDeformableAttention

import mmwish  # noqa: F401  (applies the wrapper)


def inputs(levels=((8, 8), (4, 4))):
    torch.manual_seed(0)
    shapes = torch.tensor(levels)
    start = torch.cat([shapes.new_zeros(1), (shapes[:, 0] * shapes[:, 1]).cumsum(0)[:-1]])
    n = int((shapes[:, 0] * shapes[:, 1]).sum())
    query = torch.randn(2, n, 32)
    ref = torch.rand(2, n, len(levels), 2)
    return dict(query=query, value=query, query_pos=torch.randn(2, n, 32),
                reference_points=ref, spatial_shapes=shapes, level_start_index=start)


def test_float32_under_autocast_and_unchanged_outside():
    attn = MultiScaleDeformableAttention(embed_dims=32, num_heads=4, num_levels=2,
                                         num_points=2, batch_first=True).eval()
    x = inputs()
    ref = attn(**x)
    assert ref.dtype == torch.float32
    with torch.autocast('cpu', dtype=torch.bfloat16):
        out = attn(**x)
        linear = attn.output_proj(x['query'])
    assert linear.dtype == torch.bfloat16  # autocast is on for everything else
    assert out.dtype == torch.float32
    torch.testing.assert_close(out, ref)
    # applying the wrapper again changes nothing
    from mmwish.models.layers import patch_deformable_attention
    forward = MultiScaleDeformableAttention.forward
    patch_deformable_attention()
    assert MultiScaleDeformableAttention.forward is forward
