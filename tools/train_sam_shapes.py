"""Train the small SAM teacher of the shapes configs, from scratch, on shapes of other
classes than the benchmark's, and report its mIoU for point and box prompts.

    python tools/train_sam_shapes.py --out checkpoints/sam_tiny_shapes.pth --stop-at 1500
    python tools/train_sam_shapes.py --eval-only checkpoints/sam_tiny_shapes.pth
    python tools/train_sam_shapes.py --init OLD.pth --decoder-only --iters 1000 --out NEW.pth

The checkpoint is a plain state dict (loads with weights_only=True); a JSON report
with the figures is written next to it. Same seed, same machine: the same weights.
"""
import argparse
import json
import os
import os.path as osp
import time

import torch

from mmwish.teachers.sam_builder import build_sam_model, file_sha256, read_sam_state_dict
from mmwish.teachers.sam_training import SHAPES_SAM_ARCH, SAMTrainConfig, evaluate_both, train_sam


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', help='checkpoint to write (refused if it exists, unless --overwrite)')
    p.add_argument('--iters', type=int, default=SAMTrainConfig.iters)
    p.add_argument('--batch-size', type=int, default=SAMTrainConfig.batch_size)
    p.add_argument('--lr', type=float, default=SAMTrainConfig.lr)
    p.add_argument('--seed', type=int, default=SAMTrainConfig.seed)
    p.add_argument('--warmup', type=int, default=SAMTrainConfig.warmup)
    p.add_argument('--init', metavar='CKPT', help='start from this checkpoint (its JSON report, '
                   'if any, is kept in the new one)')
    p.add_argument('--decoder-only', action='store_true',
                   help='train the mask decoder only (image and prompt encoders frozen)')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    p.add_argument('--stop-at', type=int, default=0,
                   help='stop the --iters schedule after this many iterations')
    p.add_argument('--save-interval', type=int, default=500,
                   help='also write the checkpoint every N iterations')
    p.add_argument('--eval-images', type=int, default=200)
    p.add_argument('--eval-only', metavar='CKPT', help='only evaluate this checkpoint')
    p.add_argument('--overwrite', action='store_true')
    return p.parse_args(argv)


def save(sam, path):
    os.makedirs(osp.dirname(osp.abspath(path)), exist_ok=True)
    tmp = path + '.tmp'
    torch.save(sam.state_dict(), tmp)
    os.replace(tmp, path)


def main(argv=None):
    args = parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.eval_only:
        sam = build_sam_model('custom', **SHAPES_SAM_ARCH)
        sam.load_state_dict(read_sam_state_dict(args.eval_only))
        print(json.dumps(evaluate_both(sam.eval(), args.eval_images), indent=1))
        return
    if not args.out:
        raise SystemExit('error: give --out PATH (or --eval-only CKPT)')
    if osp.exists(args.out) and not args.overwrite:
        raise SystemExit(f'error: {args.out} exists; pass --overwrite to replace it')
    cfg = SAMTrainConfig(iters=args.iters, batch_size=args.batch_size, lr=args.lr,
                         seed=args.seed, warmup=args.warmup)
    init = read_sam_state_dict(args.init) if args.init else None
    start = time.time()
    sam = train_sam(cfg, on_checkpoint=lambda s, it: save(s, args.out),
                    checkpoint_interval=args.save_interval, stop_at=args.stop_at, init=init,
                    decoder_only=args.decoder_only)
    minutes = (time.time() - start) / 60
    save(sam, args.out)
    report = dict(config=vars(cfg), arch=SHAPES_SAM_ARCH, train_minutes=round(minutes, 1),
                  threads=torch.get_num_threads(),
                  eval=evaluate_both(sam, args.eval_images))
    report['config']['classes'] = list(cfg.classes)
    report['config']['stop_at'] = args.stop_at
    report['config']['decoder_only'] = args.decoder_only
    if args.init:
        report['init'] = dict(checkpoint=args.init, sha256=file_sha256(args.init))
        init_report = osp.splitext(args.init)[0] + '.json'
        if osp.isfile(init_report):
            with open(init_report) as f:
                report['init']['report'] = json.load(f)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report['eval'], indent=1))
    print(f'wrote {args.out} ({osp.getsize(args.out) / 2**20:.1f} MiB) after {minutes:.1f} min')


if __name__ == '__main__':
    main()
