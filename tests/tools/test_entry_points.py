"""The ways a user starts mmwish: mim, torchrun launchers, a built wheel."""
import os
import os.path as osp
import shutil
import subprocess
import zipfile

import pytest

from ..conftest import PYTHON, REPO, TINY_CONFIG, run_env
from .test_train_test import FAST

BIN = osp.dirname(PYTHON)


def user_env():
    """A user's shell: the environment's bin first, nothing of this checkout on the path."""
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONUNBUFFERED='1',
               PATH=BIN + os.pathsep + os.environ.get('PATH', ''))
    env.pop('PYTHONPATH', None)
    return env


def check(proc):
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    return proc.stdout + proc.stderr


def test_mim_train_from_outside_the_checkout(shapes_root):
    """`mim train mmwish <config name>` finds config and tools in the installed package."""
    work = shapes_root / 'mim_work'
    proc = subprocess.run(
        [osp.join(BIN, 'mim'), 'train', 'mmwish', osp.basename(TINY_CONFIG), '--gpus', '0',
         '--work-dir', str(work), '--cfg-options', 'train_cfg.max_iters=2'] + FAST,
        cwd=str(shapes_root), env=user_env(), capture_output=True, text=True, timeout=900)
    out = check(proc)
    assert 'Training finished successfully' in out
    assert (work / 'iter_2.pth').is_file()


@pytest.mark.parametrize('procs', [2])
def test_dist_train_and_test_scripts(shapes_root, procs):
    work = shapes_root / 'dist_work'
    env = dict(run_env(), PYTHON=PYTHON, PORT='29731')
    out = check(subprocess.run(
        ['bash', f'{REPO}/tools/dist_train.sh', TINY_CONFIG, str(procs), '--work-dir', str(work),
         '--cfg-options', 'train_cfg.max_iters=2'] + FAST,
        cwd=str(shapes_root), env=env, capture_output=True, text=True, timeout=900))
    assert 'Distributed launcher: pytorch' in out or 'distributed: True' in out
    assert (work / 'iter_2.pth').is_file()
    out = check(subprocess.run(
        ['bash', f'{REPO}/tools/dist_test.sh', TINY_CONFIG, str(work / 'iter_2.pth'), str(procs),
         '--work-dir', str(work / 'test'), '--cfg-options'] + FAST,
        cwd=str(shapes_root), env=env, capture_output=True, text=True, timeout=900))
    assert 'coco/segm_mAP' in out


def test_wheel_ships_configs_and_tools(tmp_path):
    """A plain (non-editable) build copies configs/ and tools/ into mmwish/.mim."""
    src = tmp_path / 'src'
    shutil.copytree(REPO, src, ignore=shutil.ignore_patterns(
        '.venv', '.git', 'data', 'work_dirs', '*.egg-info', 'build', '.mim', '__pycache__',
        '.pytest_cache', '.ruff_cache'))
    check(subprocess.run(
        [PYTHON, '-m', 'pip', 'wheel', '--no-deps', '--no-build-isolation', '-q', '-w',
         str(tmp_path / 'dist'), str(src)], capture_output=True, text=True, timeout=600))
    wheel, = (tmp_path / 'dist').glob('mmwish-*.whl')
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in ['mmwish/__init__.py',
                     'mmwish/.mim/configs/mask2former/mask2former_r18_tiny_shapes.py',
                     'mmwish/.mim/tools/train.py', 'mmwish/.mim/tools/test.py',
                     'mmwish/.mim/tools/dist_train.sh',
                     'mmwish/.mim/tools/dataset_converters/make_shapes.py']:
        assert expected in names
    assert not any(n.startswith(('tests/', 'configs/', 'tools/')) for n in names)

    # Installed plainly (to a target folder), mim resolves the package there.
    target = tmp_path / 'site'
    check(subprocess.run([PYTHON, '-m', 'pip', 'install', '--no-deps', '-q', '--target',
                          str(target), str(wheel)], capture_output=True, text=True, timeout=600))
    code = ('import mmwish, os.path as osp; from mim.utils import get_installed_path; '
            'p = get_installed_path("mmwish"); print(osp.dirname(mmwish.__file__) == p, '
            'osp.isfile(osp.join(p, ".mim", "tools", "train.py")))')
    env = dict(user_env(), PYTHONPATH=str(target))
    proc = subprocess.run([PYTHON, '-c', code], cwd=str(tmp_path), env=env,
                          capture_output=True, text=True, timeout=300)
    check(proc)
    assert proc.stdout.split() == ['True', 'True']
