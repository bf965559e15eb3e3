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


def run_mmdet_tool(name: str) -> None:
    """Run mmdet's ``tools/<name>`` as ``__main__`` with the current ``sys.argv``."""
    path = find_mmdet_tool(name)
    sys.argv[0] = path
    runpy.run_path(path, run_name='__main__')
