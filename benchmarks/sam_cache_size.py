"""Bytes per prompt of the SAM cache's candidates: format 2 (SAM's masks at the image's
resolution, bit-packed, zip-compressed; ``write_entry``) against format 1 (binarised
at SAM's low resolution L = S/4, bit-packed, stored uncompressed), side by side.

    python benchmarks/sam_cache_size.py [--images 40]

Small SAM: the committed shapes SAM (S = 128) on generated shapes images (128-160 px),
one box prompt per object, its real candidates. 1024 px SAM: no public weights can be
had here, so its candidates are stood in for by the oracle teacher's (the object, a
half of it, a superset: smooth masks as SAM's are) on shapes images rendered at
COCO's typical 480 x 640; format 1 holds 3 masks of 256 x 256 whatever they are.
"""
import argparse
import os
import os.path as osp
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from mmwish.datasets.synthetic_shapes import ShapesConfig, generate_image  # noqa: E402
from mmwish.teachers.oracle_teacher import ambiguous_candidates  # noqa: E402
from mmwish.teachers.sam_cache import prompts_array, write_entry  # noqa: E402
from mmwish.teachers.sam_teacher import SAMTeacher  # noqa: E402
from mmwish.teachers.sam_training import SHAPES_SAM_ARCH  # noqa: E402


def format1_bytes(folder: str, name: str, prompts: np.ndarray, low_res: torch.Tensor,
                  iou: torch.Tensor) -> int:
    """The size of a format-1 entry: (n, 3, L, L) bits packed, ``np.savez`` (no zip)."""
    path = osp.join(folder, f'{name}.npz')
    bits = (low_res > 0).cpu().numpy()
    np.savez(path, prompts=prompts, masks=np.packbits(bits, axis=-1),
             mask_size=np.asarray(bits.shape[-1], np.int64),
             iou=iou.cpu().numpy().astype(np.float16))
    return osp.getsize(path)


def boxes_of(masks: np.ndarray) -> np.ndarray:
    out = []
    for m in masks:
        ys, xs = np.nonzero(m)
        out.append([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1])
    return np.asarray(out, np.float32)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=40)
    args = p.parse_args(argv)
    tmp = tempfile.mkdtemp()
    teacher = SAMTeacher(osp.join(REPO, 'checkpoints', 'sam_tiny_shapes.pth'), variant='custom',
                         arch=SHAPES_SAM_ARCH)
    sizes = {k: [0, 0, 0] for k in ('small', 'large')}  # format 1 bytes, format 2, prompts
    small, large = ShapesConfig(seed=3), ShapesConfig(seed=3, min_size=480, max_size=640)
    for i in range(args.images):
        image, objects = generate_image(small, 'train', i)
        masks = np.stack([m for _, m in objects])
        boxes = boxes_of(masks)
        hw = image.shape[:2]
        emb = teacher.encode_original(image[..., ::-1].copy())
        low, iou = teacher.decode(emb, hw, boxes=torch.from_numpy(boxes))
        full = teacher.to_frame(low, hw, hw) > 0
        sizes['small'][0] += format1_bytes(tmp, f's1_{i}', prompts_array(None, boxes), low, iou)
        sizes['small'][1] += write_entry(tmp, f's2_{i}', prompts_array(None, boxes), full, iou)
        sizes['small'][2] += len(boxes)

        image, objects = generate_image(large, 'train', i)
        masks = torch.from_numpy(np.stack([m for _, m in objects]))
        rng = np.random.default_rng(i)
        cands, ious = zip(*[ambiguous_candidates(masks, j, rng, 0.15)[:2]
                            for j in range(len(masks))])
        cands, ious = torch.stack(cands), torch.stack(ious)
        boxes = boxes_of(masks.numpy())
        h, w = masks.shape[-2:]
        square = F.pad(cands.float(), (0, max(h, w) - w, 0, max(h, w) - h))
        low = F.interpolate(square, (256, 256), mode='bilinear', align_corners=False) - 0.5
        sizes['large'][0] += format1_bytes(tmp, f'l1_{i}', prompts_array(None, boxes), low, ious)
        sizes['large'][1] += write_entry(tmp, f'l2_{i}', prompts_array(None, boxes), cands, ious)
        sizes['large'][2] += len(boxes)
    print(f'{args.images} images; mean KiB per prompt (3 candidates, IoU, prompt; zip headers '
          'shared out)')
    print('| SAM | images | prompts | format 1 (low-res, raw) | format 2 (image res., zip) |')
    print('| --- | --- | --- | --- | --- |')
    for name, what in (('small', 'small shapes SAM (S = 128, L = 32), 128-160 px'),
                       ('large', '1024 px SAM (L = 256), 480-640 px, oracle stand-in')):
        f1, f2, n = sizes[name]
        print(f'| {what} | {args.images} | {n} | {f1 / n / 1024:.2f} | {f2 / n / 1024:.2f} |')
    for f in os.listdir(tmp):
        os.remove(osp.join(tmp, f))
    os.rmdir(tmp)


if __name__ == '__main__':
    main()
