import os
import os.path as osp
import sys

import pytest

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
TINY_CONFIG = osp.join(REPO, 'configs', 'mask2former', 'mask2former_r18_tiny_shapes.py')


@pytest.fixture(scope='session')
def shapes_root(tmp_path_factory):
    """A small generated shapes dataset, laid out as the tiny config expects it
    (``<root>/data/shapes``), so commands run with ``cwd=<root>`` find it."""
    from mmwish.datasets.synthetic_shapes import ShapesConfig, generate
    root = tmp_path_factory.mktemp('shapes_run')
    generate(str(root / 'data' / 'shapes'), ShapesConfig(seed=3, num_train=12, num_val=6))
    return root


def run_env():
    """Environment for subprocesses: single-threaded, quiet, this repo importable."""
    env = dict(os.environ)
    env.update(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1', PYTHONUNBUFFERED='1')
    env['PYTHONPATH'] = os.pathsep.join([REPO] + [p for p in [env.get('PYTHONPATH')] if p])
    return env


PYTHON = sys.executable
