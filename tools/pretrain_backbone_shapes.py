"""Pretrain the tiny configs' ResNet-18 on single-object shape crops (12 classes, images
of another seed than the benchmark's): the synthetic shapes' stand-in for ImageNet.

    python tools/pretrain_backbone_shapes.py --out work_dirs/backbone/resnet18_shapes.pth
    # then, for any tiny config:
    python tools/train.py CONFIG --cfg-options model.backbone.init_cfg.type=Pretrained \
        model.backbone.init_cfg.checkpoint=work_dirs/backbone/resnet18_shapes.pth

The checkpoint holds the backbone's state dict only (mmdet ResNet keys; loads with
weights_only=True); a JSON report with the held-out crop accuracy is written next to it.
"""
import argparse
import json
import os
import os.path as osp

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
                         num_images=args.num_images, lr=args.lr, seed=args.seed)
    state, report = pretrain_backbone(cfg, log=lambda s: print(s, flush=True))
    os.makedirs(osp.dirname(osp.abspath(args.out)), exist_ok=True)
    tmp = args.out + '.tmp'
    torch.save(state, tmp)
    os.replace(tmp, args.out)
    report.update(config=vars(cfg), torch=torch.__version__)
    with open(osp.splitext(args.out)[0] + '.json', 'w') as f:
        json.dump(report, f, indent=1)
    print(json.dumps(report, indent=1))
    print(f'wrote {args.out}')


if __name__ == '__main__':
    main()
