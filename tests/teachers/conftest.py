import json
import subprocess
import textwrap

import mmcv
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose

from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers import SAMTeacher
from mmwish.teachers.sam_cache import image_prompts
from tests.conftest import PYTHON, REPO, TINY, TINY_CONFIG, run_env

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
# flip, resize, crop: weak labels through mmdet's LSJ-like transforms at 96 px
LSJ = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=1.0),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.8, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96), allow_negative_crop=True),
    dict(type='ProjectWeakLabels'),
]


@pytest.fixture(scope='session')
def teacher(tiny_ckpt):
    return SAMTeacher(checkpoint=tiny_ckpt, variant='custom', arch=TINY)


def outline(masks):
    """(n, 3, H, W) bool: the pixels within one pixel of a mask's boundary."""
    flat = masks.flatten(0, 1)[:, None].float()
    grown = torch.nn.functional.max_pool2d(flat, 3, 1, 1) > 0
    shrunk = -torch.nn.functional.max_pool2d(-flat, 3, 1, 1) > 0
    return (grown & ~shrunk).reshape(masks.shape)


def check_online_and_cached_agree(teacher, reader, infos, seed):
    """Cached (SAM's masks at the image's resolution, mapped by the homography) vs
    online (the encoder run on the original image this step, logits mapped the same
    way and thresholded in the augmented frame), for the point and box images of
    ``infos`` through ``LSJ`` seeded by ``seed``. The cache thresholds once more, at
    the original resolution, and is then resized up to 1.6x, so the two may differ only
    on the masks' outlines: every pixel where they differ is within one pixel of the
    boundary of one of them (a sliver one mask has and the other lacks is all outline)."""
    pipeline = Compose(LSJ)
    for info in infos:
        if info['label_type'] not in ('point', 'box'):
            continue
        np.random.seed(seed)
        out = pipeline(dict(info))
        hom = torch.as_tensor(out['homography_matrix'], dtype=torch.float32)
        ori = (info['height'], info['width'])
        hw = out['img_shape']
        cached = teacher.cached_candidates(reader.read(info['img_id'])['masks'], hom, hw)
        image = mmcv.imread(info['img_path'], channel_order='rgb')
        points, boxes = image_prompts(info)
        logits, _ = teacher.decode(teacher.encode_original(image), ori,
                                   None if points is None else torch.from_numpy(points),
                                   None if boxes is None else torch.from_numpy(boxes))
        online = teacher.to_frame(logits, ori, hw, hom) > 0
        assert cached.shape == online.shape == (len(info['instances']), 3) + tuple(hw)
        bad = (cached != online) & ~(outline(online) | outline(cached))
        assert not bad.any()
        assert (cached == online).float().mean().item() > 0.95  # ragged random masks: much outline


def run_cache_tool(dataset, ann_file, tmp_path, cwd, *args):
    """``tools/sam_cache.py`` on ``ann_file`` of ``dataset``'s root (the tiny config's
    model, its teacher set by ``args``) into ``tmp_path/cache``; the finished process."""
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent(f"""
        _base_ = [{TINY_CONFIG!r}]
        train_dataloader = dict(dataset=dict(
            _delete_=True, type='WeakCocoDataset', data_root={str(dataset.data_root)!r},
            ann_file={ann_file!r}, data_prefix=dict(img='images/'),
            metainfo=dict(classes={DEFAULT_CLASSES!r}), pipeline=[]))
        """))
    proc = subprocess.run(
        [PYTHON, f'{REPO}/tools/sam_cache.py', str(cfg), '--out', str(tmp_path / 'cache'),
         *[json.dumps(a) if isinstance(a, dict) else str(a) for a in args]],
        env=run_env(), capture_output=True, text=True, timeout=600, cwd=str(cwd))
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def wish_steps_with_teacher(teacher: dict, ckpt: str, root, prompt_dim: int, steps: int = 2):
    """Train the tiny WISH model (the tests' config with ``teacher`` in place of the
    tests' SAM) for ``steps`` iterations, checking each step's losses are finite and
    ``loss_prompt`` positive; return the model and the last batch."""
    from mmdet.registry import MODELS
    from mmengine.registry import init_default_scope

    from tests.models.detectors.test_wish import batches, wish_cfg
    init_default_scope('mmdet')
    cfg = wish_cfg(ckpt, root)
    cfg.model.teacher = teacher
    cfg.model.panoptic_head.prompt_dim = prompt_dim
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = batches(cfg)
    for _ in range(steps):
        data = model.data_preprocessor(next(stream), True)
        losses = model.loss(data['inputs'], data['data_samples'])
        assert all(torch.isfinite(v) for v in losses.values()), losses
        assert losses['loss_prompt'] > 0
        opt.zero_grad()
        sum(losses.values()).backward()
        opt.step()
    return model, data
