"""Train a model: MMDetection's tools/train.py, with mmwish loaded first.

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
                                 [--cfg-options k=v ...] [--launcher pytorch]
"""
import sys

try:  # importing mmwish checks versions, registers it and allow-lists checkpoint globals
    from mmwish.apis import run_mmdet_tool
except ImportError as e:  # mmwish.DependencyError is one
    sys.exit(f'error: {e}')

if __name__ == '__main__':
    run_mmdet_tool('train.py')
