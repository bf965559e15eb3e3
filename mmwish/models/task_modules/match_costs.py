"""WISH's matching costs (METHOD.md, "Matching"), for MMDetection's HungarianAssigner.

They sit in ``match_costs`` next to mmdet's ``ClassificationCost``; the assigner
sums the weighted (num_queries, num_gts) matrices.
"""
from typing import Optional

import torch
from mmdet.models.task_modules.assigners.match_cost import (
    BaseMatchCost,
    CrossEntropyLossCost,
    DiceCost,
)
from mmdet.registry import TASK_UTILS
from mmengine.structures import InstanceData
from torch import Tensor

from ..losses import prompt_kl_matrix


@TASK_UTILS.register_module()
class PromptKLCost(BaseMatchCost):
    """``C_prompt(i, j) = (1/2) sum_t KL(softmax(Z_j[t]) || softmax(Z_hat_i[t]))``.

    ``pred_instances.prompt_latents``: (N, P, 2, C), one latent per query and prompt
    type; ``gt_instances.latents``: (K, 2, C) SAM latents with
    ``gt_instances.prompt_types`` (K,) indexing P, so each target is compared
    with the prediction of its own type (points and boxes encode differently).
    """

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        preds = pred_instances.prompt_latents
        latents, types = gt_instances.latents, gt_instances.prompt_types
        cost = preds.new_zeros((len(preds), len(latents)))
        for t in types.unique().tolist():
            cols = (types == t).nonzero(as_tuple=True)[0]
            cost[:, cols] = prompt_kl_matrix(latents[cols], preds[:, t]).to(cost.dtype)
        return cost * self.weight


def trusted_candidates(ious: Tensor, margin: float) -> Tensor:
    """(K, 3) bool: the candidates whose predicted IoU is within ``margin`` of their
    prompt's best (the best always is), for the adaptive minimum of
    :class:`SAMMaskCost` under a weak teacher (docs/method.md, "Choices")."""
    return ious >= ious.max(dim=-1, keepdim=True).values - margin


@TASK_UTILS.register_module()
class SAMMaskCost(BaseMatchCost):
    """``C_mask(i, j) = min_k [w_ce BCE(M_hat_i, M_SAM_j^k) + w_dice Dice(M_hat_i, M_SAM_j^k)]``.

    Evaluated on the points Mask2Former's matcher samples: ``pred_instances.masks``
    (N, P) logits and ``gt_instances.candidates`` (K, 3, P) SAM candidates at the
    same points. The minimising candidate ``k*(i, j)`` is stored on the targets as
    ``gt_instances.sam_choice`` (K, N), so the loss supervises each matched query
    with the candidate that won its match (the adaptive selection). ``fixed``
    (0, 1 or 2) replaces the minimum by that candidate (the paper's ablation).
    ``iou_margin`` restricts the minimum to :func:`trusted_candidates`.

    Args:
        ce_weight (float): weight of the BCE term inside the minimum.
        dice_weight (float): weight of the Dice term inside the minimum.
        fixed (int, optional): always use this candidate.
        iou_margin (float, optional): take the minimum over the candidates whose
            predicted IoU (``gt_instances.ious``, (K, 3)) is within this margin of the
            prompt's best; None is the paper's plain minimum over all three.
        weight (float): weight of the whole cost.
    """

    def __init__(self, ce_weight: float = 5.0, dice_weight: float = 5.0,
                 fixed: Optional[int] = None, iou_margin: Optional[float] = None,
                 weight: float = 1.0):
        super().__init__(weight=weight)
        self.ce = CrossEntropyLossCost(weight=ce_weight, use_sigmoid=True)
        self.dice = DiceCost(weight=dice_weight, pred_act=True, eps=1.0)
        self.fixed = fixed
        self.iou_margin = iou_margin

    def candidate_costs(self, mask_logits: Tensor, candidates: Tensor) -> Tensor:
        """(N, P) logits x (K, 3, P) candidates -> (N, K, 3) weighted BCE + Dice."""
        k, c, p = candidates.shape
        flat = InstanceData(masks=candidates.reshape(k * c, p).float())
        pred = InstanceData(masks=mask_logits)
        cost = self.ce(pred, flat) + self.dice(pred, flat)
        return cost.reshape(len(mask_logits), k, c)

    def __call__(self, pred_instances: InstanceData, gt_instances: InstanceData,
                 img_meta: Optional[dict] = None, **kwargs) -> Tensor:
        costs = self.candidate_costs(pred_instances.masks, gt_instances.candidates)
        if self.fixed is None:
            if self.iou_margin is not None:
                if 'ious' not in gt_instances:
                    raise ValueError('SAMMaskCost(iou_margin=...) needs the teacher\'s IoU '
                                     'predictions as gt_instances.ious')
                keep = trusted_candidates(gt_instances.ious, self.iou_margin)
                costs = costs.masked_fill(~keep[None], float('inf'))
            cost, choice = costs.min(dim=-1)
        else:
            choice = torch.full(costs.shape[:2], self.fixed, dtype=torch.long,
                                device=costs.device)
            cost = costs[..., self.fixed]
        gt_instances.sam_choice = choice.T.contiguous()
        return cost * self.weight
