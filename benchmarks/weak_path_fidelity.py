"""What a point or box label keeps on its way to the loss (METHOD.md, "Frames and
resolution"), measured on the generated shapes through the tiny configs' training
pipeline (flip, resize 0.6-1.6, crop to 128 px).

    python benchmarks/weak_path_fidelity.py [--images 60] [--seeds 3]

Latents. For every surviving point and box label, the KL (``prompt_kl``, the form of
``L_prompt``) between the latent ``SAMTeacher.targets`` trains on and SAM's encoding
of the prompt as it lies in the batch frame (0 when they are the same), beside the
KL between the original-frame encoding and the batch-frame one (the floor that
latents encoded in the original image put under ``L_prompt``) and between two
objects' latents of one image (the scale of the matching cost), the KL that the
best latent ignoring the image reaches (a prompt head that learned nothing), and for
points the KL that the best prediction knowing the object exactly reaches (the click's
randomness, which no student can predict).

Masks. A perfect teacher (``OracleTeacher``, ``ambiguity=False``) answers every box.
The reference is the object's source mask warped exactly into the batch frame (each
pixel takes the source pixel under its centre, through mmdet's homography). Mean IoU
per object with it, for all objects, small ones (under 400 px in the batch frame),
stars and circles: the weak path's target now; the same reference binarised at the
mask features' size (1/4) and read back bilinearly at 0.5, as the weak path did
before; and the mask that mmdet's own transforms give a mask image (what Mask2Former
trains on: its nearest-neighbour resize reads each pixel half a pixel off centre).
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import tempfile

import numpy as np
import torch
import torch.nn.functional as F

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config  # noqa: E402
from mmengine.dataset import Compose  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

import mmwish  # noqa: E402,F401
from mmwish.datasets.converters.weak_budget import ann_to_mask, convert_to_weak  # noqa: E402
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES, ShapesConfig, generate  # noqa: E402
from mmwish.models.losses import prompt_kl  # noqa: E402
from mmwish.teachers.sam_training import SHAPES_SAM_ARCH  # noqa: E402

CONFIG = osp.join(REPO, 'configs', 'wish', 'wish_r18_tiny_shapes_hetero.py')
SAM = osp.join(REPO, 'checkpoints', 'sam_tiny_shapes.pth')


def pipelines():
    """The tiny WISH config's training pipeline, for weak and for mask images."""
    weak = Config.fromfile(CONFIG).train_pipeline
    weak = [dict(t) for t in weak] + []
    weak.insert(len(weak) - 1, dict(type='Pad', size=(128, 128)))
    return Compose(weak)


def iou(a: torch.Tensor, b: torch.Tensor) -> float:
    union = (a | b).sum().item()
    return (a & b).sum().item() / union if union else 1.0


def exact_warp(segmentation, img: dict, homography, hw=(128, 128)) -> torch.Tensor:
    """The source mask in the batch frame: each pixel takes the source pixel under
    its centre, mapped back through the inverse homography."""
    mask = ann_to_mask(segmentation, img['height'], img['width'])
    inv = np.linalg.inv(np.asarray(homography, np.float64))
    ys, xs = np.mgrid[0:hw[0], 0:hw[1]] + 0.5
    src = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).T @ inv.T
    col, row = np.floor(src[:, 0]).astype(int), np.floor(src[:, 1]).astype(int)
    ok = (col >= 0) & (col < img['width']) & (row >= 0) & (row < img['height'])
    out = np.zeros(hw[0] * hw[1], bool)
    out[ok] = mask[row[ok], col[ok]]
    return torch.from_numpy(out.reshape(hw))


def feature_size_target(mask: torch.Tensor) -> torch.Tensor:
    """A full-resolution target binarised at 1/4 of the frame, then sampled back
    bilinearly (as ``point_sample`` reads it) and read at 0.5."""
    h, w = mask.shape
    small = F.interpolate(mask[None, None].float() * 40 - 20, (h // 4, w // 4), mode='bilinear',
                          align_corners=False) > 0
    back = F.interpolate(small.float(), (h, w), mode='bilinear', align_corners=False)
    return back[0, 0] > 0.5


def constant_floor(latents: torch.Tensor) -> float:
    """The mean ``prompt_kl`` of the best latent that ignores the image: the log of the
    targets' mean softmax, token by token (what a prompt head that learns nothing
    about where the object is can reach)."""
    best = latents.float().softmax(-1).mean(0).log()
    return prompt_kl(latents, best.expand_as(latents)).mean().item()


def object_floor(teacher, latents, sample, ids, anns, images) -> list:
    """Per point label, the KL that the best prediction knowing the object exactly,
    but not which of its pixels was clicked, reaches: the log of the mean softmax of
    the latents of every pixel centre of the object in the batch frame (``coco_to_weak
    --point-mode random`` clicks a uniform pixel)."""
    out = []
    for n, k in enumerate(ids.tolist()):
        ann = anns[int(sample.ann_ids[k])]
        ref = exact_warp(ann['segmentation'], images[ann['image_id']], sample.homography_matrix)
        ys, xs = ref.nonzero(as_tuple=True)
        if not len(xs):
            continue
        centres = torch.stack([xs, ys], dim=1).float() + 0.5
        pixels = teacher.prompt_latents(points=centres, frame_hw=(128, 128))
        best = pixels.float().softmax(-1).mean(0).log()
        out.append(prompt_kl(latents[n:n + 1], best[None]).item())
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--images', type=int, default=60)
    p.add_argument('--seeds', type=int, default=3, help='augmentations per image')
    args = p.parse_args(argv)
    init_default_scope('mmdet')
    tmp = tempfile.mkdtemp()
    generate(tmp, ShapesConfig(seed=11, num_train=args.images, num_val=1))
    source = osp.join(tmp, 'annotations', 'instances_train.json')
    coco = json.load(open(source))
    files = {}
    for kind in ('box', 'point', 'mask'):
        weak, _ = convert_to_weak(coco, {kind: args.images}, seed=0)
        files[kind] = osp.join(tmp, 'annotations', f'{kind}.json')
        json.dump(weak, open(files[kind], 'w'))
    teacher = MODELS.build(dict(type='OracleTeacher', source_ann_file=source, ambiguity=False,
                                checkpoint=SAM, arch=SHAPES_SAM_ARCH))
    pipeline = pipelines()

    def dataset(kind):
        return DATASETS.build(dict(type='WeakCocoDataset', data_root=tmp + '/',
                                   ann_file=files[kind], data_prefix=dict(img='images/'),
                                   metainfo=dict(classes=DEFAULT_CLASSES), pipeline=[]))

    kl = {k: dict(now=[], original=[], other=[], object=[]) for k in ('point', 'box')}
    seen = {k: [] for k in kl}  # every batch-frame latent, for the best constant one
    masks = {g: dict(now=[], before=[], mmdet=[]) for g in ('all', 'small', 'star', 'circle')}
    anns = {a['id']: a for a in coco['annotations']}
    images = {i['id']: i for i in coco['images']}
    datasets = {k: dataset(k) for k in files}
    for i in range(args.images):
        for seed in range(args.seeds):
            for kind in ('point', 'box'):
                info = datasets[kind].get_data_info(i)
                np.random.seed(seed)
                sample = pipeline(dict(info))['data_samples']
                out = teacher.targets(sample, (128, 128))
                if out['type'] is None or not len(out['latents']):
                    continue
                key = 'points' if kind == 'point' else 'boxes'
                prompts = sample.gt_points.points if kind == 'point' else \
                    sample.gt_instances.bboxes.tensor
                batch = teacher.prompt_latents(**{key: prompts}, frame_hw=(128, 128))
                ids = sample.gt_points.ids if kind == 'point' else \
                    sample.gt_instances.instances_ids
                original = teacher.prompt_latents(
                    **{key: torch.as_tensor(sample.ori_prompts)[ids]},
                    frame_hw=tuple(sample.ori_shape))
                kl[kind]['now'] += prompt_kl(batch, out['latents']).tolist()
                if kind == 'point':
                    kl[kind]['object'] += object_floor(teacher, batch, sample, ids, anns,
                                                       images)
                seen[kind].append(batch)
                kl[kind]['original'] += prompt_kl(batch, original).tolist()
                if len(batch) > 1:
                    kl[kind]['other'] += prompt_kl(batch, batch.roll(1, 0)).tolist()
                if kind != 'box':
                    continue
                np.random.seed(seed)
                truth = pipeline(dict(datasets['mask'].get_data_info(i)))['data_samples']
                mmdet_masks = torch.from_numpy(truth.gt_instances.masks.to_ndarray()).bool()
                mmdet_masks = F.pad(mmdet_masks, (0, 128 - mmdet_masks.shape[-1],
                                                  0, 128 - mmdet_masks.shape[-2]))
                for n, k in enumerate(ids.tolist()):
                    ann = anns[int(sample.ann_ids[k])]
                    ref = exact_warp(ann['segmentation'], images[ann['image_id']],
                                     sample.homography_matrix)
                    if not ref.any():
                        continue
                    name = DEFAULT_CLASSES[ann['category_id'] - 1]
                    groups = ['all', name] + (['small'] if ref.sum() < 400 else [])
                    mmdet_iou = max((iou(m, ref) for m in mmdet_masks), default=0.0)
                    for g in groups:
                        if g in masks:
                            masks[g]['now'].append(iou(out['masks'][n, 0], ref))
                            masks[g]['before'].append(iou(feature_size_target(ref), ref))
                            masks[g]['mmdet'].append(mmdet_iou)
    print(f'{args.images} generated images x {args.seeds} augmentations (tiny config pipeline)')
    print('\nlatents: mean KL to SAM\'s encoding of the prompt in the batch frame')
    print('| prompt | n | targets now | original-frame latent | another object | '
          'best constant latent | knowing the object, not the pixel clicked |')
    print('| --- | --- | --- | --- | --- | --- | --- |')
    for kind, v in kl.items():
        floor = f"{statistics.mean(v['object']):.4f}" if v['object'] else '0 (by definition)'
        print(f"| {kind} | {len(v['now'])} | {statistics.mean(v['now']):.4f} | "
              f"{statistics.mean(v['original']):.4f} | {statistics.mean(v['other']):.4f} | "
              f"{constant_floor(torch.cat(seen[kind])):.4f} | {floor} |")
    print('\nmasks: mean IoU with the source mask warped exactly into the batch frame')
    print('| objects | n | weak path now (perfect teacher) | binarised at 1/4 (before) | '
          'mmdet\'s mask-image target |')
    print('| --- | --- | --- | --- | --- |')
    for g, v in masks.items():
        if v['now']:
            print(f"| {g} | {len(v['now'])} | {statistics.mean(v['now']):.4f} | "
                  f"{statistics.mean(v['before']):.4f} | {statistics.mean(v['mmdet']):.4f} |")


if __name__ == '__main__':
    main()
