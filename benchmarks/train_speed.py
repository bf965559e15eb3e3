"""WISH's training step against Mask2Former's, side by side in one run.

    python benchmarks/train_speed.py [--steps 10] [--rounds 3] [--batch 4] [--device cpu|cuda]
        [--amp] [--sam-checkpoint checkpoints/sam_tiny_shapes.pth | --random-sam]
        [--m2f-config ...] [--wish-config ...] [--cfg-options k=v ...]

Equal batch, images, image size, backbone and optimizer: Mask2Former trains on the
images' masks, WISH on the same images labelled a third each by tags, points and
boxes. Three variants: Mask2Former, WISH with the SAM cache (built here first), WISH
with SAM's encoder online. Each step is MMEngine's ``train_step`` (preprocessing,
forward, backward, optimizer) on a fixed batch, so data loading is left out of both.
Steps run as iteration ``--iter`` of training (default: the first after WISH's
warm-ups), so tag images take CAM pseudo points decoded by SAM and ``L_se`` is on, as
in most of a run. Rounds interleave the variants; the figure is the median step time.
Peak memory:
``torch.cuda.max_memory_allocated`` on a GPU; on the CPU the growth of the peak RSS
over the process's RSS before the first step, each variant in its own process.
"""
import argparse
import copy
import json
import os
import os.path as osp
import resource
import statistics
import subprocess
import sys
import tempfile
import time

import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.config import Config, DictAction
from mmengine.dataset import pseudo_collate
from mmengine.logging import MessageHub
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope

import mmwish  # noqa: F401
from mmwish.datasets.converters.weak_budget import convert_to_weak
from mmwish.datasets.synthetic_shapes import ShapesConfig, generate
from mmwish.teachers.sam_builder import build_sam_model, checkpoint_module
from mmwish.teachers.sam_cache import cache_shard, write_meta

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
VARIANTS = ('mask2former', 'wish_cached', 'wish_online')


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--m2f-config', default=osp.join(
        REPO, 'configs/mask2former/mask2former_r18_tiny_shapes.py'))
    p.add_argument('--wish-config', default=osp.join(
        REPO, 'configs/wish/wish_r18_tiny_shapes_hetero.py'))
    p.add_argument('--sam-checkpoint', help='default: the WISH config\'s teacher checkpoint')
    p.add_argument('--random-sam', action='store_true',
                   help='a SAM of the config\'s architecture with random weights (timing only)')
    p.add_argument('--batch', type=int, default=4)
    p.add_argument('--steps', type=int, default=10)
    p.add_argument('--rounds', type=int, default=3)
    p.add_argument('--warmup', type=int, default=2)
    p.add_argument('--iter', type=int, default=None,
                   help='training iteration the steps run as (default: after the warm-ups)')
    p.add_argument('--device', default='cuda' if torch.cuda.is_available() else 'cpu')
    p.add_argument('--amp', action='store_true', help='AmpOptimWrapper (GPU)')
    p.add_argument('--data', help='work folder (default: a temporary one)')
    p.add_argument('--cfg-options', nargs='+', action=DictAction, default={},
                   help='applied to both configs')
    p.add_argument('--memory-of', choices=VARIANTS, help=argparse.SUPPRESS)
    return p.parse_args(argv)


def prepare_data(root, batch, sam_ckpt, wish_cfg):
    """Shapes, the hetero weak file and the SAM cache in ``root``."""
    shapes = osp.join(root, 'shapes')
    if not osp.isfile(osp.join(shapes, 'annotations', 'instances_train.json')):
        generate(shapes, ShapesConfig(seed=0, num_train=max(batch, 3), num_val=1))
    with open(osp.join(shapes, 'annotations', 'instances_train.json')) as f:
        coco = json.load(f)
    n = len(coco['images'])
    counts = dict(tag=n // 3, point=n // 3, box=n - 2 * (n // 3))
    weak, _ = convert_to_weak(coco, counts, seed=0)
    with open(osp.join(shapes, 'annotations', 'instances_train_hetero.json'), 'w') as f:
        json.dump(weak, f)
    cache = osp.join(root, 'sam_cache')
    cfg = load_cfg(wish_cfg, shapes, sam_ckpt, None, {})
    teacher = MODELS.build(cfg.model.teacher)
    ds = DATASETS.build(dict(cfg.train_dataloader.dataset, pipeline=[]))
    folder = write_meta(cache, teacher.checkpoint, teacher.checkpoint_hash, 'custom',
                        teacher.image_size)
    cache_shard(teacher, [ds.get_data_info(i) for i in range(len(ds))], folder, log=None)
    return shapes, cache


def load_cfg(path, shapes, sam_ckpt, cache, options):
    cfg = Config.fromfile(path)
    cfg.merge_from_dict(options)
    for key in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        cfg[key].dataset.data_root = shapes + '/'
    if cfg.model.get('teacher'):
        cfg.model.teacher.checkpoint = sam_ckpt
        cfg.model.sam_cache = cache
    return cfg


def after_warmups(wish_cfg):
    """The first iteration with pseudo points and ``L_se`` on."""
    model = Config.fromfile(wish_cfg).model
    se = model.get('self_enhancement') or {}
    return max(model.get('pseudo_point_warmup', 0), se.get('warmup_iters', 0))


def build(variant, args, shapes, sam_ckpt, cache):
    path = args.m2f_config if variant == 'mask2former' else args.wish_config
    cfg = load_cfg(path, shapes, sam_ckpt, cache if variant == 'wish_cached' else None,
                   args.cfg_options)
    init_default_scope('mmdet')
    torch.manual_seed(0)
    model = MODELS.build(cfg.model).to(args.device)
    model.init_weights()
    model.train()
    # WISH reads its warm-ups from the runner's iteration
    MessageHub.get_current_instance().update_info('iter', args.iter)
    optim_cfg = copy.deepcopy(cfg.optim_wrapper)
    if args.amp:
        optim_cfg.update(type='AmpOptimWrapper', dtype='float16')
    optim = build_optim_wrapper(model, optim_cfg)
    ds = DATASETS.build(cfg.train_dataloader.dataset)
    torch.manual_seed(0)
    import numpy as np
    np.random.seed(0)
    batch = pseudo_collate([ds[i] for i in range(args.batch)])
    return model, optim, batch


def sync(device):
    if torch.device(device).type == 'cuda':
        torch.cuda.synchronize()


def timed_steps(model, optim, batch, steps, device):
    times = []
    for _ in range(steps):
        sync(device)
        start = time.perf_counter()
        model.train_step(copy.deepcopy(batch), optim)
        sync(device)
        times.append(time.perf_counter() - start)
    return times


def rss_mib():
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


def measure_memory(args, shapes, sam_ckpt, cache):
    """Peak memory of one variant's steps (this process runs that variant only)."""
    model, optim, batch = build(args.memory_of, args, shapes, sam_ckpt, cache)
    if torch.device(args.device).type == 'cuda':
        timed_steps(model, optim, batch, 1, args.device)
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        timed_steps(model, optim, batch, 3, args.device)
        print(json.dumps(dict(peak_mib=(torch.cuda.max_memory_allocated() - base) / 2**20)))
    else:
        base = rss_mib()
        timed_steps(model, optim, batch, 3, args.device)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        print(json.dumps(dict(peak_mib=peak - base)))


def main(argv=None):
    args = parse_args(argv)
    if args.iter is None:
        args.iter = after_warmups(args.wish_config)
    if args.sam_checkpoint is None and not args.random_sam:
        args.sam_checkpoint = Config.fromfile(args.wish_config).model.teacher.checkpoint
        if not osp.isfile(args.sam_checkpoint):
            raise SystemExit(f'error: {args.sam_checkpoint} does not exist; pass '
                             '--sam-checkpoint PATH or --random-sam')
    with tempfile.TemporaryDirectory() as tmp:
        root = args.data or tmp
        sam_ckpt = args.sam_checkpoint
        if args.random_sam:
            arch = Config.fromfile(args.wish_config).model.teacher
            sam_ckpt = osp.join(root, 'sam_random.pth')
            torch.manual_seed(0)
            torch.save(checkpoint_module(build_sam_model(
                arch.get('variant', 'vit_b'), **(arch.get('arch') or {}))).state_dict(), sam_ckpt)
        if args.memory_of:
            measure_memory(args, osp.join(root, 'shapes'), sam_ckpt,
                           osp.join(root, 'sam_cache'))
            return
        shapes, cache = prepare_data(root, args.batch, sam_ckpt, args.wish_config)
        built = {v: build(v, args, shapes, sam_ckpt, cache) for v in VARIANTS}
        for v in VARIANTS:
            timed_steps(*built[v], args.warmup, args.device)
        times = {v: [] for v in VARIANTS}
        for _ in range(args.rounds):
            for v in VARIANTS:
                times[v] += timed_steps(*built[v], args.steps, args.device)
        med = {v: statistics.median(t) for v, t in times.items()}
        del built
        memory = {}
        for v in VARIANTS:
            cmd = [sys.executable, __file__, '--memory-of', v, '--data', root, '--batch',
                   str(args.batch), '--device', args.device, '--m2f-config', args.m2f_config,
                   '--wish-config', args.wish_config, '--sam-checkpoint', sam_ckpt]
            if args.amp:
                cmd.append('--amp')
            cmd += ['--iter', str(args.iter)]
            if args.cfg_options:
                cmd += ['--cfg-options'] + [f'{k}={v}' for k, v in args.cfg_options.items()]
            out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
            memory[v] = json.loads(out.strip().splitlines()[-1])['peak_mib']
    device = torch.cuda.get_device_name() if args.device.startswith('cuda') else \
        f'CPU ({os.cpu_count()} cores, {torch.get_num_threads()} threads)'
    print(f'device: {device}; batch {args.batch}; {args.rounds} rounds x {args.steps} steps '
          f'at iteration {args.iter}{"; AMP fp16" if args.amp else ""}')
    print(f'{"variant":<14} {"step (ms)":>10} {"ratio":>7} {"peak mem (MiB)":>15} {"ratio":>7}')
    for v in VARIANTS:
        print(f'{v:<14} {med[v] * 1000:>10.1f} {med[v] / med["mask2former"]:>7.3f} '
              f'{memory[v]:>15.1f} {memory[v] / memory["mask2former"]:>7.3f}')


if __name__ == '__main__':
    main()
