"""The offline labeller: SAM's best-scored mask for each point or box, written as
ground truth (the way WeakSAM-style pipelines label, then train a fully supervised
model). It is WISH's baseline, and with true prompts on the validation objects it
is the teacher's ceiling: what a student that copied its teacher exactly would score.
"""
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from pycocotools import mask as mask_utils
from torch import Tensor

from ..datasets.coco_utils import encode_rle
from .sam_cache import image_prompts


class PseudoLabelError(ValueError):
    """A weak image the offline labeller cannot label."""


@torch.no_grad()
def best_masks(teacher, image_rgb: np.ndarray, points: Optional[np.ndarray] = None,
               boxes: Optional[np.ndarray] = None, device='cpu') -> Tuple[Tensor, Tensor]:
    """SAM's answer to each prompt of an original image as a mask: of its 3
    candidates, the one with the highest predicted IoU (``multimask_output`` then
    ``argmax(iou_predictions)``, SAM's own usage), thresholded at logit 0 at the
    image's resolution. Points first, then boxes. Returns (n, H, W) bool, (n,)."""
    hw = tuple(image_rgb.shape[:2])
    emb = teacher.encode_original(image_rgb, device=device)
    as_tensor = (lambda a: None if a is None or not len(a) else  # noqa: E731
                 torch.as_tensor(a, dtype=torch.float32, device=device))
    low_res, iou = teacher.decode(emb, hw, points=as_tensor(points), boxes=as_tensor(boxes))
    if not len(iou):
        return torch.zeros((0,) + hw, dtype=torch.bool), torch.zeros((0,))
    best = iou.argmax(dim=1)
    chosen = low_res[torch.arange(len(best)), best][:, None]
    masks = teacher.to_frame(chosen, hw, hw)[:, 0] > 0
    return masks.cpu(), iou.max(dim=1).values.cpu()


def mask_annotation(ann: dict, mask: np.ndarray, score: float) -> dict:
    """A COCO mask annotation in place of a weak one (its point or box dropped): the
    mask as RLE, its area and tight box, and the teacher's predicted IoU."""
    rle = encode_rle(mask)
    out = {k: v for k, v in ann.items() if k not in ('point', 'bbox')}
    out.update(segmentation=rle, area=float(mask.sum()), iscrowd=0,
               bbox=[float(v) for v in mask_utils.toBbox(dict(rle, counts=rle['counts'].encode()))],
               sam_score=round(float(score), 4))
    return out


def sam_label_file(weak: dict, data_infos: Sequence[dict], teacher, read_image: Callable,
                   device='cpu', drop_tag_images: bool = False,
                   log: Optional[Callable] = print) -> Tuple[dict, Dict[str, list]]:
    """The COCO instance file that trains a fully supervised model on SAM's masks.

    ``weak`` is a weak-label file and ``data_infos`` its images as
    :class:`~mmwish.datasets.WeakCocoDataset` parses them (checked; ``img_path``;
    instances with ``ann_id`` and ``point`` or ``bbox`` xyxy). Point and box images
    become mask images whose annotations carry :func:`best_masks`; mask images are
    kept as they are. A tag image has no prompt: it is refused unless
    ``drop_tag_images``. An annotation whose mask comes out empty is left out and
    listed in the report, as are dropped tag images.

    Returns:
        (COCO dict, report with ``empty`` annotation ids and ``dropped_tag_images``).
    """
    if not getattr(teacher, 'needs_embedding', True):
        raise PseudoLabelError(f'{type(teacher).__name__} does not decode images; the '
                               'offline labeller needs a SAM teacher (SAMTeacher)')
    raw_images = {img['id']: img for img in weak['images']}
    anns_of: Dict[int, List[dict]] = {}
    for ann in weak['annotations']:
        anns_of.setdefault(ann['image_id'], []).append(ann)
    images, annotations = [], []
    report: Dict[str, list] = dict(empty=[], dropped_tag_images=[])
    for n, info in enumerate(data_infos):
        raw = {k: v for k, v in raw_images[info['img_id']].items()
               if k not in ('label_type', 'tags')}
        label_type = info['label_type']
        if label_type == 'tag':
            if not drop_tag_images:
                raise PseudoLabelError(
                    f"image {info['img_id']} ({info['img_path']}) is a tag image: SAM needs a "
                    'point or a box to label an object; pass drop_tag_images '
                    '(--drop-tag-images) to leave tag images out')
            report['dropped_tag_images'].append(info['img_id'])
            continue
        images.append(raw)
        if label_type == 'mask':
            annotations += anns_of.get(info['img_id'], [])
            continue
        image = read_image(info['img_path'])
        if tuple(image.shape[:2]) != (info['height'], info['width']):
            raise PseudoLabelError(
                f"image {info['img_id']} ({info['img_path']}) is {image.shape[0]}x"
                f"{image.shape[1]} but its annotation says {info['height']}x{info['width']} "
                '(height x width); fix the file or the annotation')
        points, boxes = image_prompts(info)
        masks, scores = best_masks(teacher, image, points, boxes, device)
        by_id = {a['id']: a for a in anns_of.get(info['img_id'], [])}
        for inst, mask, score in zip(info['instances'], masks.numpy(), scores.tolist()):
            if not mask.any():
                report['empty'].append(inst['ann_id'])
                continue
            annotations.append(mask_annotation(by_id[inst['ann_id']], mask, score))
        if log and (n + 1) % 100 == 0:
            log(f'{n + 1}/{len(data_infos)} images labelled')
    return dict(weak, images=images, annotations=annotations), report
