import os
import os.path as osp
import sys

import pytest
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO, 'configs', 'mask2former', 'mask2former_r18_tiny_shapes.py')


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A small generated shapes dataset, laid out as the tiny config expects it
    (``<root>/data/shapes``), so commands run with ``cwd=<root>`` find it."""
    from mmwish.datasets.synthetic_shapes import ShapesConfig, generate
    root = tmp_path_factory.mktemp('shapes_run')
    generate(str(root / 'data' / 'shapes'), ShapesConfig(seed=3, num_train=12, num_val=6))
    return root


# A SAM with segment_anything's own classes and a tiny image encoder (64 px input,
# 8x8 embedding, 32x32 low-res masks): random weights, a fraction of a second per image.
TINY = dict(image_size=64, patch_size=8, embed_dim=32, depth=2, num_heads=2,
            global_attn_indexes=(1,), window_size=4, prompt_embed_dim=32, decoder_mlp_dim=64)
@pytest.fixture(scope='session')
def tiny_ckpt(tmp_path_factory):
    from mmwish.teachers import build_sam_model
    torch.manual_seed(0)
    sam = build_sam_model('custom', **TINY)
    path = tmp_path_factory.mktemp('sam') / 'tiny_sam.pth'
    torch.save(sam.state_dict(), path)
    return str(path)


def run_env():
    """Environment for subprocesses: single-threaded, quiet, this repo importable."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join([REPO] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


PYTHON = sys.executable


def merge_cfg_options(cfg, options):
    """Merge ``key=value`` strings into ``cfg`` as ``--cfg-options`` does on the command line."""
    import argparse

    from mmengine.config import DictAction
    parser = argparse.ArgumentParser()
    parser.add_argument('--cfg-options', nargs='+', action=DictAction)
    cfg.merge_from_dict(parser.parse_args(['--cfg-options'] + options).cfg_options)
