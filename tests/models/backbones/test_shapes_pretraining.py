import numpy as np
import torch
from mmdet.models.backbones import ResNet

from mmwish.datasets.synthetic_shapes import ShapesConfig, generate_image
from mmwish.models.backbones.shapes_pretraining import (
    ALL_CLASSES,
    MEAN,
    STD,
    PretrainConfig,
    augment,
    normalise,
    pretrain_backbone,
    shape_crops,
)


def test_crops_follow_the_generated_objects():
    crops, labels = shape_crops(4, seed=5, size=32)
    cfg = ShapesConfig(seed=5, num_train=4, num_val=0, classes=ALL_CLASSES)
    expected = [lab for i in range(4) for lab, _ in generate_image(cfg, 'train', i)[1]]
    assert labels.tolist() == expected
    assert crops.shape == (len(expected), 3, 32, 32) and crops.dtype == torch.uint8
    again, _ = shape_crops(4, seed=5, size=32)
    assert torch.equal(crops, again)
    # the benchmark's classes and the others are both taught
    assert ALL_CLASSES[:6] == ShapesConfig().classes and len(set(ALL_CLASSES)) == 12


def test_augment_flips_and_turns_but_keeps_the_pixels():
    crops, _ = shape_crops(2, seed=1, size=16)
    out = augment(crops, torch.Generator().manual_seed(0))
    plain = normalise(crops)
    assert out.shape == plain.shape
    for a, b in zip(out, plain):
        assert torch.allclose(a.flatten().sort().values, b.flatten().sort().values)
    # normalise is the detector's data_preprocessor
    px = torch.full((1, 3, 1, 1), 200, dtype=torch.uint8)
    assert torch.allclose(normalise(px).flatten(),
                          (200 - torch.tensor(MEAN)) / torch.tensor(STD))


def test_short_pretraining_learns_and_loads_as_an_mmdet_init(tmp_path):
    cfg = PretrainConfig(iters=60, batch_size=16, crop_size=32, num_images=30, lr=2e-3,
                         warmup=5, seed=3)
    state, report = pretrain_backbone(cfg, log=lambda s: None)
    assert report['loss_last'] < 0.8 * report['loss_first'], report
    path = tmp_path / 'r18.pth'
    torch.save(state, path)
    net = ResNet(depth=18, init_cfg=dict(type='Pretrained', checkpoint=str(path)))
    net.init_weights()
    loaded = net.state_dict()
    assert set(loaded) == set(state)
    for k, v in state.items():
        assert torch.equal(loaded[k], v), k
    assert np.isfinite(report['held_out_accuracy'])
