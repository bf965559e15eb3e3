"""The WISH detector on generated shapes with a tiny random SAM, on the CPU."""
import json
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.registry import init_default_scope

from mmwish.datasets.converters.weak_budget import convert_to_weak
from mmwish.datasets.synthetic_shapes import ShapesConfig, generate
from mmwish.models.detectors.wish import dedupe_pseudo_targets
from tests.conftest import REPO, TINY

CONFIG = osp.join(REPO, 'configs', 'wish', 'wish_r18_tiny_shapes_hetero.py')
TYPES = ('tag', 'point', 'box', 'mask')


@pytest.fixture(scope='module')
def hetero_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('wish_shapes')
    generate(str(root), ShapesConfig(seed=4, num_train=8, num_val=2))
    with open(root / 'annotations' / 'instances_train.json') as f:
        coco = json.load(f)
    weak, _ = convert_to_weak(coco, {t: 2 for t in TYPES}, seed=0)
    with open(root / 'annotations' / 'instances_train_hetero.json', 'w') as f:
        json.dump(weak, f)
    return root


@pytest.fixture(scope='module', autouse=True)
def mmdet_scope():
    init_default_scope('mmdet')


def wish_cfg(tiny_ckpt, hetero_root, **model):
    cfg = Config.fromfile(CONFIG)
    cfg.model.teacher.update(checkpoint=tiny_ckpt, arch=TINY)
    cfg.model.panoptic_head.prompt_dim = TINY['prompt_embed_dim']
    cfg.model.pseudo_point_warmup = 0  # tag images get pseudo points from the first step
    cfg.model.update(model)
    cfg.train_dataloader.dataset.data_root = str(hetero_root) + '/'
    return cfg


def batches(cfg, size=4, seed=0):
    """Batches of the training pipeline with every label type in each."""
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    by_type = {t: [i for i in range(len(ds)) if ds.get_data_info(i)['label_type'] == t]
               for t in TYPES}
    assert all(len(v) == 2 for v in by_type.values())
    np.random.seed(seed)
    while True:
        for k in range(2):
            yield pseudo_collate([ds[by_type[t][k]] for t in TYPES][:size])


@pytest.fixture(scope='module')
def built(tiny_ckpt, hetero_root):
    cfg = wish_cfg(tiny_ckpt, hetero_root)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    return cfg, model


def test_loss_terms_and_where_gradients_go(built):
    cfg, model = built
    model.train()
    data = model.data_preprocessor(next(batches(cfg)), True)
    losses = model.loss(data['inputs'], data['data_samples'])
    for key in ('loss_cls', 'loss_mask', 'loss_dice', 'loss_prompt', 'loss_cam', 'loss_se',
                'd0.loss_prompt'):
        assert key in losses and torch.isfinite(losses[key]), key
    assert losses['loss_prompt'] > 0 and losses['loss_cam'] > 0
    kinds = [s.label_type for s in data['data_samples']]
    assert kinds == list(TYPES)
    for sample in data['data_samples'][:3]:  # tag (pseudo points), point, box
        t = sample.sam_targets
        assert len(t) > 0 and t.candidates.shape[1:] == (3, 128, 128)  # the batch frame
        assert t.latents.shape[1:] == (2, TINY['prompt_embed_dim'])
    tag = data['data_samples'][0]
    assert set(tag.sam_targets.labels.tolist()) == set(tag.gt_tags.tolist())
    assert (tag.sam_targets.prompt_types == 0).all()  # pseudo points use the point type
    assert (data['data_samples'][2].sam_targets.prompt_types == 1).all()

    model.zero_grad()
    sum(losses.values()).backward()
    assert model.panoptic_head.prompt_embed[-1].weight.grad.abs().sum() > 0
    assert model.cam_neck.conv.weight.grad.abs().sum() > 0
    sam = model.teacher.sam
    assert not any(p.requires_grad or p.grad is not None for p in sam.parameters())
    assert not any(part in n for n in model.state_dict()
                   for part in ('teacher', 'image_encoder', 'prompt_encoder', 'mask_decoder'))


def test_self_enhancement_after_warmup(built):
    cfg, model = built
    model.train()
    hub = MessageHub.get_current_instance()
    data = model.data_preprocessor(next(batches(cfg)), True)
    try:
        hub.update_info('iter', 0)
        # warm-up: 500 iterations
        assert model.loss(data['inputs'], data['data_samples'])['loss_se'].item() == 0
        hub.update_info('iter', 500)
        model.self_enhancement = dict(model.self_enhancement, score_thr=0.0)
        model.zero_grad()
        loss_se = model.loss(data['inputs'], data['data_samples'])['loss_se']
        assert loss_se > 0
        loss_se.backward()
        assert model.cam_neck.conv.weight.grad.abs().sum() > 0
        assert model.panoptic_head.mask_embed[-1].weight.grad is None  # targets are detached
    finally:
        hub.update_info('iter', 0)
        model.self_enhancement = dict(model.self_enhancement, score_thr=0.5)


def test_short_training_lowers_the_loss(tiny_ckpt, hetero_root):
    cfg = wish_cfg(tiny_ckpt, hetero_root)
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    model.init_weights()
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    stream = batches(cfg)
    fixed = [tuple(model.data_preprocessor(next(stream), True).values()) for _ in range(2)]
    totals = []
    for step in range(30):
        losses = model.loss(*fixed[step % 2])
        total = sum(losses.values())
        assert all(torch.isfinite(v) for v in losses.values()), (step, losses)
        opt.zero_grad()
        total.backward()
        opt.step()
        totals.append(total.item())
    first, last = np.mean(totals[:4]), np.mean(totals[-4:])
    assert last < 0.8 * first, totals


def test_sam_decoder_inference_and_plain_predict(built, tiny_ckpt, hetero_root):
    cfg, model = built
    model.eval()
    data = model.data_preprocessor(next(batches(cfg, size=2)), False)
    for s in data['data_samples']:
        s.set_metainfo(dict(scale_factor=(1.0, 1.0)))
    with torch.no_grad():
        plain = model.predict(data['inputs'], [s.clone() for s in data['data_samples']])
        model.sam_decoder_inference = 'box'
        try:
            sam = model.predict(data['inputs'], [s.clone() for s in data['data_samples']])
            model.restore_latent_means = False
            raw = model.predict(data['inputs'], [s.clone() for s in data['data_samples']])
        finally:
            model.sam_decoder_inference = None
            model.restore_latent_means = True
    assert not torch.equal(sam[0].pred_instances.masks, raw[0].pred_instances.masks)
    for a, b in zip(plain, sam):
        assert a.pred_instances.masks.shape == b.pred_instances.masks.shape
        # same queries and classes (chosen from class scores), other masks
        assert torch.equal(a.pred_instances.labels, b.pred_instances.labels)
        assert not torch.equal(a.pred_instances.masks, b.pred_instances.masks)


def test_restore_token_means_keeps_the_softmax():
    """L_prompt cannot see a token's level; the restored latent has the teacher's
    level and the same softmax, hence the same L_prompt."""
    from mmwish.models.detectors.wish import restore_token_means
    from mmwish.models.losses.prompt_kl import prompt_kl
    torch.manual_seed(0)
    target = torch.randn(5, 2, 16)
    pred = target + torch.tensor([3.0, -7.0])[:, None]  # same softmax, other level
    assert prompt_kl(target, pred).abs().max() < 1e-5
    restored = restore_token_means(pred, target.mean(dim=(0, 2)))
    torch.testing.assert_close(torch.softmax(restored, -1), torch.softmax(pred, -1))
    torch.testing.assert_close(restored.mean(dim=(0, 2)), target.mean(dim=(0, 2)))
    means = torch.tensor([0.25, -1.5])
    torch.testing.assert_close(restore_token_means(pred, means).mean(dim=-1),
                               means.expand(5, 2))


def test_clear_errors(tiny_ckpt, hetero_root):
    cfg = wish_cfg(tiny_ckpt, hetero_root)
    cfg.model.panoptic_head.prompt_dim = 256
    model = MODELS.build(cfg.model)
    with pytest.raises(ValueError, match=r'tiny_sam\.pth has 32-wide prompt tokens.*256'):
        model.teacher  # noqa: B018
    cfg = wish_cfg(tiny_ckpt, hetero_root, cam_neck=None, self_enhancement=None)
    model = MODELS.build(cfg.model).train()
    data = model.data_preprocessor(next(batches(cfg)), True)
    with pytest.raises(ValueError, match='tag images need model.cam_neck'):
        model.loss(data['inputs'], data['data_samples'])
    with pytest.raises(ValueError, match='sam_decoder_inference must be'):
        MODELS.build(wish_cfg(tiny_ckpt, hetero_root, sam_decoder_inference='mask').model)


def test_non_finite_loss_names_iteration_term_and_images(tiny_ckpt, hetero_root):
    from mmwish.models.utils import NonFiniteLossError
    cfg = wish_cfg(tiny_ckpt, hetero_root)
    model = MODELS.build(cfg.model).train()
    data = model.data_preprocessor(next(batches(cfg)), True)
    with torch.no_grad():
        model.cam_neck.conv.bias.fill_(float('nan'))  # NaN CAMs: L_cam is NaN
    hub = MessageHub.get_current_instance()
    hub.update_info('iter', 41)
    try:
        with pytest.raises(NonFiniteLossError) as err:
            model.loss(data['inputs'], data['data_samples'])
    finally:
        hub.update_info('iter', 0)
    msg = str(err.value)
    assert 'iteration 42: loss_cam=nan' in msg and 'loss_cls' not in msg
    for s in data['data_samples']:
        assert f"{s.img_id} ({s.img_path}, {s.label_type})" in msg


def test_tag_images_train_only_the_cams_during_the_pseudo_point_warmup(built):
    cfg, model = built
    model.train()
    data = model.data_preprocessor(next(batches(cfg)), True)
    hub = MessageHub.get_current_instance()
    assert Config.fromfile(CONFIG).model.pseudo_point_warmup == 300
    model.pseudo_point_warmup = 300
    try:
        hub.update_info('iter', 299)
        model.loss(data['inputs'], data['data_samples'])
        tag = data['data_samples'][0]
        assert tag.label_type == 'tag' and tag.ignore_in_head and len(tag.sam_targets) == 0
        head = model.panoptic_head
        cls = torch.zeros(head.num_queries, head.num_classes + 1)
        out = head._get_targets_single(cls, torch.zeros(head.num_queries, 8, 8),
                                       tag.sam_targets, tag.metainfo, None)
        assert out[1].sum() == 0 and out[3].sum() == 0  # no class and no mask loss
        hub.update_info('iter', 300)
        data = model.data_preprocessor(next(batches(cfg)), True)
        model.loss(data['inputs'], data['data_samples'])
        assert len(data['data_samples'][0].sam_targets) > 0
    finally:
        hub.update_info('iter', 0)
        model.pseudo_point_warmup = 0


def test_pseudo_instances_deduplicated_by_class_and_mask():
    """Two peaks of one class on one object give one target; the same mask under
    another class, and a second object of the class, are kept."""
    masks = torch.zeros(4, 3, 8, 8, dtype=torch.bool)
    masks[0, 1, :4, :4] = True      # peak 0: object A (its best candidate is 1)
    masks[1, 0, :4, :3] = True      # peak 1, same class: A again (IoU 0.75)
    masks[2, 2, :4, :4] = True      # peak 2, another class: A
    masks[3, 0, 5:, 5:] = True      # peak 3, same class as 0: object B
    iou = torch.tensor([[0.1, 0.9, 0.2], [0.8, 0.1, 0.1], [0.1, 0.1, 0.7], [0.9, 0.1, 0.1]])
    out = dict(type='point', labels=torch.tensor([2, 2, 4, 2]), latents=torch.randn(4, 2, 8),
               masks=masks, iou=iou)
    kept = dedupe_pseudo_targets(out, iou_thr=0.5)
    assert kept['labels'].tolist() == [2, 4, 2]
    assert torch.equal(kept['latents'], out['latents'][[0, 2, 3]])
    assert torch.equal(kept['masks'], masks[[0, 2, 3]])
    assert dedupe_pseudo_targets(out, iou_thr=0.8)['labels'].tolist() == [2, 2, 4, 2]
