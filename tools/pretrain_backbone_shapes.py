"""Pretrain the tiny configs' ResNet-18 on single-object shape crops (12 classes, images
of another seed than the benchmark's): the synthetic shapes' stand-in for ImageNet.

    python tools/pretrain_backbone_shapes.py --out work_dirs/backbone/resnet18_shapes.pth
    # then, for any tiny config:
    python tools/train.py CONFIG --cfg-options model.backbone.init_cfg.type=Pretrained \
        model.backbone.init_cfg.checkpoint=work_dirs/backbone/resnet18_shapes.pth

The checkpoint holds the backbone's state dict only (mmdet ResNet keys; loads with
weights_only=True); a JSON provenance file is written next to it (the command, seed,
held-out crop accuracy, sha256 of the checkpoint). The demo's backbone, shipped in
checkpoints/ (ResNet-18 at half width, stored in fp16, 5.4 MiB):

    python tools/pretrain_backbone_shapes.py --base-channels 32 --fp16 \
        --out checkpoints/resnet18_half_shapes.pth
"""
import argparse
import datetime
import hashlib
import json
import os
import os.path as osp
import platform
import shlex
import sys

import torch

from mmwish.models.backbones.shapes_pretraining import PretrainConfig, pretrain_backbone


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', required=True,
                   help='checkpoint to write (refused if it exists, unless --overwrite)')
    p.add_argument('--iters', type=int, default=PretrainConfig.iters)
    p.add_argument('--batch-size', type=int, default=PretrainConfig.batch_size)
    p.add_argument('--num-images', type=int, default=PretrainConfig.num_images)
    p.add_argument('--lr', type=float, default=PretrainConfig.lr)
    p.add_argument('--seed', type=int, default=PretrainConfig.seed)
    p.add_argument('--base-channels', type=int, default=PretrainConfig.base_channels,
                   help="ResNet's width (64: standard; 32: half, the demo's)")
    p.add_argument('--fp16', action='store_true',
                   help='store the weights in fp16 (half the file; they load into fp32)')
    p.add_argument('--threads', type=int, default=0, help='torch threads (0: torch default)')
    p.add_argument('--overwrite', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.out) and not args.overwrite:
        raise SystemExit(f'error: {args.out} exists; pass --overwrite to replace it')
    if args.threads:
        torch.set_num_threads(args.threads)
    cfg = PretrainConfig(iters=args.iters, batch_size=args.batch_size,
                         num_images=args.num_images, lr=args.lr, seed=args.seed,
                         base_channels=args.base_channels)
    state, report = pretrain_backbone(cfg, log=lambda s: print(s, flush=True))
    if args.fp16:
        # BN's num_batches_tracked stays an integer
        state = {k: v.half() if v.is_floating_point() else v for k, v in state.items()}
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, args.out)
    with open(args.out, 'rb') as f:
        sha256 = hashlib.sha256(f.read()).hexdigest()
    report.update(
        command='python tools/pretrain_backbone_shapes.py ' + shlex.join(sys.argv[1:]),
        config=vars(cfg), dtype='float16' if args.fp16 else 'float32',
        num_values=sum(v.numel() for v in state.values() if v.is_floating_point()),
        bytes=osp.getsize(args.out), sha256=sha256, torch=torch.__version__,
        machine=f'{platform.machine()}, {os.cpu_count()} cores, '
                f'{torch.get_num_threads()} threads',
        date=datetime.date.today().isoformat())
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
