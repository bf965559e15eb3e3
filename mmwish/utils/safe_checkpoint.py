"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and mmengine
0.10.7 calls it without the argument, so resume and ``load_from`` fail on the
numpy objects and ``HistoryBuffer`` that a Runner saves. We keep
``weights_only=True`` and allow-list exactly those globals, nothing else.
"""
import pickle

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_REGISTERED = False


def history_buffer_getattr(obj, name):
    """Stand-in for ``builtins.getattr`` inside checkpoints.

    A pickled ``HistoryBuffer`` refers to its statistics methods as
    ``getattr(HistoryBuffer, 'mean')``. Allow-listing the real ``getattr``
    would let a checkpoint reach any attribute of any allowed object, so this
    resolves only public callables of ``HistoryBuffer`` and refuses the rest.
    """
    if obj is HistoryBuffer and not name.startswith('_'):
        attr = getattr(HistoryBuffer, name, None)
        if callable(attr):
            return attr
    raise pickle.UnpicklingError(
        f'refusing getattr({obj!r}, {name!r}) while loading a checkpoint: only public '
        'methods of mmengine.logging.HistoryBuffer may be looked up; this checkpoint '
        'carries other code and is not loaded (weights_only=True)')


def _numpy_core():
    # numpy 2 moved numpy.core to numpy._core; pickles name whichever saved them.
    try:
        from numpy._core import multiarray
    except ImportError:  # numpy < 2
        from numpy.core import multiarray
    return multiarray


def safe_globals():
    """The globals (with the names pickles use for them) that mmengine checkpoints need."""
    multiarray = _numpy_core()
    entries = []
    for func in ('scalar', '_reconstruct'):
        obj = getattr(multiarray, func)
        entries += [(obj, f'numpy._core.multiarray.{func}'),
                    (obj, f'numpy.core.multiarray.{func}')]
    entries += [np.ndarray, np.dtype, HistoryBuffer,
                (history_buffer_getattr, 'builtins.getattr')]
    # The dtype classes (numpy >= 1.25) are plain type descriptors.
    dtypes = getattr(np, 'dtypes', None)
    if dtypes is not None:
        entries += [getattr(dtypes, n) for n in dir(dtypes)
                    if n.endswith('DType') and isinstance(getattr(dtypes, n), type)]
    return entries


def register_safe_globals() -> None:
    """Allow-list :func:`safe_globals` for ``torch.load`` once per process."""
    global _REGISTERED
    if _REGISTERED or not hasattr(torch.serialization, 'add_safe_globals'):
        return
    torch.serialization.add_safe_globals(safe_globals())
    _REGISTERED = True
