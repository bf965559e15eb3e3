"""WISH's head: Mask2Former's head with a prompt head and SAM-supervised weak targets."""
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmcv.ops import point_sample
from mmdet.models.dense_heads import Mask2FormerHead
from mmdet.models.utils import get_uncertain_point_coords_with_randomness
from mmdet.registry import MODELS, TASK_UTILS
from mmdet.structures import SampleList
from mmdet.utils import reduce_mean
from mmengine.structures import InstanceData
from torch import Tensor, nn

from ..task_modules import PromptKLCost, SAMMaskCost

PROMPT_POSITIONS = (None, 'mask_pooled', 'mask_box')
# One predicted 2 x C latent per prompt type; tag-derived pseudo points use 'point'.
PROMPT_TYPES = ('point', 'box')


def weak_assigner_cfg(with_prompt: bool, cls_weight: float = 2.0, prompt_weight: float = 1.0,
                      ce_weight: float = 5.0, dice_weight: float = 5.0,
                      fixed_candidate: Optional[int] = None,
                      candidate_iou_margin: Optional[float] = None) -> dict:
    """The assigner of point, box and tag images (METHOD.md, "Matching"):
    ``C = l_cls C_cls + l_prompt C_prompt + l_mask C_mask``."""
    costs = [dict(type='ClassificationCost', weight=cls_weight)]
    if with_prompt:
        costs.append(dict(type='PromptKLCost', weight=prompt_weight))
    costs.append(dict(type='SAMMaskCost', ce_weight=ce_weight, dice_weight=dice_weight,
                      fixed=fixed_candidate, iou_margin=candidate_iou_margin))
    return dict(type='HungarianAssigner', match_costs=costs)


@MODELS.register_module()
class WISHHead(Mask2FormerHead):
    """Mask2Former's head, trained from heterogeneous labels (METHOD.md).

    Adds the prompt head ``Z_hat_i = H_prompt(q_i)`` (an MLP as deep as the mask
    head, one ``2 x C`` latent per prompt type and query). Per image, the targets
    depend on its label type:

    - ``mask`` images use Mask2Former's own assigner and targets, so a dataset of
      only mask images trains exactly as ``Mask2FormerHead``;
    - point, box and tag images carry ``sam_targets`` (attached by the ``WISH``
      detector: labels, SAM latents, their prompt types and SAM's 3 candidate masks)
      and are matched by ``train_cfg.weak_assigner`` (class, prompt-KL and
      adaptive SAM-mask costs); the mask loss uses the candidate that won each match.

    Args:
        prompt_dim (int): ``C`` of the teacher's prompt tokens (256 for public SAMs).
        loss_prompt (dict, optional): ``L_prompt`` config; None removes the prompt
            head and its cost (the paper's "no prompt head" ablation).
        fixed_candidate (int, optional): supervise with this SAM candidate (0, 1, 2)
            instead of the adaptive one (the paper's ablation).
        prompt_position (str, optional): ``'mask_pooled'`` adds to the prompt head's
            input the decoder's sine positional encoding averaged over the query's
            predicted mask (:meth:`mask_pooled_position`): Mask2Former's queries carry
            content, not where they are (cross-attention values have no positional
            encoding), and a latent encodes where the prompt is. ``'mask_box'`` adds
            that and the encoding at the two corners of the predicted mask's box
            (:meth:`mask_box_position`): a box latent is its two corners' encodings.
            None is the paper's ``H_prompt(q_i)``.
        candidate_iou_margin (float, optional): the adaptive minimum only over the
            candidates whose predicted IoU is within this margin of SAM's best
            (``SAMMaskCost.iou_margin``); None is the paper's plain minimum.
        Other arguments as ``Mask2FormerHead``. ``train_cfg.weak_assigner`` defaults
        to :func:`weak_assigner_cfg` of the switches above; one given there wins.
    """

    def __init__(self, *args, prompt_dim: int = 256,
                 loss_prompt: Optional[dict] = dict(type='PromptKLLoss', loss_weight=1.0),  # noqa: B006
                 fixed_candidate: Optional[int] = None,
                 candidate_iou_margin: Optional[float] = None,
                 prompt_position: Optional[str] = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.prompt_dim = prompt_dim
        self.with_prompt = loss_prompt is not None
        if prompt_position not in PROMPT_POSITIONS:
            raise ValueError(f'prompt_position must be one of {PROMPT_POSITIONS}, not '
                             f'{prompt_position!r}')
        self.prompt_position = prompt_position if self.with_prompt else None
        if self.with_prompt:
            c = self.decoder_embed_dims
            self.prompt_embed = nn.Sequential(
                nn.Linear(c, c), nn.ReLU(inplace=True), nn.Linear(c, c), nn.ReLU(inplace=True),
                nn.Linear(c, len(PROMPT_TYPES) * 2 * prompt_dim))
            self.loss_prompt = MODELS.build(loss_prompt)
            if self.prompt_position:
                self.prompt_position_proj = nn.Linear(
                    c * (3 if self.prompt_position == 'mask_box' else 1), c)
        self._prompt_outs = None
        if self.train_cfg:
            cfg = self.train_cfg.get('weak_assigner') or weak_assigner_cfg(
                self.with_prompt, fixed_candidate=fixed_candidate,
                candidate_iou_margin=candidate_iou_margin)
            self.weak_assigner = TASK_UTILS.build(cfg)
            costs = getattr(self.weak_assigner, 'match_costs', [])
            if not any(isinstance(c, SAMMaskCost) for c in costs):
                raise ValueError('train_cfg.weak_assigner needs a SAMMaskCost: the mask loss of '
                                 'weak images uses the SAM candidate it selects')
            if not self.with_prompt and any(isinstance(c, PromptKLCost) for c in costs):
                raise ValueError('train_cfg.weak_assigner has a PromptKLCost but the head has no '
                                 'prompt head (loss_prompt=None); remove the cost too')

    # ------------------------------------------------------------------ forward
    def predict_prompt_latents(self, decoder_out: Tensor,
                               mask_pred: Optional[Tensor] = None) -> Tensor:
        """``Z_hat = H_prompt(q)`` (METHOD.md, "Model"): (B, N, len(PROMPT_TYPES), 2, C);
        with ``prompt_position``, ``q`` plus a projection of :meth:`mask_pooled_position`
        (or :meth:`mask_box_position`) of the layer's ``mask_pred``."""
        q = self.transformer_decoder.post_norm(decoder_out)
        if self.prompt_position == 'mask_pooled':
            q = q + self.prompt_position_proj(self.mask_pooled_position(mask_pred))
        elif self.prompt_position == 'mask_box':
            q = q + self.prompt_position_proj(self.mask_box_position(mask_pred))
        return self.prompt_embed(q).view(*q.shape[:2], len(PROMPT_TYPES), 2, self.prompt_dim)

    def mask_pooled_position(self, mask_pred: Tensor) -> Tensor:
        """(B, N, c): the decoder's sine positional encoding of the mask features' grid,
        averaged over each query's predicted mask (weights ``sigmoid(M_hat_i)``,
        detached, normalised to sum 1): where the query's object lies and how far it
        spreads, which its content vector does not say."""
        b, _, h, w = mask_pred.shape
        pos = self.decoder_positional_encoding(
            mask_pred.new_zeros((b, h, w), dtype=torch.bool))  # (B, c, h, w)
        weights = mask_pred.detach().float().sigmoid()
        weights = weights / weights.sum(dim=(-2, -1), keepdim=True).clamp(min=1e-6)
        return torch.einsum('bnhw,bchw->bnc', weights, pos.float()).to(mask_pred.dtype)

    def mask_box_position(self, mask_pred: Tensor) -> Tensor:
        """(B, N, 3c): :meth:`mask_pooled_position` and the decoder's sine encoding at the
        top-left and bottom-right cells of the box of each query's predicted mask
        (``sigmoid(M_hat_i) > 0.5``; its most confident cell when no cell is): where a
        box prompt's two tokens lie, which a mean over the mask only blurs."""
        b, n, h, w = mask_pred.shape
        pos = self.decoder_positional_encoding(
            mask_pred.new_zeros((b, h, w), dtype=torch.bool)).flatten(2)  # (B, c, h*w)
        logits = mask_pred.detach()
        fg = logits > 0
        top = logits.flatten(2).argmax(-1)  # (B, N)
        empty = ~fg.flatten(2).any(-1)
        cols, rows = fg.any(-2), fg.any(-1)  # (B, N, w), (B, N, h)
        x1, y1 = cols.int().argmax(-1), rows.int().argmax(-1)
        x2 = w - 1 - cols.flip(-1).int().argmax(-1)
        y2 = h - 1 - rows.flip(-1).int().argmax(-1)
        x1, x2 = (torch.where(empty, top % w, v) for v in (x1, x2))
        y1, y2 = (torch.where(empty, top // w, v) for v in (y1, y2))

        def at(y, x):  # (B, N) cells -> (B, N, c)
            return pos.gather(2, (y * w + x).unsqueeze(1).expand(-1, pos.shape[1], -1)
                              ).transpose(1, 2)

        return torch.cat([self.mask_pooled_position(mask_pred),
                          at(y1, x1).to(mask_pred.dtype), at(y2, x2).to(mask_pred.dtype)], -1)

    def _forward_head(self, decoder_out: Tensor, mask_feature: Tensor,
                      attn_mask_target_size: Tuple[int, int]) -> Tuple[Tensor]:
        outs = super()._forward_head(decoder_out, mask_feature, attn_mask_target_size)
        if self._prompt_outs is not None:
            self._prompt_outs.append(self.predict_prompt_latents(decoder_out, outs[1]))
        return outs

    def forward(self, x: List[Tensor], batch_data_samples: SampleList,
                with_prompts: bool = False) -> Tuple[List[Tensor]]:
        """Mask2Former's forward; with ``with_prompts`` also the prompt latents of every
        decoder layer (a list of None without a prompt head)."""
        self._prompt_outs = [] if with_prompts and self.with_prompt else None
        try:
            cls_preds, mask_preds = super().forward(x, batch_data_samples)
            prompts = self._prompt_outs
        finally:
            self._prompt_outs = None
        if not with_prompts:
            return cls_preds, mask_preds
        return cls_preds, mask_preds, prompts or [None] * len(cls_preds)

    # ------------------------------------------------------------------ targets
    def batch_targets(self, batch_data_samples: SampleList) -> Tuple[List[InstanceData], list]:
        """Per image, Mask2Former's targets (mask images) or its ``sam_targets``."""
        metas = [s.metainfo for s in batch_data_samples]
        targets: List[Optional[InstanceData]] = [None] * len(batch_data_samples)
        mask_rows = []
        for i, sample in enumerate(batch_data_samples):
            if 'sam_targets' in sample:
                targets[i] = sample.sam_targets
            elif sample.metainfo.get('label_type', 'mask') == 'mask':
                mask_rows.append(i)
            else:
                raise ValueError(
                    f"image {sample.metainfo.get('img_path', sample.metainfo.get('img_id'))}: "
                    f"a '{sample.label_type}' image reached WISHHead without SAM targets; "
                    "train it with the WISH detector (type='WISH'), which attaches them")
        if mask_rows:
            segs = [batch_data_samples[i].get('gt_sem_seg') for i in mask_rows]
            mask_gts = self.preprocess_gt([batch_data_samples[i].gt_instances for i in mask_rows],
                                          segs)
            for i, gt in zip(mask_rows, mask_gts):
                targets[i] = gt
        return targets, metas

    def get_targets(self, cls_scores_list: List[Tensor], mask_preds_list: List[Tensor],
                    batch_gt_instances: List[InstanceData], batch_img_metas: List[dict],
                    prompt_preds_list: Optional[List[Optional[Tensor]]] = None,
                    return_sampling_results: bool = False) -> tuple:
        """Mask2Former's ``get_targets``, with each image's prompt predictions passed on."""
        prompt_preds_list = prompt_preds_list or [None] * len(cls_scores_list)
        results = [self._get_targets_single(*args) for args in zip(
            cls_scores_list, mask_preds_list, batch_gt_instances, batch_img_metas,
            prompt_preds_list)]
        columns = tuple(map(list, zip(*results)))
        avg_factor = sum(r.avg_factor for r in columns[6])
        res = columns[:4] + (avg_factor,)
        if return_sampling_results:
            res = res + (columns[6],)
        return res + columns[7:]

    def _get_targets_single(self, cls_score: Tensor, mask_pred: Tensor,
                            gt_instances: InstanceData, img_meta: dict,
                            prompt_pred: Optional[Tensor] = None) -> tuple:
        """Mask2Former's targets for mask images, :meth:`weak_targets_single` for the
        others; both followed by per-query prompt targets (N, 2, C) and their type
        index (N,), -1 where a query has no prompt target."""
        if 'candidates' in gt_instances:
            return self.weak_targets_single(cls_score, mask_pred, gt_instances, img_meta,
                                            prompt_pred)
        out = super()._get_targets_single(cls_score, mask_pred, gt_instances, img_meta)
        types = torch.full((self.num_queries,), -1, dtype=torch.long, device=cls_score.device)
        return out + (cls_score.new_zeros((self.num_queries, 2, self.prompt_dim)), types)

    def weak_targets_single(self, cls_score: Tensor, mask_pred: Tensor,
                            gt_instances: InstanceData, img_meta: dict,
                            prompt_pred: Optional[Tensor]) -> tuple:
        """Targets of a point, box or tag image (METHOD.md, "Matching" and "Losses").

        Queries and targets are matched on the same random points as Mask2Former's
        matcher; each matched query's mask target is the SAM candidate ``k*(i, j)``
        that :class:`SAMMaskCost` chose for the pair, its prompt target SAM's latent.

        ``gt_instances``: ``labels`` (K,), ``latents`` (K, 2, C), ``prompt_types``
        (K,) indexing ``PROMPT_TYPES``, ``candidates`` (K, 3, h, w) bool.
        """
        device = cls_score.device
        labels, candidates = gt_instances.labels, gt_instances.candidates
        num_gts = len(labels)
        coords = torch.rand((1, self.num_points, 2), device=device)
        pred_points = point_sample(mask_pred.unsqueeze(1),
                                   coords.repeat(self.num_queries, 1, 1)).squeeze(1)
        if num_gts:
            cand_points = point_sample(candidates.flatten(0, 1).unsqueeze(1).float(),
                                       coords.repeat(num_gts * 3, 1, 1)).view(num_gts, 3, -1)
        else:
            cand_points = pred_points.new_zeros((0, 3, self.num_points))
        sampled_gt = InstanceData(labels=labels, candidates=cand_points,
                                  latents=gt_instances.latents,
                                  prompt_types=gt_instances.prompt_types)
        if 'ious' in gt_instances:
            sampled_gt.ious = gt_instances.ious
        sampled_pred = InstanceData(scores=cls_score, masks=pred_points)
        if prompt_pred is not None:
            sampled_pred.prompt_latents = prompt_pred
        assign_result = self.weak_assigner.assign(
            pred_instances=sampled_pred, gt_instances=sampled_gt, img_meta=img_meta)
        sampling_result = self.sampler.sample(
            assign_result=assign_result,
            pred_instances=InstanceData(scores=cls_score, masks=mask_pred),
            gt_instances=InstanceData(labels=labels, masks=candidates[:, 0]))
        pos_inds = sampling_result.pos_inds
        gt_inds = sampling_result.pos_assigned_gt_inds

        target_labels = labels.new_full((self.num_queries,), self.num_classes, dtype=torch.long)
        target_labels[pos_inds] = labels[gt_inds]
        label_weights = labels.new_ones((self.num_queries,))
        if img_meta.get('ignore_in_head'):  # e.g. a tag image before its pseudo points
            label_weights = label_weights * 0
        if len(pos_inds):
            choice = sampled_gt.sam_choice[gt_inds, pos_inds]
            mask_targets = candidates[gt_inds, choice]
        else:
            mask_targets = candidates.new_zeros((0,) + tuple(candidates.shape[-2:]))
        sampling_result.sam_choice = choice if len(pos_inds) else pos_inds  # per positive
        mask_weights = mask_pred.new_zeros((self.num_queries,))
        mask_weights[pos_inds] = 1.0
        prompt_targets = cls_score.new_zeros((self.num_queries, 2, self.prompt_dim))
        prompt_types = torch.full((self.num_queries,), -1, dtype=torch.long, device=device)
        prompt_targets[pos_inds] = gt_instances.latents[gt_inds].to(prompt_targets.dtype)
        prompt_types[pos_inds] = gt_instances.prompt_types[gt_inds].long()
        return (target_labels, label_weights, mask_targets, mask_weights, pos_inds,
                sampling_result.neg_inds, sampling_result, prompt_targets, prompt_types)

    # ------------------------------------------------------------------ losses
    def loss(self, x: Tuple[Tensor], batch_data_samples: SampleList) -> Dict[str, Tensor]:
        outs = self(x, batch_data_samples, with_prompts=True)
        targets, metas = self.batch_targets(batch_data_samples)
        return self.loss_by_feat(*outs, targets, metas)

    def loss_by_feat(self, all_cls_scores: Sequence[Tensor], all_mask_preds: Sequence[Tensor],
                     all_prompt_preds: Sequence[Optional[Tensor]],
                     batch_gt_instances: List[InstanceData],
                     batch_img_metas: List[dict]) -> Dict[str, Tensor]:
        """``L_seg`` of every decoder layer (deep supervision), named as Mask2Former's."""
        losses = dict()
        last = len(all_cls_scores) - 1
        for layer, outs in enumerate(zip(all_cls_scores, all_mask_preds, all_prompt_preds)):
            prefix = '' if layer == last else f'd{layer}.'
            names = ('loss_cls', 'loss_mask', 'loss_dice', 'loss_prompt')
            values = self._loss_by_feat_single(*outs, batch_gt_instances, batch_img_metas)
            for name, value in zip(names, values):
                if value is not None:
                    losses[prefix + name] = value
        return losses

    def _loss_by_feat_single(self, cls_scores: Tensor, mask_preds: Tensor,
                             prompt_preds: Optional[Tensor],
                             batch_gt_instances: List[InstanceData],
                             batch_img_metas: List[dict]) -> tuple:
        """``L_cls``, ``L_mask`` (BCE and Dice) and ``L_prompt`` of one decoder layer."""
        num_imgs = cls_scores.size(0)
        prompt_list = [None if prompt_preds is None else prompt_preds[i] for i in range(num_imgs)]
        (labels_list, label_weights_list, mask_targets_list, mask_weights_list, avg_factor,
         prompt_targets_list, prompt_types_list) = self.get_targets(
            list(cls_scores), list(mask_preds), batch_gt_instances, batch_img_metas,
            prompt_list)
        labels = torch.stack(labels_list).flatten(0, 1)
        label_weights = torch.stack(label_weights_list).flatten(0, 1)
        mask_weights = torch.stack(mask_weights_list)

        class_weight = cls_scores.new_tensor(self.class_weight)
        loss_cls = self.loss_cls(cls_scores.flatten(0, 1), labels, label_weights,
                                 avg_factor=(class_weight[labels] * label_weights).sum())
        num_total_masks = max(reduce_mean(cls_scores.new_tensor([avg_factor])), 1)
        loss_mask, loss_dice = self.mask_losses(mask_preds[mask_weights > 0], mask_targets_list,
                                                num_total_masks)
        loss_prompt = None
        if self.with_prompt:
            loss_prompt = self.prompt_loss(prompt_preds, torch.stack(prompt_targets_list),
                                           torch.stack(prompt_types_list))
        return loss_cls, loss_mask, loss_dice, loss_prompt

    def mask_losses(self, mask_preds: Tensor, mask_targets_list: List[Tensor],
                    num_total_masks: float) -> Tuple[Tensor, Tensor]:
        """``L_mask``: BCE and Dice on importance-sampled points, exactly as Mask2Former.

        ``mask_targets_list`` holds each image's targets of its positive queries, in
        ``mask_preds``' order: mask images' true masks and weak images' SAM
        candidates, both at the batch frame's full resolution (METHOD.md, "Frames and
        resolution"), point-sampled at the same relative coordinates.
        """
        if mask_preds.shape[0] == 0:
            return mask_preds.sum(), mask_preds.sum()
        with torch.no_grad():
            coords = get_uncertain_point_coords_with_randomness(
                mask_preds.unsqueeze(1), None, self.num_points, self.oversample_ratio,
                self.importance_sample_ratio)
            point_targets, start = [], 0
            for targets in mask_targets_list:
                if len(targets):
                    point_targets.append(point_sample(targets.unsqueeze(1).float(),
                                                      coords[start:start + len(targets)]))
                start += len(targets)
            point_targets = torch.cat(point_targets).squeeze(1)
        point_preds = point_sample(mask_preds.unsqueeze(1), coords).squeeze(1)
        loss_dice = self.loss_dice(point_preds, point_targets, avg_factor=num_total_masks)
        loss_mask = self.loss_mask(point_preds.reshape(-1), point_targets.reshape(-1),
                                   avg_factor=num_total_masks * self.num_points)
        return loss_mask, loss_dice

    def prompt_loss(self, prompt_preds: Tensor, prompt_targets: Tensor,
                    prompt_types: Tensor) -> Tensor:
        """``L_prompt = KL(softmax(Z_j) || softmax(Z_hat_i))`` over matched pairs, each
        prediction taken for its target's prompt type; averaged over the batch's
        prompt targets across ranks. (B, N, T, 2, C) preds, (B, N, 2, C) targets,
        (B, N) types (-1: none)."""
        valid = prompt_types >= 0
        num = max(reduce_mean(prompt_preds.new_tensor([float(valid.sum())])), 1)
        types = prompt_types[valid]
        preds = prompt_preds[valid][torch.arange(len(types), device=types.device), types]
        if len(preds) == 0:  # keep the head in the graph (DDP) with a zero loss
            return prompt_preds.sum() * 0
        return self.loss_prompt(preds, prompt_targets[valid], avg_factor=num)
