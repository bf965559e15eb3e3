"""Let ``torch.load(weights_only=True)`` read mmengine's own checkpoints.

Since torch 2.6 ``torch.load`` defaults to ``weights_only=True`` and mmengine
0.10.7 calls it without the argument, so resume and ``load_from`` fail on the
numpy objects and ``HistoryBuffer`` that a Runner saves. We keep
``weights_only=True`` and allow-list exactly those globals, nothing else.
A checkpoint that carries any other pickled object is refused with
:class:`CheckpointRefusedError`, naming the file and the object.
"""
import os.path as osp
import pickle
import re

import numpy as np
import torch
from mmengine.logging import HistoryBuffer

_REGISTERED = False


class CheckpointRefusedError(pickle.UnpicklingError):
    """A checkpoint holds pickled Python objects beyond tensors and mmengine's state."""


def refused(path, error: Exception) -> CheckpointRefusedError:
    """The clear error for a checkpoint that ``torch.load(weights_only=True)`` refused."""
    found = re.search(r'GLOBAL ([\w.]+)', str(error))
    detail = f'it names {found.group(1)}' if found else str(error).split('\n')[0][:200]
    return CheckpointRefusedError(
        f'checkpoint {path} is refused: it carries pickled Python objects besides tensors '
        f'and mmengine\'s training state ({detail}). Checkpoints are loaded with '
        'weights_only=True so that a file cannot run code; use a checkpoint saved by '
        'mmengine or torch.save(model.state_dict(), path), or re-save this one from a '
        'trusted session with its state dict alone')


def load_from_local(filename, map_location):
    """mmengine's loader of local checkpoints (``load_checkpoint``, ``load_from``,
    ``--resume``) with ``weights_only=True`` and a clear refusal."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(f'{filename} can not be found.')
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        raise refused(filename, e) from None


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
    from mmengine.runner import CheckpointLoader
    # replaces mmengine's own loader for local paths (prefix ''): it calls torch.load with
    # the same default (weights_only) but passes on torch's message, which advises
    # turning the check off
    CheckpointLoader.register_scheme(prefixes='', force=True)(load_from_local)
    _REGISTERED = True
