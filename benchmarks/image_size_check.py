"""Seconds WeakCocoDataset takes to load a weak-label file of N images, with and without
its image-file checks (docs/weak_labels.md, "Image files").

Generates N small JPEG and PNG files (a tenth of the JPEGs carry an EXIF rotation, and
their entries the rotated size) and one tag image entry each, then loads the dataset:
``check_files=False`` (the JSON alone), ``check_image_sizes=False`` (a stat per file),
the size check with no cache (``image_size_cache=False``: one thread, then each of
``--threads``), the size check writing the cache (cold, the default threads), and
reading it (warm). The files were just written, so the OS's page cache holds them: a
cold disk adds its read latency, which this benchmark does not measure.

    python benchmarks/image_size_check.py [--images 10000] [--threads 2 8]
"""
import argparse
import json
import os
import os.path as osp
import tempfile
import time

import numpy as np
from mmengine.registry import init_default_scope
from PIL import Image

import mmwish  # noqa: F401
from mmwish.datasets import WeakCocoDataset, image_files


def make_images(folder, n):
    """N files of 48-95 px a side, alternately JPEG and PNG; a tenth of the JPEGs are
    stored turned and carry EXIF orientation 6 (one image in 20)."""
    rng = np.random.RandomState(0)
    rotate = Image.Exif()
    rotate[image_files.EXIF_ORIENTATION] = 6
    images = []
    for i in range(n):
        w, h = (int(v) for v in rng.randint(48, 96, 2))
        name = f'{i:05d}.' + ('jpg' if i % 2 == 0 else 'png')
        pixels = Image.fromarray(rng.randint(0, 255, (h, w, 3), np.uint8))
        if i % 20 == 0:  # stored h x w, shown (and loaded) w x h
            pixels.transpose(Image.Transpose.ROTATE_90).save(osp.join(folder, name),
                                                             exif=rotate)
        else:
            pixels.save(osp.join(folder, name))
        images.append(dict(id=i + 1, file_name=name, width=w, height=h, label_type='tag',
                           tags=[1]))
    return dict(images=images, annotations=[], categories=[dict(id=1, name='circle')])


def load_seconds(ann_file, folder, **kwargs):
    start = time.perf_counter()
    ds = WeakCocoDataset(ann_file=ann_file, data_prefix=dict(img=folder + '/'),
                         metainfo=dict(classes=('circle',)), pipeline=[], **kwargs)
    seconds = time.perf_counter() - start
    assert len(ds) > 0
    return seconds


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('--images', type=int, default=10000)
    parser.add_argument('--threads', type=int, nargs='+', default=[2, 8],
                        help="thread counts of the reader to time without a cache")
    args = parser.parse_args()
    init_default_scope('mmdet')
    default_threads = image_files.READ_THREADS
    with tempfile.TemporaryDirectory() as root:
        folder, cache = osp.join(root, 'images'), osp.join(root, 'cache')
        os.makedirs(folder)
        start = time.perf_counter()
        ann_file = osp.join(root, 'weak.json')
        with open(ann_file, 'w') as f:
            json.dump(make_images(folder, args.images), f)
        print(f'{args.images} images written in {time.perf_counter() - start:.1f} s')
        load_seconds(ann_file, folder, check_files=False)  # warm-up: lazy imports
        rows = [
            ('JSON only (check_files=False)', 1, dict(check_files=False)),
            ('exists (check_image_sizes=False)', 1, dict(check_image_sizes=False)),
            ('sizes, no cache, 1 thread', 1, dict(image_size_cache=False)),
            *((f'sizes, no cache, {n} threads', n, dict(image_size_cache=False))
              for n in args.threads if n != 1),
            (f'sizes, writing the cache, {default_threads} thread(s)', default_threads,
             dict(image_size_cache=cache)),
            (f'sizes, cache read (warm), {default_threads} thread(s)', default_threads,
             dict(image_size_cache=cache)),
        ]
        for name, threads, kwargs in rows:
            image_files.READ_THREADS = threads
            print(f'  {name:<40} {load_seconds(ann_file, folder, **kwargs):6.3f} s')
        cache_files = [osp.join(d, f) for d, _, fs in os.walk(cache) for f in fs]
        print(f'  cache: {sum(osp.getsize(f) for f in cache_files) / 1024:.0f} KiB; '
              f'{os.cpu_count()} CPUs; default READ_THREADS = {default_threads}')


if __name__ == '__main__':
    main()
