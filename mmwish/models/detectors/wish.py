"""The WISH detector: Mask2Former taught by a frozen SAM and a CAM branch."""
from typing import Dict, List, Optional

import torch
from mmdet.models.detectors import Mask2Former
from mmdet.registry import MODELS
from mmdet.structures import SampleList
from mmengine.logging import MessageHub
from mmengine.structures import InstanceData
from torch import Tensor

from ...teachers.sam_cache import SAMCache
from ..dense_heads.wish_head import PROMPT_TYPES
from ..necks.cam_neck import self_enhancement_loss, self_enhancement_target
from ..utils import check_finite_losses


def restore_token_means(latents: Tensor, means: Tensor) -> Tensor:
    """Shift each predicted token ``Z_hat[t]`` (..., 2, C) to the channel mean
    ``means[t]`` of SAM's own tokens.

    ``L_prompt`` (METHOD.md, "Losses") is a KL between softmaxes over the ``C``
    channels, blind to a constant added to a token: the prompt head learns each
    token's shape, not its level. SAM's decoder is not blind to it, so decoding
    ``Z_hat`` (the paper's ablation b) first restores the level SAM expects.
    """
    return latents - latents.mean(dim=-1, keepdim=True) + means.to(latents)[:, None]


def sam_target_instances(out: dict) -> InstanceData:
    """:class:`WISHHead`'s weak targets of one image from the teacher's ``targets``."""
    labels = out['labels']
    return InstanceData(
        labels=labels.long(), latents=out['latents'], candidates=out['masks'],
        ious=out['iou'].float(),
        prompt_types=torch.full((len(labels),), PROMPT_TYPES.index(out['type']),
                                dtype=torch.long, device=labels.device))


def dedupe_pseudo_targets(out: dict, iou_thr: float) -> dict:
    """One object, one target: of a tag image's pseudo points (strongest first within
    a class), drop each whose chosen candidate (SAM's best-scored) overlaps one kept
    for the same class with mask IoU above ``iou_thr`` (two peaks on one object would
    train two queries to predict it)."""
    n = len(out['labels'])
    if n < 2:
        return out
    best = out['masks'][torch.arange(n), out['iou'].argmax(dim=1)].flatten(1).float()
    inter = best @ best.T
    area = best.sum(1)
    iou = inter / (area[:, None] + area[None] - inter).clamp(min=1)
    keep = []
    for i in range(n):
        if not any(out['labels'][j] == out['labels'][i] and iou[i, j] > iou_thr for j in keep):
            keep.append(i)
    rows = torch.tensor(keep, dtype=torch.long, device=out['labels'].device)
    return dict(out, **{k: out[k][rows] for k in ('labels', 'latents', 'masks', 'iou')})


@MODELS.register_module()
class WISH(Mask2Former):
    """Mask2Former trained from tags, points, boxes and masks (METHOD.md, "Total").

    ``loss()`` runs the backbone once; the CAM branch reads its features (``L_cam``
    on every image, pseudo points for tag images); the SAM teacher turns each
    point, box and pseudo point into a prompt latent and 3 candidate masks, attached
    to the sample as ``sam_targets`` for :class:`WISHHead`; after the warm-up the
    head's last-layer masks supervise the CAMs (``L_se``). ``predict()`` is
    Mask2Former's unless ``sam_decoder_inference`` is set.

    Args:
        cam_neck (dict, optional): :class:`CAMNeck` config; needed for tag images.
        teacher (dict, optional): :class:`SAMTeacher` config; built on the first
            training step, so testing and inference need no SAM checkpoint.
        sam_cache (str, optional): root of a cache made by ``tools/sam_cache.py``
            with the teacher's checkpoint; None runs SAM's encoder online.
        loss_cam_weight (float): ``l_cam``.
        self_enhancement (dict, optional): ``loss_weight`` (``l_se``),
            ``warmup_iters`` and ``score_thr`` (``tau_se``); None switches it off.
        pseudo_point_warmup (int): for this many iterations tag images train the CAMs
            only (their peaks of untrained CAMs would be random points); after it,
            their CAM peaks become pseudo points.
        sam_decoder_inference (str, optional): ``'point'`` or ``'box'``: decode test
            masks with SAM's frozen mask decoder from the predicted latents of that
            prompt type (the paper's ablation b); None is plain Mask2Former.
        restore_latent_means (bool): with ``sam_decoder_inference``, shift each
            predicted token to the channel mean of SAM's tokens before decoding
            (:func:`restore_token_means`); False feeds ``Z_hat`` as predicted.
        pseudo_nms_iou (float, optional): de-duplicate a tag image's pseudo instances
            (:func:`dedupe_pseudo_targets`); None keeps every CAM peak (METHOD.md).
        Other arguments as ``Mask2Former``.
    """

    def __init__(self, *args, cam_neck: Optional[dict] = None, teacher: Optional[dict] = None,
                 sam_cache: Optional[str] = None, loss_cam_weight: float = 1.0,
                 self_enhancement: Optional[dict] = dict(  # noqa: B006 (read only)
                     loss_weight=1.0, warmup_iters=1000, score_thr=0.5),
                 pseudo_point_warmup: int = 0,
                 sam_decoder_inference: Optional[str] = None,
                 restore_latent_means: bool = True, pseudo_nms_iou: Optional[float] = None,
                 **kwargs):
        super().__init__(*args, **kwargs)
        self.cam_neck = MODELS.build(cam_neck) if cam_neck else None
        self.teacher_cfg = teacher
        self.sam_cache_root = sam_cache
        self._teacher = {}  # built lazily, outside the module tree
        self.loss_cam_weight = loss_cam_weight
        self.self_enhancement = self_enhancement
        self.pseudo_point_warmup = pseudo_point_warmup
        if self_enhancement is not None and self.cam_neck is None:
            raise ValueError('self_enhancement needs a cam_neck; set self_enhancement=None')
        if sam_decoder_inference not in (None,) + PROMPT_TYPES:
            raise ValueError(f'sam_decoder_inference must be None or one of {PROMPT_TYPES}, '
                             f'not {sam_decoder_inference!r}')
        if sam_decoder_inference and not self.panoptic_head.with_prompt:
            raise ValueError('sam_decoder_inference decodes predicted prompt latents; the head '
                             'has no prompt head (loss_prompt=None)')
        self.sam_decoder_inference = sam_decoder_inference
        self.restore_latent_means = restore_latent_means
        self.pseudo_nms_iou = pseudo_nms_iou

    @property
    def teacher(self):
        if 'teacher' not in self._teacher:
            if not self.teacher_cfg:
                raise ValueError('WISH needs model.teacher (a SAMTeacher config with the SAM '
                                 'checkpoint) to train on point, box and tag images')
            with torch.random.fork_rng(devices=[]):  # leave the training's RNG stream alone
                teacher = MODELS.build(self.teacher_cfg)
            width = teacher.sam.prompt_encoder.embed_dim
            if width != self.panoptic_head.prompt_dim:
                raise ValueError(
                    f'the SAM checkpoint {teacher.checkpoint} has {width}-wide prompt tokens '
                    f'but model.panoptic_head.prompt_dim is {self.panoptic_head.prompt_dim}; '
                    'set prompt_dim to the checkpoint\'s width')
            self._teacher['teacher'] = teacher
            if self.sam_cache_root and not teacher.needs_embedding:
                raise ValueError(f'model.teacher ({type(teacher).__name__}) reads no SAM cache; '
                                 'set model.sam_cache=None')
            self._teacher['cache'] = SAMCache(self.sam_cache_root, teacher.checkpoint_hash) \
                if self.sam_cache_root else None
        return self._teacher['teacher']

    @property
    def sam_cache(self) -> Optional[SAMCache]:
        self.teacher  # noqa: B018 (builds the cache with the teacher)
        return self._teacher['cache']

    def _embeddings(self, batch_inputs: Tensor, rows: List[int]) -> Dict[int, Tensor]:
        """SAM's encoder on the images that need it online (no cache)."""
        if not rows or self.sam_cache is not None or not self.teacher.needs_embedding:
            return {}
        pre = self.data_preprocessor
        emb = self.teacher.image_embeddings(batch_inputs[rows], pre.mean.flatten().tolist(),
                                            pre.std.flatten().tolist())
        return {r: emb[n:n + 1] for n, r in enumerate(rows)}

    def attach_sam_targets(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                           pseudo_points: Dict[int, tuple]) -> None:
        """``sam_targets`` (labels, latents, prompt_types, candidates) on every point,
        box and tag image, in the batch frame at its full resolution; mask images keep
        their masks."""
        batch_hw = tuple(batch_inputs.shape[-2:])
        weak = [i for i, s in enumerate(batch_data_samples)
                if s.metainfo.get('label_type', 'mask') != 'mask'
                and not (s.label_type == 'tag' and pseudo_points.get(i) is None)]
        for i, sample in enumerate(batch_data_samples):
            if sample.metainfo.get('label_type') == 'tag' and pseudo_points.get(i) is None:
                self._ignore_in_head(sample, batch_hw)
        embeddings = self._embeddings(batch_inputs, weak)
        for i in weak:
            sample = batch_data_samples[i]
            out = self.teacher.targets(sample, batch_hw, cache=self.sam_cache,
                                       embedding=embeddings.get(i),
                                       pseudo_points=pseudo_points.get(i))
            if sample.label_type == 'tag' and self.pseudo_nms_iou is not None:
                out = dedupe_pseudo_targets(out, self.pseudo_nms_iou)
            sample.sam_targets = sam_target_instances(out)

    def _ignore_in_head(self, sample, batch_hw) -> None:
        """A tag image during the pseudo-point warm-up: no target, no class loss."""
        dim = self.panoptic_head.prompt_dim
        device = sample.gt_tags.device
        sample.sam_targets = InstanceData(
            labels=torch.zeros(0, dtype=torch.long, device=device),
            latents=torch.zeros((0, 2, dim), device=device),
            candidates=torch.zeros((0, 3) + tuple(batch_hw), dtype=torch.bool, device=device),
            ious=torch.zeros((0, 3), device=device),
            prompt_types=torch.zeros(0, dtype=torch.long, device=device))
        sample.set_metainfo(dict(ignore_in_head=True))

    def _iter(self) -> int:
        return MessageHub.get_current_instance().get_info('iter', 0)

    def pseudo_points(self, cams: Optional[Tensor], batch_data_samples: SampleList,
                      warmup: bool = True) -> dict:
        """CAM peaks of the tag images, as points inside each image (METHOD.md, "Tags to
        points"); None for each tag image during ``pseudo_point_warmup`` (unless
        ``warmup`` is False)."""
        rows = [i for i, s in enumerate(batch_data_samples)
                if s.metainfo.get('label_type') == 'tag']
        if rows and cams is None:
            raise ValueError('tag images need model.cam_neck (their pseudo points come from '
                             'its CAM peaks)')
        if warmup and self._iter() < self.pseudo_point_warmup:
            return {i: None for i in rows}
        out = {}
        for i in rows:
            sample = batch_data_samples[i]
            points, labels = self.cam_neck.pseudo_points(cams[i:i + 1], [sample.gt_tags])[0]
            h, w = sample.img_shape[:2]
            points = torch.stack([points[:, 0].clamp(0, w - 0.5), points[:, 1].clamp(0, h - 0.5)],
                                 dim=1)
            out[i] = (points, labels)
        return out

    def se_active(self) -> bool:
        """``L_se`` is on after ``warmup_iters`` training iterations (the runner's
        iteration, so a resumed run resumes the warm-up too)."""
        if self.self_enhancement is None:
            return False
        return self._iter() >= self.self_enhancement.get('warmup_iters', 0)

    def self_enhancement_loss(self, cams: Tensor, cls_scores: Tensor, mask_preds: Tensor,
                              batch_data_samples: SampleList) -> Tensor:
        """``L_se`` from the last decoder layer's predictions, averaged over the images
        with at least one target (0 when none has)."""
        probs = cls_scores.softmax(-1)[..., :-1]
        scores, labels = probs.max(-1)
        thr = self.self_enhancement.get('score_thr', 0.5)
        total, count = cams.sum() * 0, 0
        for b, sample in enumerate(batch_data_samples):
            target, valid = self_enhancement_target(mask_preds[b], scores[b], labels[b],
                                                    sample.gt_tags, cams.shape[-2:], thr)
            if bool(valid.any()):
                total = total + self_enhancement_loss(cams[b], sample.gt_tags, target, valid)
                count += 1
        return total / max(count, 1)

    def loss(self, batch_inputs: Tensor, batch_data_samples: SampleList) -> Dict[str, Tensor]:
        """``L = L_seg + l_cam L_cam + l_se L_se`` (METHOD.md, "Total")."""
        feats = self.backbone(batch_inputs)
        x = self.neck(feats) if self.with_neck else feats
        losses = dict()
        cams = None
        if self.cam_neck is not None:
            cams = self.cam_neck(feats)
            tags = [s.gt_tags for s in batch_data_samples]
            losses['loss_cam'] = self.loss_cam_weight * self.cam_neck.loss(cams, tags)
        head = self.panoptic_head
        cls_scores, mask_preds, prompt_preds = head(x, batch_data_samples, with_prompts=True)
        self.attach_sam_targets(batch_inputs, batch_data_samples,
                                self.pseudo_points(cams, batch_data_samples))
        targets, metas = head.batch_targets(batch_data_samples)
        losses.update(head.loss_by_feat(cls_scores, mask_preds, prompt_preds, targets, metas))
        if self.self_enhancement is not None:
            loss_se = self.self_enhancement_loss(cams, cls_scores[-1], mask_preds[-1],
                                                 batch_data_samples) if self.se_active() \
                else cams.new_zeros(())
            losses['loss_se'] = self.self_enhancement['loss_weight'] * loss_se
        check_finite_losses(losses, batch_data_samples)
        return losses

    def predict(self, batch_inputs: Tensor, batch_data_samples: SampleList,
                rescale: bool = True) -> SampleList:
        """Mask2Former's prediction; with ``sam_decoder_inference`` the masks come from
        SAM's decoder prompted by the predicted latents (the candidate with SAM's best
        IoU score per query)."""
        if not self.sam_decoder_inference:
            return super().predict(batch_inputs, batch_data_samples, rescale=rescale)
        x = self.extract_feat(batch_inputs)
        cls_scores, _, prompt_preds = self.panoptic_head(x, batch_data_samples, with_prompts=True)
        masks = self.sam_decoded_masks(batch_inputs, prompt_preds[-1])
        results = self.panoptic_fusion_head.predict(cls_scores[-1], masks, batch_data_samples,
                                                    rescale=rescale)
        return self.add_pred_to_datasample(batch_data_samples, results)

    def sam_decoded_masks(self, batch_inputs: Tensor, prompt_latents: Tensor) -> Tensor:
        """(B, N, H, W) mask logits on the batch frame from (B, N, T, 2, C) latents."""
        teacher, batch_hw = self.teacher, tuple(batch_inputs.shape[-2:])
        pre = self.data_preprocessor
        emb = teacher.image_embeddings(batch_inputs, pre.mean.flatten().tolist(),
                                       pre.std.flatten().tolist())
        t = PROMPT_TYPES.index(self.sam_decoder_inference)
        latents = prompt_latents[:, :, t]
        if self.restore_latent_means:
            latents = restore_token_means(
                latents, teacher.token_channel_means(self.sam_decoder_inference))
        out = []
        for b in range(len(batch_inputs)):
            low_res, iou = teacher.decode_tokens(emb[b:b + 1], latents[b],
                                                self.sam_decoder_inference)
            best = low_res[torch.arange(len(iou)), iou.argmax(dim=1)][:, None]
            out.append(teacher.to_frame(best, batch_hw, batch_hw)[:, 0])
        return torch.stack(out)
