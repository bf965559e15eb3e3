"""tools/train.py, --resume and tools/test.py on the tiny config, on CPU."""
import glob
import re
import subprocess

import torch

from ..conftest import PYTHON, REPO, TINY_CONFIG, run_env

FAST = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', 'randomness.seed=0']


def run(args, cwd):
    proc = subprocess.run([PYTHON] + args, cwd=str(cwd), env=run_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def test_train_resume_test(shapes_root):
    work = shapes_root / 'work'
    train = f'{REPO}/tools/train.py'
    out = run([train, TINY_CONFIG, '--work-dir', str(work), '--cfg-options',
               'train_cfg.max_iters=2'] + FAST, shapes_root)
    assert (work / 'iter_2.pth').is_file()
    assert re.search(r'Iter\(train\) \[2/2\].*loss: \d', out)
    first = torch.load(work / 'iter_2.pth', map_location='cpu')  # weights_only=True
    assert first['meta']['iter'] == 2

    out = run([train, TINY_CONFIG, '--work-dir', str(work), '--resume', '--cfg-options',
               'train_cfg.max_iters=4'] + FAST, shapes_root)
    assert 'resumed epoch: 0, iter: 2' in out
    assert 'Iter(train) [1/4]' not in out and 'Iter(train) [3/4]' in out
    ckpt = torch.load(work / 'iter_4.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 4
    # the resumed run continued the same optimizer state, it did not restart it
    steps = {v['step'].item() for v in ckpt['optimizer']['state'].values() if 'step' in v}
    assert steps == {4.0}

    out = run([f'{REPO}/tools/test.py', TINY_CONFIG, str(work / 'iter_4.pth'), '--work-dir',
               str(work / 'test'), '--cfg-options'] + FAST, shapes_root)
    assert re.search(r'coco/segm_mAP: \d', out) and re.search(r'coco/bbox_mAP: \d', out)
    assert glob.glob(str(work / 'test' / '*' / '*.json'))
