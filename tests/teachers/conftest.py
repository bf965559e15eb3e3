import pytest
import torch

from mmwish.teachers import SAMTeacher, build_sam_model

# A SAM with segment_anything's own classes and a tiny image encoder (64 px input,
# 8x8 embedding, 32x32 low-res masks): random weights, a fraction of a second per image.
TINY = dict(image_size=64, patch_size=8, embed_dim=32, depth=2, num_heads=2,
            global_attn_indexes=(1,), window_size=4, prompt_embed_dim=32, decoder_mlp_dim=64)
MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(scope='session')
def tiny_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    sam = build_sam_model('custom', **TINY)
    path = tmp_path_factory.mktemp('sam') / 'tiny_sam.pth'
    torch.save(sam.state_dict(), path)
    return str(path)


@pytest.fixture(scope='session')
def teacher(tiny_ckpt):
    return SAMTeacher(checkpoint=tiny_ckpt, variant='custom', arch=TINY)
