"""Import-time behaviour of the package: version checks and registration."""
import subprocess
import sys

import pytest

import mmwish
from mmwish.utils import DependencyError, check_dependencies
from mmwish.utils.dependencies import SUPPORTED

from .conftest import REPO, run_env


def fake_versions(**versions):
    real = {'mmcv': '2.1.0', 'mmengine': '0.10.7', 'mmdet': '3.3.0'}
    real.update(versions)
    return lambda dist: real[dist]


def test_version():
    assert mmwish.__version__.count('.') == 2


def test_supported_versions_pass():
    check_dependencies(fake_versions())
    check_dependencies()  # the installed stack itself


@pytest.mark.parametrize('dist,version,expect', [
    ('mmcv', '2.2.0', 'mmwish needs mmcv>=2.0.0,<2.2.0 but mmcv 2.2.0 is installed: '
     'build mmcv 2.1.0 with ops'),
    ('mmcv', '1.7.2', 'but mmcv 1.7.2 is installed'),
    ('mmdet', '2.28.2', 'mmwish needs mmdet>=3.3.0,<3.4.0 but mmdet 2.28.2 is installed: '
     'run `pip install "mmdet>=3.3.0,<3.4.0"`'),
    ('mmengine', '1.0.0', 'mmengine 1.0.0 is installed'),
    ('mmdet', None, 'but mmdet is not installed'),
])
def test_wrong_version_one_sentence(dist, version, expect):
    with pytest.raises(DependencyError) as info:
        check_dependencies(fake_versions(**{dist: version}))
    message = str(info.value)
    assert expect in message
    # One sentence: a single line ending in one full stop.
    assert '\n' not in message and message.endswith('.') and message.count('. ') == 0


def test_every_supported_range_is_checked():
    assert [s[0] for s in SUPPORTED] == ['mmcv', 'mmengine', 'mmdet']


FAKE_MMCV = """
import importlib.metadata as m
real = m.version
m.version = lambda d: '2.2.0' if d == 'mmcv' else real(d)
import runpy, sys
sys.argv = ['tools/train.py', 'whatever.py']
runpy.run_path('tools/train.py', run_name='__main__')
"""


def test_faked_mmcv_version_gives_one_line_without_traceback():
    """What a user with mmcv 2.2 sees from tools/train.py: one line, no traceback."""
    proc = subprocess.run([sys.executable, '-c', FAKE_MMCV], cwd=REPO, env=run_env(),
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        'error: mmwish needs mmcv>=2.0.0,<2.2.0 but mmcv 2.2.0 is installed: build mmcv '
        '2.1.0 with ops: run `bash tools/setup_env.sh` (see README, "Install").')


def test_faked_version_raises_on_import():
    code = ("import importlib.metadata as m; real = m.version; "
            "m.version = lambda d: '3.4.1' if d == 'mmdet' else real(d); import mmwish")
    proc = subprocess.run([sys.executable, '-c', code], env=run_env(), cwd=REPO,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode != 0
    assert 'mmwish.utils.dependencies.DependencyError: mmwish needs mmdet>=3.3.0,<3.4.0 ' \
        'but mmdet 3.4.1 is installed' in proc.stderr
