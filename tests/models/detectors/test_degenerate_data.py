"""Degenerate but legal weak labels train WISH without NaN: images without instances (tag,
point and box), a tag image whose CAM has no peak above the threshold, points exactly on
the image border, boxes one pixel wide, and classes absent from the batch."""
import json

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.dataset import pseudo_collate
from mmengine.registry import init_default_scope

from mmwish.datasets.synthetic_shapes import ShapesConfig, generate

from .test_wish import wish_cfg


@pytest.fixture(scope='module')
def degenerate_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('degenerate')
    generate(str(root), ShapesConfig(seed=5, num_train=6, num_val=1))
    with open(root / 'annotations' / 'instances_train.json') as f:
        coco = json.load(f)
    imgs = coco['images']
    cat = coco['categories'][0]['id']

    def image(i, label_type, **kw):
        return dict(imgs[i], label_type=label_type, **kw)

    w, h = imgs[3]['width'], imgs[3]['height']
    w4, h4 = imgs[4]['width'], imgs[4]['height']
    images = [image(0, 'tag', tags=[]), image(1, 'point'), image(2, 'box'),
              image(3, 'point'), image(4, 'box'), image(5, 'tag', tags=[cat])]
    anns = [  # points on the border, corners included
        dict(id=1, image_id=imgs[3]['id'], category_id=cat, point=[0.0, 0.0]),
        dict(id=2, image_id=imgs[3]['id'], category_id=cat, point=[float(w), float(h)]),
        dict(id=3, image_id=imgs[3]['id'], category_id=cat, point=[w / 2, 0.0]),
        dict(id=4, image_id=imgs[3]['id'], category_id=cat, point=[0.0, h / 2]),
        # boxes one pixel wide or high, at the border too
        dict(id=5, image_id=imgs[4]['id'], category_id=cat, bbox=[0.0, 0.0, 1.0, h4]),
        dict(id=6, image_id=imgs[4]['id'], category_id=cat, bbox=[w4 - 1.0, 10.0, 1.0, 20.0]),
        dict(id=7, image_id=imgs[4]['id'], category_id=cat, bbox=[10.0, 10.0, 30.0, 1.0]),
    ]
    weak = dict(images=images, annotations=anns, categories=coco['categories'])
    with open(root / 'annotations' / 'degenerate.json', 'w') as f:
        json.dump(weak, f)
    return root


def build(tiny_ckpt, root):
    init_default_scope('mmdet')
    # L_se from the first step, with every query's mask as target
    cfg = wish_cfg(tiny_ckpt, root, self_enhancement=dict(loss_weight=1.0, warmup_iters=0,
                                                          score_thr=0.0))
    # no CAM value reaches 2 after normalising to [0, 1]: only the global maximum is a peak
    cfg.model.cam_neck.peak.threshold = 2.0
    ds_cfg = cfg.train_dataloader.dataset
    ds_cfg.update(ann_file='annotations/degenerate.json', filter_cfg=None)
    ds = DATASETS.build(ds_cfg)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return ds, model.train()


def test_degenerate_labels_train_without_nan(tiny_ckpt, degenerate_root):
    ds, model = build(tiny_ckpt, degenerate_root)
    assert [ds.get_data_info(i)['label_type'] for i in range(len(ds))] == [
        'tag', 'point', 'box', 'point', 'box', 'tag']
    assert [len(ds.get_data_info(i)['instances']) for i in range(len(ds))] == [0, 0, 0, 4, 3, 0]
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    # all-empty batch; border points + thin boxes + the tag without peaks; a mix
    plans = [[0, 1, 2], [3, 4, 5], [0, 3, 4, 5], [1, 5], [2, 4]]
    np.random.seed(0)
    seen_border = seen_thin = 0
    for step, rows in enumerate(plans * 2):
        data = model.data_preprocessor(pseudo_collate([ds[i] for i in rows]), True)
        samples = data['data_samples']
        losses = model.loss(data['inputs'], samples)
        for k, v in losses.items():
            assert torch.isfinite(v).all(), (step, rows, k, v)
        for s in samples:
            if s.label_type == 'tag' and len(s.gt_tags):
                # no CAM peak above the threshold: the global maximum is the one point
                assert len(s.sam_targets) == len(s.gt_tags) == 1
            if s.label_type == 'tag' and not len(s.gt_tags):
                assert len(s.sam_targets) == 0
            if s.img_id == ds.get_data_info(3)['img_id']:
                seen_border += len(s.gt_points)
            if s.img_id == ds.get_data_info(4)['img_id']:
                seen_thin += len(s.gt_instances)
        # a class absent from the batch: the CAM loss still asks 0 for it, finitely
        present = set(torch.cat([s.gt_tags for s in samples]).tolist())
        assert len(present) < len(ds.metainfo['classes'])
        opt.zero_grad()
        sum(losses.values()).backward()
        for n, p in model.named_parameters():
            assert p.grad is None or torch.isfinite(p.grad).all(), (step, n)
        opt.step()
    # the degenerate labels did reach the model (not all cropped or dropped)
    assert seen_border > 0 and seen_thin > 0
    assert all(torch.isfinite(p).all() for p in model.parameters())
