"""A perfect teacher: SAM's interface answered from the ground-truth masks.

It separates the method from the teacher: with it, what a WISH row loses against
full supervision is the method's loss, not SAM's. The latents still come from a
real SAM prompt encoder (they are a property of the prompt, not of the object); the
3 candidates per prompt come from the source annotation file, arranged as SAM's
ambiguity is (the object, a part of it, a superset) at a random index per object,
or the true mask three times with ``ambiguity=False``.

The ground-truth masks reach the teacher only: the weak-label file keeps each
annotation's id (``coco_to_weak.py`` does), the data sample carries those ids, and
the teacher reads the masks from ``source_ann_file`` by id.
"""
import json
from collections import OrderedDict, defaultdict
from typing import Optional, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from mmdet.registry import MODELS
from torch import Tensor

from ..datasets.converters.weak_budget import ann_to_mask
from .sam_teacher import SAMTeacher, homography_of
from .sam_training import SHAPES_SAM_ARCH


class OracleError(ValueError):
    """The source annotation file cannot answer for a weak image."""


def dilate(mask: Tensor, radius: int) -> Tensor:
    """(H, W) bool mask grown by ``radius`` pixels (a square structuring element).

    The square is separable (a row pass, then a column pass) and only the mask's box
    grown by ``radius`` can change: O(box area x radius), not O(H W radius^2), which
    made the oracle cost 150 ms per large object on 640 px photos."""
    if radius <= 0 or not mask.any():
        return mask
    ys, xs = mask.nonzero(as_tuple=True)
    y0, y1 = max(int(ys.min()) - radius, 0), min(int(ys.max()) + radius + 1, mask.shape[0])
    x0, x1 = max(int(xs.min()) - radius, 0), min(int(xs.max()) + radius + 1, mask.shape[1])
    k = 2 * radius + 1
    box = mask[y0:y1, x0:x1][None, None].float()
    box = F.max_pool2d(box, (1, k), stride=1, padding=(0, radius))
    box = F.max_pool2d(box, (k, 1), stride=1, padding=(radius, 0))
    out = torch.zeros_like(mask)
    out[y0:y1, x0:x1] = box[0, 0] > 0
    return out


def part_of(mask: Tensor, first_half: bool) -> Tensor:
    """One half of a mask, split through its centre across its longer extent."""
    ys, xs = mask.nonzero(as_tuple=True)
    if len(ys) < 2:
        return mask.clone()
    along_x = (xs.max() - xs.min()) >= (ys.max() - ys.min())
    coord = xs if along_x else ys
    centre = coord.float().mean()
    keep = (coord.float() < centre) if first_half else (coord.float() >= centre)
    part = torch.zeros_like(mask)
    part[ys[keep], xs[keep]] = True
    return part


def iou_of(a: Tensor, b: Tensor) -> float:
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 0.0


def superset_of(masks: Tensor, index: int, dilation: float) -> Tensor:
    """The oracle's superset of object ``index`` of (m, H, W) masks: the object with every
    neighbour that touches it once grown by ``dilation * sqrt(area)`` pixels, or that
    grown object when none does."""
    truth = masks[index]
    grown = dilate(truth, max(1, round(dilation * float(truth.sum()) ** 0.5)))
    others = [m for j, m in enumerate(masks) if j != index and bool((m & grown).any())]
    if not others:
        return grown
    superset = truth.clone()
    for m in others:
        superset |= m
    return superset


def ambiguous_candidates(masks: Tensor, index: int, rng: np.random.Generator,
                         dilation: float) -> Tuple[Tensor, Tensor, int]:
    """SAM's 3 kinds of answer for object ``index`` of an image's (m, H, W) masks:
    the object, a part of it and a superset (:func:`superset_of`), at a random
    permutation. Returns (3, H, W) masks, their IoU
    with the object (3,) and the object's index among them.
    """
    truth = masks[index]
    superset = superset_of(masks, index, dilation)
    part = part_of(truth, first_half=bool(rng.integers(2)))
    order = rng.permutation(3)
    kinds = [truth, part, superset]
    cands = torch.stack([kinds[k] for k in order])
    iou = torch.tensor([iou_of(c, truth) for c in cands])
    return cands, iou, int(np.flatnonzero(order == 0)[0])


@MODELS.register_module()
class OracleTeacher(SAMTeacher):
    """A teacher that knows the true masks (see the module's docstring).

    Each labelled point or box is answered with the annotation it labels (by id);
    a pseudo point with the object under it (of any class: SAM knows no classes), or
    the nearest visible object when it lies on the background; a prompt with no
    visible object gets three empty masks with IoU 0. The candidates of an object
    are fixed (as SAM's answer to a prompt is): its random arrangement is seeded by
    ``seed``, the image id and the annotation id.

    Args:
        source_ann_file (str): the COCO file with the masks the weak labels were made
            from (e.g. the input of ``coco_to_weak.py``).
        ambiguity (bool): candidates (object, part, superset) in a random order;
            False gives the object three times (IoU 1).
        dilation (float): the superset's growth, times the object's ``sqrt(area)``.
        seed (int): seed of the arrangement.
        checkpoint, variant, arch, dtype: the SAM whose prompt encoder gives the
            latents (default: the small shapes SAM committed in ``checkpoints/``).
        clip_box_candidates (bool): as :class:`SAMTeacher`'s.
        max_cached_images (int): images whose decoded masks are kept in memory.
    """

    needs_embedding = False

    def __init__(self, source_ann_file: str, ambiguity: bool = True, dilation: float = 0.15,
                 seed: int = 0, checkpoint: str = 'checkpoints/sam_tiny_shapes.pth',
                 variant: str = 'custom', arch: Optional[dict] = None, dtype: str = 'float32',
                 max_cached_images: int = 512, clip_box_candidates: bool = False,
                 init_cfg=None):
        if arch is None and variant == 'custom':
            arch = SHAPES_SAM_ARCH
        super().__init__(checkpoint, variant=variant, arch=arch, dtype=dtype,
                         clip_box_candidates=clip_box_candidates, init_cfg=init_cfg)
        self.source_ann_file = source_ann_file
        self.ambiguity = ambiguity
        self.dilation = dilation
        self.seed = seed
        self.max_cached_images = max_cached_images
        with open(source_ann_file, encoding='utf-8-sig') as f:
            source = json.load(f)
        self._images = {img['id']: img for img in source['images']}
        self._anns = {ann['id']: ann for ann in source['annotations']}
        self._anns_of = defaultdict(list)
        for ann in source['annotations']:
            if not ann.get('iscrowd', 0):
                self._anns_of[ann['image_id']].append(ann['id'])
        self._objects = OrderedDict()  # img_id -> (ann ids, candidates, iou, truth index)

    def _where(self, data_sample) -> str:
        return (f"image {data_sample.img_id} ({data_sample.metainfo.get('img_path', '?')}) "
                f'of the weak labels, against {self.source_ann_file}')

    def image_objects(self, data_sample) -> tuple:
        """The image's objects in its original frame: (ann ids, candidates (m, 3, H, W)
        bool, IoU (m, 3), the true mask's index (m,))."""
        img_id = data_sample.img_id
        if img_id in self._objects:
            self._objects.move_to_end(img_id)
            return self._objects[img_id]
        img = self._images.get(img_id)
        if img is None:
            raise OracleError(f'{self._where(data_sample)}: the source file has no such image; '
                              'give model.teacher.source_ann_file the file the weak labels '
                              'were converted from')
        h, w = img['height'], img['width']
        if tuple(data_sample.ori_shape[:2]) != (h, w):
            raise OracleError(f'{self._where(data_sample)}: the image is '
                              f'{data_sample.ori_shape[0]}x{data_sample.ori_shape[1]} but the '
                              f'source file says {h}x{w} (height x width)')
        ids = list(self._anns_of[img_id])
        for ann_id in data_sample.metainfo.get('ann_ids', []):
            ann = self._anns.get(int(ann_id))
            if ann is None or ann['image_id'] != img_id or 'segmentation' not in ann:
                raise OracleError(f'{self._where(data_sample)}: annotation {int(ann_id)} has no '
                                  'mask in the source file; the oracle teacher needs the masks '
                                  'the weak labels were made from')
            if int(ann_id) not in ids:
                ids.append(int(ann_id))
        if not ids and data_sample.metainfo.get('label_type') != 'mask':
            raise OracleError(f'{self._where(data_sample)}: the source file has no mask of '
                              'this image; the oracle teacher cannot answer for it')
        masks = torch.from_numpy(np.stack([
            ann_to_mask(self._anns[i]['segmentation'], h, w) for i in ids])) \
            if ids else torch.zeros((0, h, w), dtype=torch.bool)
        cands, ious, truth = [], [], []
        for j, ann_id in enumerate(ids):
            if self.ambiguity:
                rng = np.random.default_rng([self.seed, int(img_id), int(ann_id)])
                c, iou, t = ambiguous_candidates(masks, j, rng, self.dilation)
            else:
                c, iou, t = masks[j].expand(3, -1, -1), torch.ones(3), 0
            cands.append(c)
            ious.append(iou)
            truth.append(t)
        out = (ids, torch.stack(cands) if ids else torch.zeros((0, 3, h, w), dtype=torch.bool),
               torch.stack(ious) if ids else torch.zeros((0, 3)),
               torch.tensor(truth, dtype=torch.long))
        self._objects[img_id] = out
        while len(self._objects) > self.max_cached_images:
            self._objects.popitem(last=False)
        return out

    @torch.no_grad()
    def candidates(self, data_sample, kind: str, prompts: Tensor, ids: Optional[Tensor],
                   batch_hw: Tuple[int, int], cache=None,
                   embedding: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """The true objects' candidates (n, 3, *batch_hw) and IoU (n, 3), brought into
        the batch frame by mmdet's ``homography_matrix`` as the cache's masks are (each
        pixel takes the source pixel under its centre)."""
        ann_ids, cands, iou, truth = self.image_objects(data_sample)
        homography = torch.as_tensor(homography_of(data_sample), dtype=torch.float32)
        batch = self.cached_candidates(cands, homography, batch_hw)
        if ids is not None:
            labelled = data_sample.metainfo['ann_ids']
            rows = [ann_ids.index(int(labelled[int(i)])) for i in ids.tolist()]
        else:
            rows = self.objects_at(batch[torch.arange(len(batch)), truth], prompts)
        out_masks = batch.new_zeros((len(rows), 3) + tuple(batch_hw))
        out_iou = iou.new_zeros((len(rows), 3))
        for n, r in enumerate(rows):
            if r is not None:
                out_masks[n], out_iou[n] = batch[r], iou[r]
        return out_masks, out_iou

    @staticmethod
    def objects_at(masks: Tensor, points: Tensor) -> list:
        """For each (x, y) point, the index of the (m, H, W) mask under it (the smallest,
        where masks overlap), else of the nearest non-empty mask, else None."""
        h, w = masks.shape[-2:]
        areas = masks.flatten(1).sum(1)
        out = []
        for x, y in points.tolist():
            col, row = min(max(int(x), 0), w - 1), min(max(int(y), 0), h - 1)
            under = [j for j in range(len(masks)) if masks[j, row, col]]
            if under:
                out.append(min(under, key=lambda j: int(areas[j])))
                continue
            best, best_d = None, None
            for j in range(len(masks)):
                ys, xs = masks[j].nonzero(as_tuple=True)
                if len(ys):
                    d = float(((xs + 0.5 - x) ** 2 + (ys + 0.5 - y) ** 2).min())
                    if best_d is None or d < best_d:
                        best, best_d = j, d
            out.append(best)
        return out
