"""The frozen Segment Anything teacher of WISH (METHOD.md, "Model", "Matching" and
"Frames and resolution").

Coordinates. mmdet boxes and points are continuous (the image spans ``[0, W]``,
pixel ``j``'s centre is ``j + 0.5``); SAM's prompt encoder adds 0.5 to what it is
given ("shift to center of pixel"), i.e. it takes pixel indices. A point ``x``
goes to SAM as ``x - 0.5``; a box ``(x1, x2)`` as the indices of its first and
last pixels, ``(x1, x2 - 1)``, as SAM's own mask-to-box does.

Frames. Everything a label gives the loss lives in the frame the student sees: the
augmented, padded batch image. The prompt latents ``Z`` are SAM's encoding of the
prompt as it lies there (the batch image's longest side resized to SAM's input
size; for SAM 2, the image stretched to its square input, as SAM 2 resizes), i.e. the
tokens SAM's decoder is prompted with online. A box cut by a crop
encodes its visible part (mmdet's clipped box): that is what the student can see.
The candidate masks reach the batch frame at its full resolution and are thresholded
only there: SAM's low-res logits are resampled from the SAM square, the cache's
original-resolution masks through mmdet's ``homography_matrix``.
"""
from typing import Optional, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from mmengine.model import BaseModule
from torch import Tensor

from .sam2_model import SAM2Image
from .sam_builder import build_sam_model, file_sha256, load_sam_checkpoint
from .sam_cache import SAMCacheError, prompts_array

SAM_MEAN = (123.675, 116.28, 103.53)
SAM_STD = (58.395, 57.12, 57.375)


def xy_scale(scale, like: Tensor) -> Tensor:
    """A frame's scale to SAM's input as (sx, sy) on ``like``'s device: one number for
    SAM's longest-side resize, or two for SAM 2's stretch to its square."""
    s = torch.as_tensor(scale, dtype=like.dtype, device=like.device).reshape(-1)
    return s.expand(2) if s.numel() == 1 else s


def to_sam_points(points: Tensor, scale) -> Tensor:
    """Continuous (n, 2) points -> SAM prompt coordinates in a frame scaled by ``scale``
    (a number, or (sx, sy))."""
    return points * xy_scale(scale, points) - 0.5


def to_sam_boxes(boxes: Tensor, scale) -> Tensor:
    """Continuous (n, 4) xyxy boxes -> SAM's (first pixel, last pixel) corner indices."""
    b = boxes * xy_scale(scale, boxes).repeat(2)
    x2 = torch.maximum(b[:, 2] - 1, b[:, 0])
    y2 = torch.maximum(b[:, 3] - 1, b[:, 1])
    return torch.stack([b[:, 0], b[:, 1], x2, y2], dim=1)


def sparse_tokens(prompt_encoder, scale, points: Optional[Tensor] = None,
                  boxes: Optional[Tensor] = None) -> list:
    """SAM's sparse prompt tokens, (n, 2, C) per given kind, points first, as
    ``SamPredictor`` makes them: a point and SAM's padding token, or a box's two
    corners. ``points`` (n, 2) and xyxy ``boxes`` (n, 4) are continuous coordinates of
    a frame that ``scale`` (a number, or (sx, sy)) resizes to SAM's input. The small
    SAM trains on these very tokens (``sam_training``), so that the teacher is used as
    it learnt."""
    tokens = []
    if points is not None and len(points):
        coords = to_sam_points(points.float(), scale)[:, None, :]
        labels = torch.ones(len(coords), 1, device=coords.device)
        tokens.append(prompt_encoder(points=(coords, labels), boxes=None, masks=None)[0])
    if boxes is not None and len(boxes):
        tokens.append(prompt_encoder(points=None, boxes=to_sam_boxes(boxes.float(), scale),
                                     masks=None)[0])
    return tokens


def decode_sparse(sam, embedding: Tensor, tokens: Tensor) -> Tuple[Tensor, Tensor]:
    """SAM's mask decoder on (n, 2, C) sparse tokens and no mask prompt, 3 masks each:
    low-res logits (n, 3, L, L) over the SAM square and IoU predictions (n, 3)."""
    dense = sam.prompt_encoder.no_mask_embed.weight.reshape(1, -1, 1, 1).expand(
        len(tokens), -1, *embedding.shape[-2:])
    return sam.mask_decoder(
        image_embeddings=embedding, image_pe=sam.prompt_encoder.get_dense_pe(),
        sparse_prompt_embeddings=tokens.to(dense.dtype), dense_prompt_embeddings=dense,
        multimask_output=True)


def apply_homography(points: Tensor, matrix: Tensor) -> Tensor:
    """(n, 2) x-y points through a 3x3 matrix."""
    ones = torch.ones_like(points[:, :1])
    mapped = torch.cat([points, ones], dim=1) @ matrix.T
    return mapped[:, :2] / mapped[:, 2:3]


def resample(values: Tensor, out_to_src: Tensor, src_hw: Tuple[int, int],
             out_hw: Tuple[int, int], valid_hw: Optional[Tuple[float, float]] = None,
             fill: float = 0.0, mode: str = 'bilinear') -> Tensor:
    """Resample maps ``values`` (n, k, h, w), which cover a source frame of ``src_hw``
    continuous units, onto an output frame of ``out_hw`` pixels (bilinear, at the
    output's pixel centres). ``out_to_src`` (3x3) maps output coordinates to source
    ones; output pixels that land outside ``valid_hw`` of the source (default: all
    of it) get ``fill``. One ``grid_sample``, any flip/resize/crop; ``mode='nearest'``
    gives each output pixel the source pixel under its centre (exact for binary masks)."""
    h, w = out_hw
    ys, xs = torch.meshgrid(torch.arange(h, device=values.device, dtype=torch.float32) + 0.5,
                            torch.arange(w, device=values.device, dtype=torch.float32) + 0.5,
                            indexing='ij')
    pts = apply_homography(torch.stack([xs, ys], dim=-1).reshape(-1, 2),
                           torch.as_tensor(out_to_src, dtype=torch.float32).to(values.device))
    size = pts.new_tensor([src_hw[1], src_hw[0]])
    grid = (pts / size * 2 - 1).reshape(1, h, w, 2).expand(len(values), -1, -1, -1)
    out = F.grid_sample(values.float(), grid, mode=mode, padding_mode='border',
                        align_corners=False)
    vh, vw = valid_hw or src_hw
    outside = ((pts[:, 0] < 0) | (pts[:, 0] > vw) | (pts[:, 1] < 0) | (pts[:, 1] > vh))
    return out.masked_fill(outside.reshape(1, 1, h, w), fill)


def box_masks(boxes: Tensor, hw: Tuple[int, int]) -> Tensor:
    """(n, H, W) bool: the pixels whose centres lie inside each xyxy box."""
    ys = torch.arange(hw[0], device=boxes.device, dtype=torch.float32) + 0.5
    xs = torch.arange(hw[1], device=boxes.device, dtype=torch.float32) + 0.5
    b = boxes.float()[:, :, None]
    in_x = (xs[None] >= b[:, 0]) & (xs[None] <= b[:, 2])
    in_y = (ys[None] >= b[:, 1]) & (ys[None] <= b[:, 3])
    return in_y[:, :, None] & in_x[:, None, :]


def weak_prompts(data_sample, pseudo_points: Optional[tuple] = None) -> Optional[tuple]:
    """The prompts of one weak image, in the batch frame: ``(type, prompts, labels,
    ids)`` with type ``'point'`` or ``'box'``, (n, 2) points or (n, 4) boxes, their
    class labels and their indices in the image's labels (None for pseudo points);
    None for mask images and for tag images without ``pseudo_points`` ((n, 2) points,
    labels)."""
    label_type = data_sample.metainfo.get('label_type', 'mask')
    if label_type == 'tag' and pseudo_points is not None:
        points, labels = pseudo_points
        return 'point', points, labels, None
    if label_type == 'point':
        pts = data_sample.gt_points
        return 'point', pts.points, pts.labels, pts.ids
    if label_type == 'box':
        inst = data_sample.gt_instances
        return 'box', getattr(inst.bboxes, 'tensor', inst.bboxes), inst.labels, \
            inst.instances_ids
    return None


@MODELS.register_module()
class SAMTeacher(BaseModule):
    """A frozen SAM (a checkpoint of any family mmwish builds: SAM's ViT-B/L/H,
    MobileSAM, SAM 2.1 / SAM 2, or a custom encoder of any), loaded from a local file.
    All families have SAM's prompt encoder and mask decoder, so latents, candidates and
    IoU come in one form whatever the image encoder (``sam_builder``, "Teacher
    families"); SAM 2's decoder also reads the encoder's finer levels, which its
    "embedding" carries (:mod:`mmwish.teachers.sam2_model`).

    The SAM is held outside the module tree: it has no parameters in the
    optimizer, is never saved in the student's checkpoints and is not wrapped
    by DDP; it follows the inputs' device on first use and always stays in eval
    mode without gradients.

    Args:
        checkpoint (str): path of the SAM checkpoint (``weights_only=True``).
        variant (str): ``vit_b``, ``vit_l``, ``vit_h`` (SAM), ``mobile_sam`` or its
            alias ``vit_t`` (MobileSAM, ``mobile_sam.pt``), ``sam2.1_hiera_t``, ``_s``,
            ``_b+``, ``_l`` (SAM 2.1; ``sam2_hiera_*`` for SAM 2), or ``custom``.
        arch (dict, optional): architecture overrides (see ``sam_arch``), e.g. a
            small encoder for ``custom`` (with ``family='mobile_sam'`` for a TinyViT,
            ``family='sam2'`` for a Hiera).
        dtype (str): ``float32``, ``bfloat16`` or ``float16`` for the SAM's
            forward on a GPU (CPU always runs float32).
        clip_box_candidates (bool): cut a box prompt's candidates to the box (common
            practice with masks from box prompts: the object lies inside its box);
            False keeps SAM's masks as they are (the paper).
    """

    needs_embedding = True  # SAM's candidates need the image (the oracle's do not)

    def __init__(self, checkpoint: str, variant: str = 'vit_b', arch: Optional[dict] = None,
                 dtype: str = 'float32', clip_box_candidates: bool = False, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.clip_box_candidates = clip_box_candidates
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
        return self.sam.image_size if self.is_sam2 else self.sam.image_encoder.img_size

    @property
    def is_sam2(self) -> bool:
        return isinstance(self.sam, SAM2Image)

    def frame_scale(self, frame_hw: Tuple[int, int]) -> Tuple[float, float]:
        """(sx, sy) that resize a frame of ``frame_hw`` to SAM's input: the longest
        side's scale on both axes (SAM, MobileSAM; the rest is padding), or each axis
        stretched to the square (SAM 2)."""
        if self.is_sam2:
            return (self.image_size / frame_hw[1], self.image_size / frame_hw[0])
        scale = self.image_size / max(frame_hw)
        return (scale, scale)

    def _device(self) -> torch.device:
        return next(self.sam.parameters()).device

    def train(self, mode: bool = True):
        super().train(mode)
        self.sam.eval()
        return self

    def _on(self, device) -> torch.nn.Module:
        if self._device() != torch.device(device):
            self._frozen['sam'] = self.sam.to(device)
        return self.sam

    def _sparse_tokens(self, sam, scale, points: Optional[Tensor] = None,
                       boxes: Optional[Tensor] = None) -> list:
        return sparse_tokens(sam.prompt_encoder, scale, points, boxes)

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
                             device=self._device()) + 0.5) * size / 8
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
                       frame_hw: Tuple[int, int] = None) -> Tensor:
        """SAM's sparse prompt tokens ``Z`` (METHOD.md, "Model" and "Frames and
        resolution"): (n, 2, C) for n points or n boxes given in a frame of
        ``frame_hw`` (the padded batch image in training), encoded as SAM sees that
        frame: its longest side resized to SAM's input size.
        """
        if (points is None) == (boxes is None):
            raise ValueError('give either points or boxes')
        prompts = points if points is not None else boxes
        sam = self._on(prompts.device)
        tokens = self._sparse_tokens(sam, self.frame_scale(frame_hw), points, boxes)
        if not tokens:
            return prompts.new_zeros((0, 2, sam.prompt_encoder.embed_dim))
        return tokens[0].float()

    def preprocess(self, images: Tensor, mean: Sequence[float], std: Sequence[float]) -> Tensor:
        """mmdet-normalised RGB batch (B, 3, H, W) -> SAM's input (B, 3, S, S): the image
        de-normalised, its longest side resized to S, SAM-normalised, zero-padded (SAM 2:
        resized to S x S)."""
        dev = images.device
        mean_t = torch.as_tensor(mean, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        std_t = torch.as_tensor(std, device=dev, dtype=torch.float32).view(1, 3, 1, 1)
        pixels = images.float() * std_t + mean_t
        h, w = images.shape[-2:]
        sx, sy = self.frame_scale((h, w))
        size = (round(h * sy), round(w * sx))
        if size != (h, w):
            pixels = F.interpolate(pixels, size, mode='bilinear', align_corners=False,
                                   antialias=min(sx, sy) < 1)
        sam_mean = torch.as_tensor(SAM_MEAN, device=dev).view(1, 3, 1, 1)
        sam_std = torch.as_tensor(SAM_STD, device=dev).view(1, 3, 1, 1)
        x = (pixels - sam_mean) / sam_std
        return F.pad(x, (0, self.image_size - size[1], 0, self.image_size - size[0]))

    @torch.no_grad()
    def image_embeddings(self, images: Tensor, mean: Sequence[float],
                         std: Sequence[float]) -> Tensor:
        """SAM's image encoder on an mmdet batch: (B, C, S/16, S/16), float32 (SAM 2: its
        three levels packed on that grid, ``sam2_model.pack_levels``)."""
        sam = self._on(images.device)
        encode = sam.encode if self.is_sam2 else sam.image_encoder
        with self._autocast(images.device):
            return encode(self.preprocess(images, mean, std)).float()

    @torch.no_grad()
    def decode(self, embedding: Tensor, frame_hw: Tuple[int, int],
               points: Optional[Tensor] = None,
               boxes: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """SAM's 3 candidate masks per prompt as low-res logits over the SAM square
        (n + m, 3, L, L), and its IoU predictions (n + m, 3). All prompts of the
        image (points first, then boxes) go through one decoder call (SAM 2: one per
        kind, as its boxes have one token more).

        Args:
            embedding: (1, C, h, w) embedding of the encoded image.
            frame_hw: (H, W) of the encoded image (before SAM's resize and pad).
            points: (n, 2), boxes: (m, 4), in the encoded image's frame.
        """
        sam = self._on(embedding.device)
        kinds = [k for k, p in (('point', points), ('box', boxes)) if p is not None and len(p)]
        sparse = self._sparse_tokens(sam, self.frame_scale(frame_hw), points, boxes)
        if not sparse:
            size = 4 * embedding.shape[-1]
            return embedding.new_zeros((0, 3, size, size)), embedding.new_zeros((0, 3))
        if not self.is_sam2:
            return self.decode_tokens(embedding, torch.cat(sparse))
        out = [self.decode_tokens(embedding, t, kind) for t, kind in zip(sparse, kinds)]
        return torch.cat([o[0] for o in out]), torch.cat([o[1] for o in out])

    @torch.no_grad()
    def decode_tokens(self, embedding: Tensor, tokens: Tensor,
                      prompt_type: Optional[str] = None) -> Tuple[Tensor, Tensor]:
        """SAM's mask decoder on (n, 2, C) sparse tokens (SAM's own or predicted latents
        ``Z_hat``) of ``prompt_type``, ``'point'`` or ``'box'`` (SAM 2 appends its padding
        token to a box's corners, so it must be told): low-res logits (n, 3, L, L) over
        the SAM square and IoU (n, 3)."""
        if self.is_sam2 and prompt_type not in ('point', 'box'):
            raise ValueError("a SAM 2 teacher decodes tokens of prompt_type 'point' or 'box', "
                             f'not {prompt_type!r}')
        sam = self._on(embedding.device)
        with self._autocast(embedding.device):
            if self.is_sam2:
                low_res, iou = sam.decode(embedding, tokens, boxes=prompt_type == 'box')
            else:
                low_res, iou = decode_sparse(sam, embedding, tokens)
        return low_res.float(), iou.float()

    def to_frame(self, low_res: Tensor, frame_hw: Tuple[int, int], out_hw: Tuple[int, int],
                 frame_to_out: Optional[Tensor] = None) -> Tensor:
        """Resample low-res candidate logits of an image of ``frame_hw`` onto an output
        frame of ``out_hw`` pixels, before any threshold.

        ``frame_to_out`` maps the encoded image's coordinates to the output's
        (default: the scaling from ``frame_hw`` to ``out_hw``); for a cached
        embedding it is mmdet's ``homography_matrix`` (original -> augmented
        image). Output pixels outside the encoded image get logit -20.
        """
        if frame_to_out is None:
            frame_to_out = torch.diag(torch.tensor(
                [out_hw[1] / frame_hw[1], out_hw[0] / frame_hw[0], 1.0]))
        sx, sy = self.frame_scale(frame_hw)
        out_to_sam = torch.diag(torch.tensor([sx, sy, 1.0])) @ torch.linalg.inv(
            torch.as_tensor(frame_to_out, dtype=torch.float32).cpu())
        size = (self.image_size, self.image_size)
        return resample(low_res, out_to_sam, size, tuple(out_hw),
                        valid_hw=(frame_hw[0] * sy, frame_hw[1] * sx), fill=-20.0)

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

    @torch.no_grad()
    def cached_candidates(self, masks: Tensor, homography: Optional[Tensor],
                          out_hw: Tuple[int, int]) -> Tensor:
        """Cached binary candidates (n, 3, h, w) at the original image's resolution ->
        bool masks (n, 3, *out_hw) in the augmented frame (``homography``: original ->
        augmented): each output pixel takes the cached pixel under its centre."""
        matrix = torch.eye(3) if homography is None else torch.as_tensor(
            homography, dtype=torch.float32)
        values = resample(masks.float(), torch.linalg.inv(matrix), tuple(masks.shape[-2:]),
                          tuple(out_hw), mode='nearest')
        return values > 0.5

    @torch.no_grad()
    def targets(self, data_sample, batch_hw: Tuple[int, int], cache=None,
                embedding: Optional[Tensor] = None,
                pseudo_points: Optional[tuple] = None) -> dict:
        """What WISH needs from the teacher for one image of an mmdet batch: for its
        point or box labels, or for a tag image's ``pseudo_points`` ((n, 2) points in
        the batch frame, labels), ``labels`` (n,), ``latents`` (n, 2, C) (see
        :meth:`prompt_latents`), ``masks`` (n, 3, *batch_hw) bool candidates at the
        batch frame's full resolution and ``iou`` (n, 3); ``type`` is ``'point'``,
        ``'box'`` or None (mask images, tag images without points: nothing).

        Args:
            data_sample: a packed sample (``PackWeakDetInputs``).
            batch_hw: (H, W) of the padded batch tensor (the augmented frame).
            cache (SAMCache, optional): read candidates from it (original frame,
                mapped by the homography); else ``embedding`` must be SAM's
                embedding of this padded batch image (online).
        """
        prompts = weak_prompts(data_sample, pseudo_points)
        if prompts is None:
            return dict(type=None)
        kind, coords, labels, ids = prompts
        key = 'points' if kind == 'point' else 'boxes'
        latents = self.prompt_latents(**{key: coords}, frame_hw=tuple(batch_hw))
        masks, iou = self.candidates(data_sample, kind, coords, ids, tuple(batch_hw), cache,
                                     embedding)
        masks = masks.to(coords.device)
        if kind == 'box' and self.clip_box_candidates:
            masks = masks & box_masks(coords, tuple(batch_hw))[:, None]
        return dict(type=kind, labels=labels, latents=latents,
                    masks=masks, iou=iou.to(coords.device))

    @torch.no_grad()
    def candidates(self, data_sample, kind: str, prompts: Tensor, ids: Optional[Tensor],
                   batch_hw: Tuple[int, int], cache=None,
                   embedding: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """SAM's 3 candidates per prompt (METHOD.md, "Matching": ``M_SAM^k``) as bool
        masks (n, 3, *batch_hw) and IoU predictions (n, 3). Labelled prompts (``ids``)
        read the cache's masks; pseudo points are decoded from its embedding of the
        original image; without a cache, from ``embedding`` of the batch image."""
        key = 'points' if kind == 'point' else 'boxes'
        if cache is None:
            if embedding is None:
                raise ValueError('targets() needs a SAM cache or the image embedding')
            low_res, iou = self.decode(embedding, batch_hw, **{key: prompts})
            return self.to_frame(low_res, batch_hw, batch_hw) > 0, iou
        entry = cache.read(data_sample.img_id)
        homography = torch.as_tensor(homography_of(data_sample), dtype=torch.float32)
        if ids is not None:
            check_cache_entry(cache, entry, data_sample, key)
            rows = ids.cpu().long()
            return self.cached_candidates(entry['masks'][rows], homography, batch_hw), \
                entry['iou'][rows]
        if 'embedding' not in entry:
            raise SAMCacheError(
                f'{cache.path(data_sample.img_id)} (image {data_sample.img_id}, a tag image) '
                'has no SAM embedding, which its pseudo points need; rebuild the cache with '
                'tools/sam_cache.py --embeddings tag')
        ori = tuple(data_sample.ori_shape[:2])
        original = apply_homography(prompts.float(), torch.linalg.inv(homography).to(
            prompts.device))
        low_res, iou = self.decode(entry['embedding'][None].to(prompts.device), ori,
                                   points=original)
        return self.to_frame(low_res, ori, batch_hw, homography) > 0, iou


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
