"""The demo's backbone ships in checkpoints/: its size, its provenance, and that both demo
configs load it strictly."""
import hashlib
import json
import os.path as osp

import pytest
import torch
from mmengine.config import Config
from mmengine.registry import init_default_scope

from ..conftest import REPO

CKPT = osp.join(REPO, 'checkpoints', 'resnet18_half_shapes.pth')
CONFIGS = ['configs/mask2former/mask2former_r18-half_tiny_shapes.py',
           'configs/wish/wish_r18-half_tiny_shapes_hetero.py']


def test_shipped_backbone_is_small_and_matches_its_provenance():
    assert osp.getsize(CKPT) <= 10 * 1000 * 1000
    with open(CKPT, 'rb') as f:
        sha = hashlib.sha256(f.read()).hexdigest()
    with open(osp.splitext(CKPT)[0] + '.json') as f:
        prov = json.load(f)
    assert prov['sha256'] == sha
    assert prov['command'].startswith('python tools/pretrain_backbone_shapes.py')
    assert '--base-channels 32' in prov['command'] and prov['config']['base_channels'] == 32
    assert prov['config']['seed'] != 0  # the benchmark's shapes use seed 0
    assert prov['held_out_accuracy'] > 0.5  # 12 classes: chance is 0.083
    state = torch.load(CKPT, map_location='cpu')  # weights_only=True (torch's default)
    assert {v.dtype for v in state.values()} == {torch.float16, torch.int64}


@pytest.mark.parametrize('config', CONFIGS)
def test_demo_configs_load_the_shipped_backbone_strictly(config):
    from mmdet.registry import MODELS
    cfg = Config.fromfile(osp.join(REPO, config))
    init_default_scope('mmdet')
    assert cfg.model.backbone.init_cfg == dict(
        type='Pretrained', checkpoint='checkpoints/resnet18_half_shapes.pth')
    state = torch.load(CKPT, map_location='cpu')
    backbone = MODELS.build(cfg.model.backbone)
    backbone.load_state_dict(state, strict=True)
    # and through the config's own init_cfg, from the repository root as the demo runs
    fresh = MODELS.build({**cfg.model.backbone, 'init_cfg': dict(
        type='Pretrained', checkpoint=CKPT)})
    fresh.init_weights()
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, state[k].to(v.dtype)), k
    # the pixel decoder and the CAM branch take the half-width stages
    widths = [32, 64, 128, 256]
    assert cfg.model.panoptic_head.in_channels == widths
    if 'cam_neck' in cfg.model:
        assert cfg.model.cam_neck.in_channels == widths[cfg.model.cam_neck.level]
