"""mmwish: WISH weakly supervised instance segmentation as an MMDetection 3.x plugin.

Importing it (directly or through ``custom_imports`` in a config):

1. checks the installed mmcv / mmengine / mmdet against the supported ranges
   and raises :class:`mmwish.utils.DependencyError` with one sentence on what
   to install, before mmdet's own import can fail with a bare assertion;
2. allow-lists the globals of mmengine's checkpoints for ``torch.load`` with
   ``weights_only=True`` (resume and ``load_from`` under torch >= 2.6);
3. registers every mmwish component into MMDetection's registries.
"""
from .utils.dependencies import DependencyError, check_dependencies
from .version import __version__

check_dependencies()

from .utils.safe_checkpoint import register_safe_globals  # noqa: E402

register_safe_globals()

from . import datasets, engine, models, teachers  # noqa: E402,F401  (registers components)

__all__ = ['__version__', 'DependencyError']
