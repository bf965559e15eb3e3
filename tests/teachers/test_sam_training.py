import numpy as np
import torch

from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers.sam_builder import build_sam_model
from mmwish.teachers.sam_training import (
    SHAPES_SAM_ARCH,
    SAMTrainConfig,
    decode,
    evaluate_sam,
    sample_prompts,
    train_sam,
)
from tests.conftest import TINY


def test_evaluate_sam_reports_pick_oracle_and_each_candidate():
    torch.manual_seed(0)
    sam = build_sam_model('custom', **SHAPES_SAM_ARCH).eval()
    with torch.no_grad():
        out = evaluate_sam(sam, DEFAULT_CLASSES, num_images=2)
    assert out['instances'] > 0
    for kind in ('point', 'box'):
        cands = [out[f'miou_{kind}_candidate{k}'] for k in range(3)]
        assert all(0 <= v <= 1 for v in cands + [out[f'miou_{kind}']])
        # per instance the oracle is the best of the 3, so on average too
        assert out[f'miou_{kind}_oracle'] >= max(cands) - 1e-9
        assert out[f'miou_{kind}'] <= out[f'miou_{kind}_oracle'] + 1e-9
        # a hit at 0.5:0.95 needs IoU >= 0.5, so the share cannot pass mean IoU / 0.5
        assert 0 <= out[f'hits_{kind}_coco'] <= min(1.0, out[f'miou_{kind}'] / 0.5 + 1e-9)


def test_training_prompts_are_the_teachers_tokens(teacher):
    """The small SAM learns on the very tokens the teacher gives it in use: a point and
    SAM's padding token, a box's two corners (it once trained on three tokens and was
    used with two, which cost box prompts 0.2 mIoU)."""
    torch.manual_seed(0)
    sam = teacher.sam
    mask = torch.zeros(64, 64, dtype=torch.bool)
    mask[10:30, 20:45] = True
    rng = np.random.default_rng(0)
    points, boxes, order = sample_prompts(rng, [mask, mask], ['box', 'point'], 0.0)
    assert order == [1, 0]  # points first
    # a point is a pixel centre of the mask; the box spans the mask's pixels exactly
    x, y = points[0].tolist()
    assert mask[int(y), int(x)] and x % 1 == 0.5 and y % 1 == 0.5
    assert boxes[0].tolist() == [20.0, 10.0, 45.0, 30.0]
    embedding = torch.randn(1, TINY['prompt_embed_dim'], 8, 8)
    with torch.no_grad():
        low_res, iou = decode(sam, embedding, points, boxes)
        t_low_res, t_iou = teacher.decode(embedding, (64, 64), points=points, boxes=boxes)
    assert low_res.shape == (2, 3, 32, 32)
    torch.testing.assert_close(low_res, t_low_res)
    torch.testing.assert_close(iou, t_iou)
    tokens = teacher.prompt_latents(boxes=boxes, frame_hw=(64, 64))
    assert tokens.shape == (1, 2, TINY['prompt_embed_dim'])


def test_decoder_only_training_keeps_the_encoders(tmp_path):
    torch.manual_seed(0)
    init = build_sam_model('custom', **SHAPES_SAM_ARCH).state_dict()
    cfg = SAMTrainConfig(iters=2, batch_size=1, prompts_per_image=2, warmup=1)
    sam = train_sam(cfg, log=lambda *a: None, init=init, decoder_only=True)
    after = sam.state_dict()
    changed = {k.split('.')[0] for k in init if not torch.equal(init[k], after[k])}
    assert changed == {'mask_decoder'}
