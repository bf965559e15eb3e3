"""SAM's cost per training iteration, online (encoder every step) vs cached, and the
cache's size per image.

    python benchmarks/sam_teacher_speed.py [--variant vit_b] [--size 1024] [--batch 2]
        [--prompts 10] [--reps 3] [--device cpu|cuda] [--dtype float32|bfloat16]

Random weights suffice for timing. Both paths produce what a WISH step needs for a
batch of box images: latents, 3 candidates per prompt at 1/4 of the padded image, IoU.
Measured side by side, interleaved, in one process.
"""
import argparse
import os.path as osp
import statistics
import tempfile
import time

import numpy as np
import torch
from mmdet.structures import DetDataSample
from mmengine.structures import InstanceData

import mmwish  # noqa: F401
from mmwish.teachers import SAMTeacher, build_sam_model
from mmwish.teachers.sam_builder import checkpoint_module
from mmwish.teachers.sam_cache import SAMCache, prompts_array, write_entry, write_meta

MEAN, STD = (123.675, 116.28, 103.53), (58.395, 57.12, 57.375)


def sample(img_id, boxes, size):
    s = DetDataSample(metainfo=dict(img_id=img_id, label_type='box', ori_shape=(size, size),
                                    img_shape=(size, size), homography_matrix=np.eye(3),
                                    ori_prompts=boxes.numpy()))
    s.gt_instances = InstanceData(bboxes=boxes, labels=torch.zeros(len(boxes), dtype=torch.long),
                                  instances_ids=torch.arange(len(boxes)))
    return s


def sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument('--variant', default='vit_b')
    p.add_argument('--size', type=int, default=1024)
    p.add_argument('--batch', type=int, default=2)
    p.add_argument('--prompts', type=int, default=10)
    p.add_argument('--reps', type=int, default=3)
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--dtype', default='float32')
    args = p.parse_args()
    torch.manual_seed(0)
    size, dev = args.size, args.device
    with tempfile.TemporaryDirectory() as tmp:
        ckpt = osp.join(tmp, f'sam_{args.variant}_random.pth')
        torch.save(checkpoint_module(build_sam_model(args.variant)).state_dict(), ckpt)
        teacher = SAMTeacher(checkpoint=ckpt, variant=args.variant, dtype=args.dtype)
        images = torch.randn(args.batch, 3, size, size, device=dev)
        xy = torch.rand(args.batch, args.prompts, 2) * size * 0.7
        wh = torch.rand(args.batch, args.prompts, 2) * size * 0.3 + 8
        boxes = torch.cat([xy, xy + wh], dim=-1)
        samples = [sample(i, boxes[i].to(dev), size) for i in range(args.batch)]
        # the cache, as tools/sam_cache.py writes it (encoder once per image)
        folder = write_meta(tmp, ckpt, teacher.checkpoint_hash, args.variant, teacher.image_size)
        entry_bytes, emb_bytes = [], 0
        for i in range(args.batch):
            emb = teacher.image_embeddings(images[i:i + 1], MEAN, STD)
            low, iou = teacher.decode(emb, (size, size), boxes=boxes[i].to(dev))
            masks = teacher.to_frame(low, (size, size), (size, size)) > 0
            entry_bytes.append(write_entry(folder, i, prompts_array(None, boxes[i].numpy()),
                                           masks=masks, iou=iou))
            emb_bytes = write_entry(folder, f'emb{i}', np.zeros((0, 4)), embedding=emb[0])
        cache = SAMCache(tmp, teacher.checkpoint_hash)

        def online():
            embs = teacher.image_embeddings(images, MEAN, STD)
            return [teacher.targets(s, (size, size), embedding=embs[i:i + 1])
                    for i, s in enumerate(samples)]

        def cached():
            return [teacher.targets(s, (size, size), cache=cache) for s in samples]

        times = {'online': [], 'cached': []}
        for fn in (online, cached):
            fn()  # warm-up
        for _ in range(args.reps):
            for name, fn in (('online', online), ('cached', cached)):
                sync(dev)
                t = time.perf_counter()
                fn()
                sync(dev)
                times[name].append(time.perf_counter() - t)
    on, ca = statistics.median(times['online']), statistics.median(times['cached'])
    print(f'SAM {args.variant} (random weights), {size} px, batch {args.batch}, '
          f'{args.prompts} box prompts per image, {dev} {args.dtype}, median of {args.reps}:')
    print(f'  online (encoder + decoder each step) {1000 * on:10.1f} ms / iteration')
    print(f'  cached (read, unpack, warp, latents) {1000 * ca:10.1f} ms / iteration')
    print(f'  online / cached                      {on / ca:10.1f} x')
    per_prompt = statistics.mean(entry_bytes) / args.prompts
    print(f'  cache: {statistics.mean(entry_bytes) / 1024:.1f} KiB per image of {args.prompts} '
          f'prompts ({per_prompt / 1024:.1f} KiB per prompt); embedding entry (tag images) '
          f'{emb_bytes / 2**20:.2f} MiB')


if __name__ == '__main__':
    main()
