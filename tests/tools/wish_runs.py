"""Helpers for the end-to-end WISH runs of tests/tools: a tiny hetero dataset, a derived
config written to a temporary folder, a recorder hook and the tools' command lines."""
import json
import os
import socket
import subprocess

from ..conftest import PYTHON, REPO, TINY, run_env  # noqa: F401 (PYTHON re-exported)

TINY_WISH = f'{REPO}/configs/wish/wish_r18_tiny_shapes_hetero.py'

# A hook importable by the runs (the folder is put on PYTHONPATH): it records, on every
# rank, each iteration's losses as the model returned them, the images of the batch, digests
# of the torch, numpy and random states before the step (after its batch is loaded) and
# the iteration the WISH warm-up reads (MessageHub 'iter'), and writes them at the end of
# the run to <work_dir>/rank<r>_<pid>.json.
RECORDER = '''
import hashlib
import json
import os
import os.path as osp
import random

import numpy as np
import torch
from mmengine.hooks import Hook
from mmengine.logging import MessageHub
from mmengine.registry import HOOKS


@HOOKS.register_module()
class RankRecorderHook(Hook):
    priority = 'VERY_LOW'

    def __init__(self):
        self.iters = []

    def before_train_iter(self, runner, batch_idx, data_batch=None):
        def digest(x):
            return hashlib.md5(repr(x).encode()).hexdigest()[:8]
        np_state = np.random.get_state()
        self.rng = dict(torch=digest(torch.get_rng_state().tolist()),
                        numpy=digest([np_state[1].tolist(), np_state[2:]]),
                        random=digest(random.getstate()),
                        inputs=digest([float(x.double().sum()) for x in data_batch['inputs']]))

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        self.iters.append(dict(rng_before=self.rng,
            iter=runner.iter + 1, hub_iter=int(MessageHub.get_current_instance().get_info('iter')),
            img_ids=[int(s.img_id) for s in data_batch['data_samples']],
            se_active=bool(getattr(getattr(runner.model, 'module', runner.model), 'se_active',
                                   lambda: False)()),
            losses={k: float(v) for k, v in outputs.items()}))

    def after_run(self, runner):
        path = osp.join(runner.work_dir, f'rank{runner.rank}_{os.getpid()}.json')
        with open(path, 'w') as f:
            json.dump(dict(rank=runner.rank, world_size=runner.world_size, iters=self.iters), f)
'''


def hetero_data(root):
    """12 shapes images as 4 tag, 4 point and 4 box images; returns the data folder."""
    from mmwish.datasets.converters.weak_budget import convert_to_weak
    from mmwish.datasets.synthetic_shapes import ShapesConfig, generate
    data = root / 'shapes'
    generate(str(data), ShapesConfig(seed=3, num_train=12, num_val=2))
    with open(data / 'annotations' / 'instances_train.json') as f:
        coco = json.load(f)
    weak, _ = convert_to_weak(coco, dict(tag=4, point=4, box=4), seed=0)
    with open(data / 'annotations' / 'instances_train_hetero.json', 'w') as f:
        json.dump(weak, f)
    return data


def write_config(folder, data, tiny_ckpt, extra=''):
    """A config inheriting the tiny WISH config: tiny SAM, data in ``data``, no
    validation, CPU-sized loader, a checkpoint and a log line every iteration."""
    (folder / 'rank_recorder.py').write_text(RECORDER)
    config = folder / 'wish_tiny.py'
    config.write_text(
        f"_base_ = ['{TINY_WISH}']\n"
        "custom_imports = dict(imports=['mmwish', 'rank_recorder'], allow_failed_imports=False)\n"
        f"model = dict(panoptic_head=dict(prompt_dim={TINY['prompt_embed_dim']}),\n"
        f"             teacher=dict(checkpoint='{tiny_ckpt}', arch={TINY!r}),\n"
        # pseudo points from the first step: every image of these few steps trains the head
        "             pseudo_point_warmup=0)\n"
        "train_dataloader = dict(batch_size=1, num_workers=0, persistent_workers=False,\n"
        f"                        dataset=dict(data_root='{data}/'))\n"
        "val_cfg = None\nval_dataloader = None\nval_evaluator = None\n"
        "test_cfg = None\ntest_dataloader = None\ntest_evaluator = None\n"
        "train_cfg = dict(max_iters=2)\n"
        "default_hooks = dict(checkpoint=dict(interval=1, max_keep_ckpts=-1),\n"
        "                     logger=dict(interval=1))\n"
        "custom_hooks = [dict(type='RankRecorderHook')]\n"
        "randomness = dict(seed=0)\n" + extra)
    return config


def env_for(folder):
    env = run_env()
    env['PYTHONPATH'] = os.pathsep.join([str(folder), env['PYTHONPATH']])
    return env


def free_port():
    with socket.socket() as s:
        s.bind(('127.0.0.1', 0))
        return s.getsockname()[1]


def train_cmd(config, work_dir, *args):
    return [PYTHON, f'{REPO}/tools/train.py', str(config), '--work-dir', str(work_dir), *args]


def run(cmd, folder, timeout=600, **env):
    proc = subprocess.run(cmd, cwd=str(folder), env=dict(env_for(folder), **env),
                          capture_output=True, text=True, timeout=timeout)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-6000:]
    return out


def records(work_dir):
    """The recorder's files of a work dir, by rank (each rank writes one per run)."""
    out = {}
    for path in sorted(work_dir.glob('rank*_*.json')):
        rec = json.loads(path.read_text())
        out.setdefault(rec['rank'], []).append(rec)
    return out
