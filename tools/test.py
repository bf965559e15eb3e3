"""Test a model: MMDetection's tools/test.py, with mmwish loaded first.

    python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out FILE]
                         [--cfg-options k=v ...] [--launcher pytorch]
"""
import os.path as osp
import sys

# Run from a checkout without installing: make its mmwish importable.
_REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
if osp.isdir(osp.join(_REPO, 'mmwish')) and _REPO not in sys.path:
    sys.path.insert(0, _REPO)

try:
    import mmwish  # noqa: F401  (version checks, registration, checkpoint allow-list)
except ImportError as e:
    sys.exit(f'error: {e}')

from mmwish.apis import run_mmdet_tool  # noqa: E402

if __name__ == '__main__':
    run_mmdet_tool('test.py')
