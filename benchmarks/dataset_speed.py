"""Time per sample: WeakCocoDataset + the weak LSJ pipeline vs CocoDataset + mmdet's.

All read the same generated images: the weak file gives a quarter of them to
each label type (tag, point, box, mask); a second WeakCocoDataset reads the plain
COCO file (all mask images), the like-for-like case. Measured side by side,
interleaved in rounds, in one process; ratios are to CocoDataset (target <= 1.0).

    python benchmarks/dataset_speed.py [--images 200] [--size 512] [--rounds 3]
"""
import argparse
import json
import os.path as osp
import statistics
import tempfile
import time

import numpy as np
from mmdet.registry import DATASETS
from mmengine.registry import init_default_scope

import mmwish  # noqa: F401
from mmwish.datasets.converters.weak_budget import convert_to_weak
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES, ShapesConfig, generate


def lsj(image_size, load, filter_by_mask, extra=(), pack='PackDetInputs',
        filter_type='FilterAnnotations'):
    """MMDetection's Mask2Former LSJ training pipeline, with the loading and packing given."""
    return [
        dict(type='LoadImageFromFile', to_float32=True),
        load,
        dict(type='RandomFlip', prob=0.5),
        dict(type='RandomResize', scale=image_size, ratio_range=(0.1, 2.0),
             resize_type='Resize', keep_ratio=True),
        dict(type='RandomCrop', crop_size=image_size, crop_type='absolute',
             recompute_bbox=True, allow_negative_crop=True),
        dict(type=filter_type, min_gt_bbox_wh=(1e-5, 1e-5), by_mask=filter_by_mask),
        *extra,
        dict(type=pack),
    ]


def time_dataset(dataset, n):
    start = time.perf_counter()
    for i in range(n):
        dataset[i % len(dataset)]
    return (time.perf_counter() - start) / n


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=200)
    parser.add_argument('--size', type=int, default=512, help='image and LSJ crop size')
    parser.add_argument('--rounds', type=int, default=3)
    args = parser.parse_args()
    init_default_scope('mmdet')
    with tempfile.TemporaryDirectory() as root:
        cfg = ShapesConfig(seed=0, num_train=args.images, num_val=1, min_size=args.size,
                           max_size=args.size, max_instances=8)
        coco_file = generate(root, cfg)['train']
        coco = json.load(open(coco_file))
        quarter = args.images // 4
        weak, _ = convert_to_weak(coco, dict(tag=quarter, point=quarter, box=quarter,
                                             mask=args.images - 3 * quarter), seed=0)
        weak_file = osp.join(root, 'weak.json')
        json.dump(weak, open(weak_file, 'w'))
        size = (args.size, args.size)
        common = dict(data_root=root, data_prefix=dict(img='images/'),
                      metainfo=dict(classes=DEFAULT_CLASSES), filter_cfg=None)
        weak_pipeline = lsj(size, dict(type='LoadWeakAnnotations', with_bbox=True,
                                       with_mask=True), True,
                            extra=[dict(type='ProjectWeakLabels')], pack='PackWeakDetInputs',
                            filter_type='FilterWeakAnnotations')
        datasets = {
            'CocoDataset': DATASETS.build(dict(
                type='CocoDataset', ann_file=coco_file, **common,
                pipeline=lsj(size, dict(type='LoadAnnotations', with_bbox=True,
                                        with_mask=True), True))),
            'WeakCocoDataset, masks': DATASETS.build(dict(
                type='WeakCocoDataset', ann_file=coco_file, **common, pipeline=weak_pipeline)),
            'WeakCocoDataset, mix': DATASETS.build(dict(
                type='WeakCocoDataset', ann_file=weak_file, **common, pipeline=weak_pipeline)),
        }
        times = {name: [] for name in datasets}
        for r in range(args.rounds):
            for name, ds in datasets.items():
                np.random.seed(r)
                time_dataset(ds, 10)  # warm-up (file cache, lazy imports)
                np.random.seed(r)
                times[name].append(time_dataset(ds, args.images))
    print(f'{args.images} images of {args.size}x{args.size}, LSJ crop {args.size}, '
          f'{args.rounds} rounds (median):')
    med = {name: statistics.median(t) for name, t in times.items()}
    for name, t in med.items():
        print(f'  {name:<24} {1000 * t:7.2f} ms / sample   ratio to CocoDataset '
              f'{t / med["CocoDataset"]:.3f}')


if __name__ == '__main__':
    main()
