import torch
from mmdet.registry import TASK_UTILS
from mmengine.registry import init_default_scope
from mmengine.structures import InstanceData

import mmwish  # noqa: F401
from mmwish.models.losses import prompt_kl

init_default_scope('mmdet')


def test_prompt_cost_compares_each_target_with_its_own_type():
    torch.manual_seed(0)
    preds = torch.randn(3, 2, 2, 4)     # 3 queries x (point, box) latents
    latents = torch.randn(2, 2, 4)
    types = torch.tensor([1, 0])        # target 0 is a box, target 1 a point
    cost = TASK_UTILS.build(dict(type='PromptKLCost', weight=2.0))(
        InstanceData(prompt_latents=preds), InstanceData(latents=latents, prompt_types=types))
    for i in range(3):
        for j in range(2):
            expected = 2.0 * prompt_kl(latents[j], preds[i, types[j]])
            torch.testing.assert_close(cost[i, j], expected)


def bce(logits, target):
    p = logits.sigmoid()
    return -(target * p.log() + (1 - target) * (1 - p).log()).mean()


def dice(logits, target):
    p = logits.sigmoid()
    return 1 - (2 * (p * target).sum() + 1) / (p.sum() + target.sum() + 1)


def test_sam_mask_cost_takes_the_best_candidate_and_remembers_it():
    logits = torch.tensor([[4.0, 4.0, -4.0, -4.0],     # query 0 covers points 0, 1
                           [-4.0, -4.0, 4.0, 4.0]])    # query 1 covers points 2, 3
    candidates = torch.tensor([[[0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]]], dtype=torch.float)
    cost_fn = TASK_UTILS.build(dict(type='SAMMaskCost', ce_weight=5.0, dice_weight=5.0))
    gt = InstanceData(candidates=candidates)
    cost = cost_fn(InstanceData(masks=logits), gt)
    by_hand = torch.tensor([[[5 * bce(logits[i], c) + 5 * dice(logits[i], c)
                              for c in candidates[0]]] for i in range(2)])
    torch.testing.assert_close(cost, by_hand.min(-1).values, rtol=1e-4, atol=1e-4)
    assert gt.sam_choice.tolist() == [[1, 0]]   # query 0 -> candidate 1, query 1 -> 0
    # the fixed-candidate ablation
    fixed = TASK_UTILS.build(dict(type='SAMMaskCost', fixed=2))
    gt2 = InstanceData(candidates=candidates)
    torch.testing.assert_close(fixed(InstanceData(masks=logits), gt2), by_hand[..., 2],
                               rtol=1e-4, atol=1e-4)
    assert gt2.sam_choice.tolist() == [[2, 2]]


def test_iou_margin_limits_the_minimum_to_trusted_candidates():
    """With ``iou_margin`` the minimum runs over the candidates whose predicted IoU is
    within the margin of the prompt's best: query 0 fits candidate 1 best, but SAM
    scores it 0.5 against 0.9, so with a margin of 0.1 it takes the best it may."""
    logits = torch.tensor([[4.0, 4.0, -4.0, -4.0], [-4.0, -4.0, 4.0, 4.0]])
    candidates = torch.tensor([[[0, 0, 1, 1], [1, 1, 0, 0], [1, 1, 1, 1]]], dtype=torch.float)
    ious = torch.tensor([[0.9, 0.5, 0.85]])
    by_hand = torch.tensor([[[5 * bce(logits[i], c) + 5 * dice(logits[i], c)
                              for c in candidates[0]]] for i in range(2)])
    plain = InstanceData(candidates=candidates, ious=ious)
    TASK_UTILS.build(dict(type='SAMMaskCost'))(InstanceData(masks=logits), plain)
    assert plain.sam_choice.tolist() == [[1, 0]]  # the paper's minimum ignores the scores
    gt = InstanceData(candidates=candidates, ious=ious)
    cost = TASK_UTILS.build(dict(type='SAMMaskCost', iou_margin=0.1))(
        InstanceData(masks=logits), gt)
    # candidates 0 and 2 are trusted (0.9 and 0.85 >= 0.9 - 0.1), candidate 1 is not
    expected = by_hand[..., [0, 2]].min(-1)
    assert gt.sam_choice.tolist() == [[[0, 2][k] for k in expected.indices[:, 0].tolist()]]
    assert gt.sam_choice[0, 0] != 1
    torch.testing.assert_close(cost, expected.values, rtol=1e-4, atol=1e-4)
    # a margin of 0 keeps the best-scored candidate only, for every query
    gt0 = InstanceData(candidates=candidates, ious=ious)
    TASK_UTILS.build(dict(type='SAMMaskCost', iou_margin=0.0))(InstanceData(masks=logits), gt0)
    assert gt0.sam_choice.tolist() == [[0, 0]]


def test_with_mmdets_hungarian_assigner():
    """ClassificationCost + PromptKLCost + SAMMaskCost in mmdet's assigner."""
    torch.manual_seed(0)
    latents = torch.randn(2, 2, 8)
    cands = (torch.rand(2, 3, 16) > 0.5).float()
    # query 2 predicts target 0 (latent, class, candidate 2); query 0 predicts target 1
    preds = torch.randn(3, 2, 2, 8)
    preds[2, 0] = latents[0] * 5
    preds[0, 0] = latents[1] * 5
    mask_logits = torch.randn(3, 16)
    mask_logits[2] = (cands[0, 2] * 2 - 1) * 8
    mask_logits[0] = (cands[1, 0] * 2 - 1) * 8
    scores = torch.zeros(3, 4)
    scores[2, 1], scores[0, 3] = 8, 8
    assigner = TASK_UTILS.build(dict(type='HungarianAssigner', match_costs=[
        dict(type='ClassificationCost', weight=2.0), dict(type='PromptKLCost', weight=1.0),
        dict(type='SAMMaskCost', weight=1.0)]))
    gt = InstanceData(labels=torch.tensor([1, 3]), latents=latents * 5,
                      prompt_types=torch.tensor([0, 0]), candidates=cands)
    result = assigner.assign(InstanceData(scores=scores, prompt_latents=preds, masks=mask_logits),
                             gt, img_meta={})
    assert result.gt_inds.tolist() == [2, 0, 1]
    assert gt.sam_choice[0, 2] == 2 and gt.sam_choice[1, 0] == 0
