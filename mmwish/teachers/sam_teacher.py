"""The frozen Segment Anything teacher of WISH (METHOD.md, "Model" and "Matching").

Coordinates. mmdet boxes and points are continuous (the image spans ``[0, W]``,
pixel ``j``'s centre is ``j + 0.5``); SAM's prompt encoder adds 0.5 to what it is
given ("shift to center of pixel"), i.e. it takes pixel indices. A point ``x``
goes to SAM as ``x - 0.5``; a box ``(x1, x2)`` as the indices of its first and
last pixels, ``(x1, x2 - 1)``, as SAM's own mask-to-box does.

Frames. The prompt latents ``Z`` are taken in the *original* image's SAM frame
(longest side resized to SAM's input size), so they do not depend on the
augmentation: prompts given in the augmented frame are mapped back through the
inverse of mmdet's ``homography_matrix``. Candidate masks are computed in the
frame of the image that was encoded and resampled to any output frame through a
3x3 matrix, which is how cached candidates of the original image reach the
augmented one.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from .sam_builder import build_sam_model, file_sha256, load_sam_checkpoint
from .sam_cache import SAMCacheError, prompts_array

SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)


def to_sam_points(points: Tensor, scale: float) -> Tensor:
    """Continuous (n, 2) points -> SAM prompt coordinates in a frame scaled by ``scale``."""
    return points * scale - 0.5


def to_sam_boxes(boxes: Tensor, scale: float) -> Tensor:
    """Continuous (n, 4) xyxy boxes -> SAM's (first pixel, last pixel) corner indices."""
    b = boxes * scale
    x2 = torch.maximum(b[:, 2] - 1, b[:, 0])
    y2 = torch.maximum(b[:, 3] - 1, b[:, 1])
    return torch.stack([b[:, 0], b[:, 1], x2, y2], dim=1)


def apply_homography(points: Tensor, matrix: Tensor) -> Tensor:
    """(n, 2) x-y points through a 3x3 matrix."""
    ones = torch.ones_like(points[:, :1])
    mapped = torch.cat([points, ones], dim=1) @ matrix.T
    return mapped[:, :2] / mapped[:, 2:3]


def boxes_to_original(boxes: Tensor, inverse: Tensor) -> Tensor:
    """xyxy boxes of the augmented frame -> the original frame (axis-aligned hull;
    exact for mmdet's flips, resizes and crops)."""
    corners = torch.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [0, 3]],
                           boxes[:, [2, 3]]], dim=1).reshape(-1, 2)
    mapped = apply_homography(corners, inverse).reshape(-1, 4, 2)
    return torch.cat([mapped.min(dim=1).values, mapped.max(dim=1).values], dim=1)


def resample_logits(logits: Tensor, out_to_sam: Tensor, sam_size: int,
                    out_hw: Tuple[int, int]) -> Tensor:
    """Resample low-res SAM logits (n, k, L, L) covering the ``sam_size`` square onto an
    output frame of ``out_hw`` pixels; ``out_to_sam`` maps output-frame continuous
    coordinates to SAM-frame ones (3x3). One ``grid_sample``, any flip/resize/crop."""
    h, w = out_hw
    ys, xs = torch.meshgrid(torch.arange(h, device=logits.device, dtype=torch.float32) + 0.5,
                            torch.arange(w, device=logits.device, dtype=torch.float32) + 0.5,
                            indexing='ij')
    pts = apply_homography(torch.stack([xs, ys], dim=-1).reshape(-1, 2),
                           out_to_sam.to(logits.device, torch.float32))
    grid = (pts / sam_size * 2 - 1).reshape(1, h, w, 2).expand(len(logits), -1, -1, -1)
    return F.grid_sample(logits.float(), grid, mode='bilinear', padding_mode='border',
                         align_corners=False)


@MODELS.register_module()
class SAMTeacher(BaseModule):
    """A frozen SAM (any checkpoint with SAM's architecture), loaded from a local file.

    The SAM is held outside the module tree: it has no parameters in the
    optimizer, is never saved in the student's checkpoints and is not wrapped
    by DDP; it follows the inputs' device on first use and always stays in eval
    mode without gradients.

    Args:
        checkpoint (str): path of the SAM checkpoint (``weights_only=True``).
        variant (str): ``vit_b``, ``vit_l``, ``vit_h`` or ``custom``.
        arch (dict, optional): architecture overrides (see ``sam_arch``), e.g. a
            small encoder for ``custom``.
        dtype (str): ``float32``, ``bfloat16`` or ``float16`` for the SAM's
            forward on a GPU (CPU always runs float32).
    """

    def __init__(self, checkpoint: str, variant: str = 'vit_b', arch: Optional[dict] = None,
                 dtype: str = 'float32', init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        sam = build_sam_model(variant, **(arch or {}))
        load_sam_checkpoint(sam, checkpoint, variant)
        sam.requires_grad_(False)
        self._frozen = {'sam': sam}
        self._token_means = {}  # prompt type -> (2,), see token_channel_means
        self.checkpoint = checkpoint
        self.checkpoint_hash = file_sha256(checkpoint)
        self.dtype = getattr(torch, dtype)

    @property
    def sam(self):
        return self._frozen['sam']

    @property
    def image_size(self) -> int:
        return self.sam.image_encoder.img_size

    def train(self, mode: bool = True):
        super().train(mode)
        self.sam.eval()
        return self

    def _on(self, device) -> torch.nn.Module:
        if self.sam.pixel_mean.device != torch.device(device):
            self._frozen['sam'] = self.sam.to(device)
        return self.sam

    def _sparse_tokens(self, sam, scale: float, points: Optional[Tensor] = None,
                       boxes: Optional[Tensor] = None) -> list:
        """SAM's sparse prompt tokens, (n, 2, C) per given kind, points first."""
        tokens = []
        if points is not None and len(points):
            coords = to_sam_points(points.float(), scale)[:, None, :]
            labels = torch.ones(len(coords), 1, device=coords.device)
            tokens.append(sam.prompt_encoder(points=(coords, labels), boxes=None, masks=None)[0])
        if boxes is not None and len(boxes):
            tokens.append(sam.prompt_encoder(points=None, boxes=to_sam_boxes(boxes.float(), scale),
                                             masks=None)[0])
        return tokens

    @torch.no_grad()
    def token_channel_means(self, prompt_type: str) -> Tensor:
        """The channel mean of each of SAM's 2 sparse tokens of ``prompt_type``
        (``'point'`` or ``'box'``), averaged over prompts spread over the SAM
        square: (2,). An 8 x 8 grid of points; boxes of 3 sizes on that grid.

        ``L_prompt`` compares softmaxes, which ignore a constant added to a token,
        so a predicted latent is known up to its channel mean; this is the mean
        SAM's decoder expects (see ``WISH.sam_decoded_masks``).
        """
        if prompt_type not in ('point', 'box'):
            raise ValueError(f"prompt_type must be 'point' or 'box', not {prompt_type!r}")
        if prompt_type in self._token_means:  # the SAM is frozen: once per type
            return self._token_means[prompt_type]
        size = float(self.image_size)
        grid = (torch.arange(8, dtype=torch.float32,
                             device=self.sam.pixel_mean.device) + 0.5) * size / 8
        ys, xs = torch.meshgrid(grid, grid, indexing='ij')
        centres = torch.stack([xs.flatten(), ys.flatten()], dim=1)
        if prompt_type == 'point':
            tokens = self._sparse_tokens(self.sam, 1.0, points=centres)[0]
        else:
            boxes = torch.cat([torch.cat([centres - h, centres + h], dim=1).clamp(0, size)
                               for h in (size / 16, size / 8, size / 4)])
            tokens = self._sparse_tokens(self.sam, 1.0, boxes=boxes)[0]
        self._token_means[prompt_type] = tokens.float().mean(dim=(0, 2))
        return self._token_means[prompt_type]

    def _autocast(self, device):
        enabled = torch.device(device).type == 'cuda' and self.dtype != torch.float32
        return torch.autocast(torch.device(device).type, dtype=self.dtype, enabled=enabled)

    @torch.no_grad()
    def prompt_latents(self, points: Optional[Tensor] = None, boxes: Optional[Tensor] = None,
                       ori_shape: Tuple[int, int] = None,
                       homography: Optional[Tensor] = None) -> Tensor:
        """SAM's sparse prompt tokens ``Z`` (METHOD.md, "Model"): (n, 2, C) for n points
        or n boxes, taken in the original image's SAM frame.

        Args:
            points: (n, 2) x-y, or boxes: (n, 4) xyxy, in the augmented frame.
            ori_shape: (h, w) of the original image.
            homography: original -> augmented 3x3 matrix (identity if None).
        """
        if (points is None) == (boxes is None):
            raise ValueError('give either points or boxes')
        prompts = points if points is not None else boxes
        sam = self._on(prompts.device)
        scale = self.image_size / max(ori_shape)
        inverse = None if homography is None else torch.linalg.inv(
            torch.as_tensor(homography, dtype=torch.float64)).to(prompts.device, torch.float32)
        if inverse is not None and points is not None:
            points = apply_homography(points.float(), inverse)
        elif inverse is not None:
            boxes = boxes_to_original(boxes.float(), inverse)
        tokens = self._sparse_tokens(sam, scale, points, boxes)
        if not tokens:
            return prompts.new_zeros((0, 2, sam.prompt_encoder.embed_dim))
        return tokens[0].float()

    def preprocess(self, images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
        """mmdet-normalised RGB batch (B, 3, H, W) -> SAM's input (B, 3, S, S): the image
        de-normalised, its longest side resized to S, SAM-normalised, zero-padded."""
        dev = images.device
        mean_t = torch.as_tensor(mean, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        std_t = torch.as_tensor(std, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        pixels = images.float() * std_t + mean_t
        h, w = images.shape[-2:]
        scale = self.image_size / max(h, w)
        size = (round(h * scale), round(w * scale))
        if size != (h, w):
            pixels = F.interpolate(pixels, size, mode='bilinear', align_corners=False,
                                   antialias=scale < 1)
        sam_mean = torch.as_tensor(SAM_MEAN, device=dev).view(1, 3, 1, 1)
        sam_std = torch.as_tensor(SAM_STD, device=dev).view(1, 3, 1, 1)
        x = (pixels - sam_mean) / sam_std
        return F.pad(x, (0, self.image_size - size[1], 0, self.image_size - size[0]))

    @torch.no_grad()
    def image_embeddings(self, images: Tensor, mean: Sequence[float],
                         std: Sequence[float]) -> Tensor:
        """SAM's image encoder on an mmdet batch: (B, C, S/16, S/16), float32."""
        sam = self._on(images.device)
        with self._autocast(images.device):
            return sam.image_encoder(self.preprocess(images, mean, std)).float()

    @torch.no_grad()
    def decode(self, embedding: Tensor, frame_hw: Tuple[int, int],
               points: Optional[Tensor] = None,
               boxes: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """SAM's 3 candidate masks per prompt as low-res logits over the SAM square
        (n + m, 3, L, L), and its IoU predictions (n + m, 3). All prompts of the
        image (points first, then boxes) go through one decoder call.

        Args:
            embedding: (1, C, h, w) embedding of the encoded image.
            frame_hw: (H, W) of the encoded image (before SAM's resize and pad).
            points: (n, 2), boxes: (m, 4), in the encoded image's frame.
        """
        sam = self._on(embedding.device)
        sparse = self._sparse_tokens(sam, self.image_size / max(frame_hw), points, boxes)
        if not sparse:
            size = 4 * embedding.shape[-1]
            return embedding.new_zeros((0, 3, size, size)), embedding.new_zeros((0, 3))
        return self.decode_tokens(embedding, torch.cat(sparse))

    @torch.no_grad()
    def decode_tokens(self, embedding: Tensor, tokens: Tensor) -> Tuple[Tensor, Tensor]:
        """SAM's mask decoder on (n, 2, C) sparse tokens (SAM's own or predicted latents
        ``Z_hat``): low-res logits (n, 3, L, L) over the SAM square and IoU (n, 3)."""
        sam = self._on(embedding.device)
        dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
            len(tokens), -1, *embedding.shape[-2:])
        with self._autocast(embedding.device):
            low_res, iou = sam.mask_decoder(
                image_embeddings=embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
                sparse_prompt_embeddings=tokens.to(dense.dtype), dense_prompt_embeddings=dense,
                multimask_output=True)
        return low_res.float(), iou.float()

    def to_frame(self, low_res: Tensor, frame_hw: Tuple[int, int], out_hw: Tuple[int, int],
                 frame_to_out: Optional[Tensor] = None) -> Tensor:
        """Resample low-res candidates of an image of ``frame_hw`` onto an output frame.

        ``frame_to_out`` maps the encoded image's coordinates to the output's
        (default: the scaling from ``frame_hw`` to ``out_hw``); for the cache it
        is mmdet's ``homography_matrix`` (original -> augmented image).
        """
        if frame_to_out is None:
            frame_to_out = torch.diag(torch.tensor(
                [out_hw[1] / frame_hw[1], out_hw[0] / frame_hw[0], 1.0]))
        scale = self.image_size / max(frame_hw)
        out_to_sam = torch.diag(torch.tensor([scale, scale, 1.0])) @ torch.linalg.inv(
            torch.as_tensor(frame_to_out, dtype=torch.float32).cpu())
        return resample_logits(low_res, out_to_sam, self.image_size, tuple(out_hw))

    @torch.no_grad()
    def candidate_masks(self, embedding: Tensor, frame_hw: Tuple[int, int],
                        points: Optional[Tensor] = None, boxes: Optional[Tensor] = None,
                        out_hw: Optional[Tuple[int, int]] = None,
                        frame_to_out: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """SAM's 3 candidate masks per prompt (METHOD.md, "Matching": ``M_SAM^k``) as
        logits (n + m, 3, *out_hw) in the output frame, with the IoU predictions.
        See :meth:`decode` and :meth:`to_frame`."""
        low_res, iou = self.decode(embedding, frame_hw, points, boxes)
        return self.to_frame(low_res, frame_hw, tuple(out_hw or frame_hw), frame_to_out), iou

    @torch.no_grad()
    def encode_original(self, image_rgb: np.ndarray, device='cpu') -> Tensor:
        """Image embedding (1, C, h, w) of an original (H, W, 3) uint8 RGB image."""
        x = torch.from_numpy(np.ascontiguousarray(image_rgb)).to(device)
        x = x.permute(2, 0, 1)[None].float()
        return self.image_embeddings(x, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0))

    def cached_candidates(self, masks: Tensor, ori_shape: Tuple[int, int],
                          homography: Optional[Tensor], out_hw: Tuple[int, int]) -> Tensor:
        """Cached binary candidates (n, 3, L, L) of the original image -> bool masks
        (n, 3, *out_hw) in the augmented frame (``homography``: original -> augmented)."""
        matrix = torch.eye(3) if homography is None else torch.as_tensor(
            homography, dtype=torch.float32)
        values = self.to_frame(masks.float(), ori_shape, out_hw, matrix)
        return values > 0.5


    @torch.no_grad()
    def targets(self, data_sample, batch_hw: Tuple[int, int],
                out_hw: Optional[Tuple[int, int]] = None, cache=None,
                embedding: Optional[Tensor] = None) -> dict:
        """What WISH needs from SAM for one image of an mmdet batch.

        The image's point labels (``gt_points``) or box labels (``gt_instances``
        of a box image), given in the augmented, padded frame, become (the
        latents from the labels' original geometry, ``ori_prompts``, when packed):
        ``latents`` (n, 2, C), ``masks`` (n, 3, *out_hw) bool candidates and
        ``iou`` (n, 3); ``type`` is ``'point'``, ``'box'`` or None (tag and mask
        images: nothing).

        Args:
            data_sample: a packed sample (``PackWeakDetInputs``).
            batch_hw: (H, W) of the padded batch tensor (the augmented frame).
            out_hw: mask size (default ``batch_hw``; e.g. 1/4 of it for the mask
                features).
            cache (SAMCache, optional): read candidates from it (original frame,
                mapped by the homography); else ``embedding`` must be SAM's
                embedding of this padded batch image (online).
        """
        out_hw = tuple(out_hw or batch_hw)
        label_type = data_sample.metainfo.get('label_type', 'mask')
        if label_type == 'point':
            prompts, ids = data_sample.gt_points.points, data_sample.gt_points.ids
        elif label_type == 'box':
            boxes = data_sample.gt_instances.bboxes
            prompts = getattr(boxes, 'tensor', boxes)
            ids = data_sample.gt_instances.instances_ids
        else:
            return dict(type=None)
        device = prompts.device
        homography = torch.as_tensor(homography_of(data_sample), dtype=torch.float32)
        ori = tuple(data_sample.ori_shape[:2])
        key = 'points' if label_type == 'point' else 'boxes'
        original = data_sample.metainfo.get('ori_prompts')
        if original is not None:  # whole objects, even where a crop cut their boxes
            original = torch.as_tensor(original, device=device)[ids.long()]
            latents = self.prompt_latents(**{key: original}, ori_shape=ori)
        else:
            latents = self.prompt_latents(**{key: prompts}, ori_shape=ori, homography=homography)
        to_out = torch.diag(torch.tensor([out_hw[1] / batch_hw[1], out_hw[0] / batch_hw[0], 1.0]))
        if cache is not None:
            entry = cache.read(data_sample.img_id)
            check_cache_entry(cache, entry, data_sample, key)
            rows = ids.cpu().long()
            masks = self.cached_candidates(entry['masks'][rows], ori, to_out @ homography,
                                           out_hw).to(device)
            iou = entry['iou'][rows].to(device)
        else:
            if embedding is None:
                raise ValueError('targets() needs a SAM cache or the image embedding')
            low_res, iou = self.decode(embedding, tuple(batch_hw), **{key: prompts})
            masks = self.to_frame(low_res, tuple(batch_hw), out_hw, to_out) > 0
        return dict(type=label_type, latents=latents, masks=masks, iou=iou)

    @torch.no_grad()
    def point_targets(self, data_sample, points: Tensor, batch_hw: Tuple[int, int],
                      out_hw: Optional[Tuple[int, int]] = None, cache=None,
                      embedding: Optional[Tensor] = None) -> dict:
        """:meth:`targets` for points that are not in the labels: a tag image's pseudo
        points (augmented, padded frame). With a cache the candidates come from the
        image's cached embedding (original frame), else from ``embedding``."""
        out_hw = tuple(out_hw or batch_hw)
        homography = torch.as_tensor(homography_of(data_sample), dtype=torch.float32)
        ori = tuple(data_sample.ori_shape[:2])
        latents = self.prompt_latents(points=points, ori_shape=ori, homography=homography)
        to_out = torch.diag(torch.tensor([out_hw[1] / batch_hw[1], out_hw[0] / batch_hw[0], 1.0]))
        if cache is not None:
            entry = cache.read(data_sample.img_id)
            if 'embedding' not in entry:
                raise SAMCacheError(
                    f'{cache.path(data_sample.img_id)} (image {data_sample.img_id}, a tag image) '
                    'has no SAM embedding, which its pseudo points need; rebuild the cache with '
                    'tools/sam_cache.py --embeddings tag')
            original = apply_homography(points.float(), torch.linalg.inv(homography).to(
                points.device))
            low_res, iou = self.decode(entry['embedding'][None].to(points.device), ori,
                                       points=original)
            masks = self.to_frame(low_res, ori, out_hw, to_out @ homography) > 0
        else:
            if embedding is None:
                raise ValueError('point_targets() needs a SAM cache or the image embedding')
            low_res, iou = self.decode(embedding, tuple(batch_hw), points=points)
            masks = self.to_frame(low_res, tuple(batch_hw), out_hw, to_out) > 0
        return dict(type='point', latents=latents, masks=masks.to(points.device), iou=iou)


def check_cache_entry(cache, entry: dict, data_sample, key: str) -> None:
    """Refuse a cache entry made from other labels than the sample's (the annotation
    file changed after the cache was built): its candidates would be another object's."""
    where = f'{cache.path(data_sample.img_id)} (image {data_sample.img_id})'
    original = data_sample.metainfo.get('ori_prompts')
    if 'masks' not in entry:
        raise SAMCacheError(f'{where} holds no candidates, but the image now has {key} labels; '
                            'the annotation file changed after the cache was built: rebuild it '
                            'with tools/sam_cache.py')
    if original is not None:
        record = prompts_array(original if key == 'points' else None,
                               original if key == 'boxes' else None)
        cached = entry['prompts'].numpy()
        if record.shape != cached.shape or not np.allclose(record, cached, atol=1e-3,
                                                            equal_nan=True):
            raise SAMCacheError(f'{where} was made from other {key} than the image has now; '
                                'the annotation file changed after the cache was built: '
                                'rebuild it with tools/sam_cache.py')


def homography_of(data_sample) -> np.ndarray:
    """The original -> augmented matrix that mmdet's transforms recorded (or identity)."""
    return np.asarray(data_sample.metainfo.get('homography_matrix', np.eye(3)), np.float64)
