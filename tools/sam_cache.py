"""Compute SAM's image-encoder outputs once per training image (mmwish.teachers.sam_cache).

    python tools/sam_cache.py CONFIG --out data/sam_cache [--workers 4] [--device cuda]
    python tools/sam_cache.py CONFIG --checkpoint sam_vit_h_4b8939.pth --variant vit_h

The dataset is the config's ``train_dataloader.dataset`` (a WeakCocoDataset) and the
teacher its ``model.teacher`` unless ``--checkpoint`` gives one. ``--workers N`` runs N
processes, one shard each (on ``cuda:k`` with ``--device cuda``); on a cluster, run one
process per shard with ``--shard K --num-shards N``. Entries already written are kept, so
an interrupted run resumes.
"""
import argparse
import json
import os.path as osp
import sys
import time

try:  # importing mmwish checks versions and registers its components
    import mmwish  # noqa: F401
except ImportError as e:
    sys.exit(f'error: {e}')

import torch  # noqa: E402
from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmwish.teachers.sam_builder import SAMCheckpointError, teacher_config  # noqa: E402
from mmwish.teachers.sam_cache import cache_shard, write_meta  # noqa: E402


def parse_args():
    p = argparse.ArgumentParser(description='Fill the offline SAM cache of a training set.')
    p.add_argument('config', help='training config (its train_dataloader.dataset is cached)')
    p.add_argument('--out', required=True, help='cache root folder')
    p.add_argument('--checkpoint', help='SAM checkpoint (default: model.teacher.checkpoint)')
    p.add_argument('--variant', help='vit_b, vit_l, vit_h, mobile_sam (alias vit_t) or custom')
    p.add_argument('--arch', type=json.loads, help='JSON dict of SAM arch overrides')
    p.add_argument('--embeddings', choices=['tag', 'all', 'none'], default='tag',
                   help='which images also store their image embedding (default: tag images)')
    p.add_argument('--workers', type=int, default=1, help='processes, one shard each')
    p.add_argument('--shard', type=int, help='run this shard only (with --num-shards)')
    p.add_argument('--num-shards', type=int, default=1)
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args()


def run_shard(shard, num_shards, args, device):
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    try:
        t_cfg = teacher_config(cfg, args.checkpoint, args.variant, args.arch)
    except SAMCheckpointError as e:
        sys.exit(f'error: {e}')
    teacher = MODELS.build(t_cfg)
    dataset_cfg = dict(cfg.train_dataloader.dataset, pipeline=[])
    dataset = DATASETS.build(dataset_cfg)
    infos = [dataset.get_data_info(i) for i in range(len(dataset))]
    folder = write_meta(args.out, teacher.checkpoint, teacher.checkpoint_hash,
                        t_cfg.get('variant', 'vit_b'), teacher.image_size)
    start = time.perf_counter()
    stats = cache_shard(teacher, infos, folder, shard, num_shards, args.embeddings, device)
    stats['seconds'] = time.perf_counter() - start
    print(f'[shard {shard}/{num_shards}] wrote {stats["images"]} images '
          f'({stats["bytes"] / max(stats["images"], 1) / 1024:.1f} KiB per image), kept '
          f'{stats["skipped"]} already there, {stats["seconds"]:.1f} s -> {folder}', flush=True)
    return stats


def _worker(shard, args):
    device = f'cuda:{shard}' if args.device == 'cuda' else args.device
    run_shard(shard, args.workers, args, device)


def main():
    args = parse_args()
    if args.shard is not None:
        run_shard(args.shard, args.num_shards, args, args.device)
    elif args.workers > 1:
        torch.multiprocessing.spawn(_worker, args=(args,), nprocs=args.workers)
    else:
        run_shard(0, 1, args, args.device)
    print(f'SAM cache ready in {osp.abspath(args.out)}')


if __name__ == '__main__':
    main()
