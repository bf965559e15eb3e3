"""The teacher families side by side on the CPU: image encoder per 1024 px image, mask
decoder per 10 prompts, cache KiB per prompt (random weights).

    python benchmarks/sam_family_speed.py [--variants vit_b mobile_sam sam2.1_hiera_t]
        [--large]
        [--repeats 5] [--threads N] [--prompts 10] [--image-hw 480 640]

Each variant is a ``SAMTeacher`` built from a random checkpoint of its public
architecture (``--large`` adds ViT-L, ViT-H and SAM 2.1 Hiera-L). Rows, median of
``--repeats`` after a warm-up:

- encoder: ``image_embeddings`` of one image at SAM's input size (1024 px);
- decoder: ``decode`` of ``--prompts`` box prompts in one call (prompt encoder and
  mask decoder: the work a step does per image besides the encoder);
- cache: bytes of the cache entry of those prompts' candidates at the image's
  resolution (``--image-hw``, COCO's typical 480 x 640), as ``tools/sam_cache.py``
  writes it, per prompt; and of a tag image's embedding entry. Random weights give
  ragged masks, which compress worse than a trained SAM's smooth ones: an upper bound
  (``benchmarks/sam_cache_size.py`` measures smooth masks).

The cache format is the same for every family. SAM 2's decoder also reads the encoder's
stride-4 and stride-8 levels, which its embedding entry carries (4x SAM's channels).
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)

import mmwish  # noqa: E402,F401
from mmwish.teachers import SAMTeacher, build_sam_model  # noqa: E402
from mmwish.teachers.sam_builder import checkpoint_module  # noqa: E402
from mmwish.teachers.sam_cache import prompts_array, write_entry  # noqa: E402

MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def median_seconds(fn, repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def measure(variant: str, args, tmp: str) -> dict:
    torch.manual_seed(0)
    ckpt = osp.join(tmp, f'{variant}_random.pth')
    torch.save(checkpoint_module(build_sam_model(variant)).state_dict(), ckpt)
    teacher = SAMTeacher(checkpoint=ckpt, variant=variant)
    params = sum(p.numel() for p in checkpoint_module(teacher.sam).image_encoder.parameters())
    os.remove(ckpt)
    size = teacher.image_size
    image = torch.randn(1, 3, size, size)
    encoder_s = median_seconds(lambda: teacher.image_embeddings(image, MEAN, STD), args.repeats)

    # the prompts on an image of --image-hw, as the cache tool sees it
    h, w = args.image_hw
    g = torch.Generator().manual_seed(1)
    xy = torch.rand(args.prompts, 2, generator=g) * torch.tensor([w, h]) * 0.7
    wh = torch.rand(args.prompts, 2, generator=g) * torch.tensor([w, h]) * 0.3 + 8
    boxes = torch.cat([xy, xy + wh], dim=1)
    rgb = np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)
    emb = teacher.encode_original(rgb)
    decoder_s = median_seconds(lambda: teacher.decode(emb, (h, w), boxes=boxes), args.repeats)
    low, iou = teacher.decode(emb, (h, w), boxes=boxes)
    masks = teacher.to_frame(low, (h, w), (h, w)) > 0
    entry = write_entry(tmp, f'{variant}_masks', prompts_array(None, boxes.numpy()),
                        masks=masks, iou=iou)
    embedding = write_entry(tmp, f'{variant}_emb', np.zeros((0, 4)), embedding=emb[0])
    return dict(variant=variant, params=params, encoder_ms=1000 * encoder_s,
                decoder_ms=1000 * decoder_s, kib_per_prompt=entry / 1024 / args.prompts,
                embedding_mib=embedding / 2 ** 20, grid=tuple(emb.shape[1:]))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--variants', nargs='+',
                   default=['vit_b', 'mobile_sam', 'sam2.1_hiera_t', 'sam2.1_hiera_b+'])
    p.add_argument('--large', action='store_true',
                   help='also vit_l, vit_h and sam2.1_hiera_l (slow)')
    p.add_argument('--repeats', type=int, default=5)
    p.add_argument('--threads', type=int, default=torch.get_num_threads())
    p.add_argument('--prompts', type=int, default=10)
    p.add_argument('--image-hw', type=int, nargs=2, default=(480, 640))
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    variants = list(args.variants) + (['vit_l', 'vit_h', 'sam2.1_hiera_l'] if args.large
                                      else [])
    rows = []
    with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
        for variant in variants:
            rows.append(measure(variant, args, tmp))
            print(f'{variant}: done', file=sys.stderr, flush=True)
    h, w = args.image_hw
    print(f'CPU, {args.threads} torch threads, random weights, median of {args.repeats}; '
          f'{args.prompts} box prompts on a {w} x {h} image; torch {torch.__version__}')
    print()
    print('| variant | encoder params (M) | encoder per 1024 px image (ms) | decoder per '
          f'{args.prompts} prompts (ms) | cache KiB per prompt | '
          'embedding entry (MiB, C x h x w) |')
    print('|---|---:|---:|---:|---:|---:|')
    for r in rows:
        grid = ' x '.join(map(str, r['grid']))
        print(f"| {r['variant']} | {r['params'] / 1e6:.1f} | {r['encoder_ms']:.0f} | "
              f"{r['decoder_ms']:.1f} | {r['kib_per_prompt']:.1f} | "
              f"{r['embedding_mib']:.2f} ({grid}) |")
    return rows


if __name__ == '__main__':
    main()
