"""Run MMDetection's own command-line tools with mmwish loaded.

``tools/train.py`` and ``tools/test.py`` of mmwish are MMDetection's, unchanged:
same arguments (``--work-dir``, ``--resume``, ``--amp``, ``--cfg-options``,
``--launcher``, ...) and behaviour. mmwish only has to be imported first, so
that its components are registered and checkpoints load with
``weights_only=True``.
"""
import os.path as osp
import runpy
import sys


def find_mmdet_tool(name: str) -> str:
    """Path of ``tools/<name>`` of the installed mmdet.

    A wheel ships them in ``mmdet/.mim/tools``; a source checkout has them in
    ``tools/`` beside the package.
    """
    import mmdet
    pkg = osp.dirname(osp.abspath(mmdet.__file__))
    for candidate in (osp.join(pkg, '.mim', 'tools', name),
                      osp.join(osp.dirname(pkg), 'tools', name)):
        if osp.isfile(candidate):
            return candidate
    raise FileNotFoundError(
        f'MMDetection\'s tools/{name} is not in {pkg}/.mim/tools nor beside the package; '
        'reinstall mmdet from a wheel (pip install --force-reinstall "mmdet>=3.3,<3.4")')


def launcher_of(argv) -> str:
    """The value of ``--launcher`` in a tool's command line (``'none'`` if absent)."""
    for i, arg in enumerate(argv):
        if arg == '--launcher' and i + 1 < len(argv):
            return argv[i + 1]
        if arg.startswith('--launcher='):
            return arg.split('=', 1)[1]
    return 'none'


def init_cpu_distributed(argv) -> bool:
    """Start a gloo process group for ``--launcher pytorch`` on a machine without CUDA.

    mmengine 0.10.7's pytorch launcher calls ``torch.cuda.set_device`` whatever
    the backend, so CPU processes (tests, debugging, CPU clusters) cannot start.
    mmengine skips its own initialisation when a process group exists, so we
    create it first from torchrun's environment. Returns whether it did.
    """
    import torch
    import torch.distributed as dist
    if (launcher_of(argv) != 'pytorch' or torch.cuda.is_available()
            or not dist.is_available() or dist.is_initialized()):
        return False
    dist.init_process_group(backend='gloo')
    return True


def check_amp(argv) -> None:
    """Refuse ``--amp`` without an accelerator in one line.

    mmengine's ``AmpOptimWrapper`` asserts deep inside the Runner that it runs
    on a GPU, NPU, MLU or MUSA device.
    """
    from mmengine.device import get_device
    if '--amp' in argv and get_device() == 'cpu':
        raise SystemExit('error: --amp needs a GPU (mmengine\'s AmpOptimWrapper has no CPU '
                         'mode); drop --amp to train on the CPU')


def shutdown_distributed() -> None:
    """Destroy the default process group once every rank has finished.

    mmdet's tools leave it alive, and a gloo group torn down at interpreter
    exit may abort the process (``terminate called without an active
    exception``, SIGABRT) after a successful run. Called only on success: a
    barrier with a rank that failed would hang.
    """
    import torch.distributed as dist
    if dist.is_available() and dist.is_initialized():
        dist.barrier()
        dist.destroy_process_group()


def run_mmdet_tool(name: str) -> None:
    """Run mmdet's ``tools/<name>`` as ``__main__`` with the current ``sys.argv``."""
    path = find_mmdet_tool(name)
    check_amp(sys.argv)
    init_cpu_distributed(sys.argv)
    sys.argv[0] = path
    runpy.run_path(path, run_name='__main__')
    shutdown_distributed()
