"""Time and memory of one very large photo (a 6000x4000 JPEG) in mmwish: decoded by the
training pipeline's loader, through whole training pipelines, and made into one SAM cache
entry with N box prompts (docs/weak_labels.md, "Image files").

    python benchmarks/large_image.py [--prompts 1 10] [--width 6000] [--height 4000]

Memory is the peak resident set size of this process during each step, above what it
held when the step began (Linux: ``/proc/self/clear_refs`` resets the peak). The photo
is synthetic (smooth gradients, noise, a few discs: about the entropy of a photo). The
SAM is the tests' tiny one (64 px input, random weights; tests/conftest.py): its encoder
costs nothing here, so the SAM cache row is the cost of reading the photo, preparing it
for the encoder and bringing the candidates to the photo's resolution, which any SAM
pays.
"""
import argparse
import gc
import json
import os
import os.path as osp
import sys
import tempfile
import time
import warnings

import cv2
import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

import mmwish  # noqa: E402,F401
from mmwish.teachers import SAMTeacher, build_sam_model, sam_cache  # noqa: E402
from tests.conftest import TINY  # noqa: E402

CONFIGS = ('configs/wish/wish_r18_tiny_shapes_hetero.py', 'configs/wish/wish_r50_voc_hetero.py')


def rss_mib(field: str) -> float:
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith(field + ':'):
                return int(line.split()[1]) / 1024
    raise RuntimeError(f'no {field} in /proc/self/status')


def measure(fn):
    """(seconds, peak RSS above the starting RSS in MiB, result) of ``fn()``."""
    gc.collect()
    with open('/proc/self/clear_refs', 'w') as f:
        f.write('5')  # the peak (VmHWM) restarts from the current RSS
    before = rss_mib('VmRSS')
    start = time.perf_counter()
    out = fn()
    seconds = time.perf_counter() - start
    return seconds, rss_mib('VmHWM') - before, out


def write_photo(path: str, width: int, height: int) -> None:
    rng = np.random.RandomState(0)
    ys, xs = np.mgrid[:height, :width].astype(np.float32)
    image = np.stack([xs / width * 200, ys / height * 200, (xs + ys) / (width + height) * 255],
                     axis=-1)
    image += rng.normal(0, 12, image.shape).astype(np.float32)
    for _ in range(20):
        x, y, r = rng.randint(0, width), rng.randint(0, height), rng.randint(50, 600)
        cv2.circle(image, (x, y), r, tuple(float(v) for v in rng.randint(0, 255, 3)), -1)
    cv2.imwrite(path, np.clip(image, 0, 255).astype(np.uint8), [cv2.IMWRITE_JPEG_QUALITY, 90])


def boxes(n: int, width: int, height: int) -> list:
    """n boxes spread over the photo, COCO [x, y, w, h]."""
    rng = np.random.RandomState(1)
    out = []
    for _ in range(n):
        w, h = rng.randint(width // 20, width // 3), rng.randint(height // 20, height // 3)
        out.append([int(rng.randint(0, width - w)), int(rng.randint(0, height - h)), w, h])
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--prompts', type=int, nargs='+', default=[1, 10],
                        help="box prompts of the photo's SAM cache entries (the largest: "
                        'its boxes in the pipelines)')
    parser.add_argument('--width', type=int, default=6000)
    parser.add_argument('--height', type=int, default=4000)
    parser.add_argument('--samples', type=int, default=3, help='draws per training pipeline')
    args = parser.parse_args()
    warnings.filterwarnings('ignore', 'pkg_resources')
    from mmdet.registry import DATASETS
    from mmengine.config import Config
    from mmengine.registry import TRANSFORMS, init_default_scope
    init_default_scope('mmdet')
    torch.set_num_threads(1)
    w, h = args.width, args.height
    n = max(args.prompts)
    with tempfile.TemporaryDirectory() as root:
        path = osp.join(root, 'photo.jpg')
        write_photo(path, w, h)
        ann = dict(images=[dict(id=1, file_name='photo.jpg', width=w, height=h,
                                label_type='box')],
                   annotations=[dict(id=i + 1, image_id=1, category_id=1, bbox=b)
                                for i, b in enumerate(boxes(n, w, h))],
                   categories=[dict(id=1, name='circle')])
        ann_file = osp.join(root, 'weak.json')
        with open(ann_file, 'w') as f:
            json.dump(ann, f)
        print(f'{w}x{h} JPEG of {osp.getsize(path) / 2 ** 20:.1f} MiB, {n} boxes; '
              f'{os.cpu_count()} CPUs, torch threads 1')
        print(f'  {"step":<58} {"seconds":>8} {"peak MiB":>9}')

        def dataset(pipeline):
            return DATASETS.build(dict(
                type='WeakCocoDataset', ann_file=ann_file, data_prefix=dict(img=root + '/'),
                metainfo=dict(classes=('circle',)), pipeline=pipeline))

        load = TRANSFORMS.build(dict(type='LoadImageFromFile', to_float32=True))
        info = dataset([]).get_data_info(0)
        seconds, peak, out = measure(lambda: load(dict(info)))
        assert out['img'].shape == (h, w, 3)
        print(f'  {"LoadImageFromFile(to_float32=True)":<58} {seconds:8.2f} {peak:9.0f}')
        del out
        for config in CONFIGS:
            ds = dataset(Config.fromfile(osp.join(REPO, config)).train_pipeline)
            rows = []
            for seed in range(args.samples):
                np.random.seed(seed)
                rows.append(measure(lambda ds=ds: ds[0])[:2])
            name = f'{osp.basename(config)} train_pipeline ({args.samples} draws)'
            print(f'  {name:<58} {min(r[0] for r in rows):4.2f}-{max(r[0] for r in rows):<4.2f}'
                  f' {max(r[1] for r in rows):9.0f}')

        torch.manual_seed(0)
        ckpt = osp.join(root, 'tiny_sam.pth')
        torch.save(build_sam_model('custom', **TINY).state_dict(), ckpt)
        teacher = SAMTeacher(checkpoint=ckpt, variant='custom', arch=TINY)
        folder = sam_cache.write_meta(osp.join(root, 'cache'), ckpt, teacher.checkpoint_hash,
                                      'custom', teacher.image_size)
        per_chunk = max(1, sam_cache.CHUNK_BYTES // (3 * w * h * 4))
        for prompts in args.prompts:
            entry = dict(info, img_id=prompts, instances=info['instances'][:prompts])
            seconds, peak, stats = measure(
                lambda entry=entry: sam_cache.cache_shard(teacher, [entry], folder, log=None))
            name = (f'SAM cache entry, {prompts} prompts ({min(per_chunk, prompts)} per '
                    'chunk)')
            print(f'  {name:<58} {seconds:8.2f} {peak:9.0f}   '
                  f'({stats["bytes"] / 2 ** 20:.1f} MiB entry)')


if __name__ == '__main__':
    main()
