"""torch.load keeps weights_only=True and still reads mmengine's checkpoints."""
import io
import os
import pickle
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from mmengine.logging import HistoryBuffer, MessageHub

import mmwish  # noqa: F401  (registers the allow-list)
from mmwish.utils.safe_checkpoint import history_buffer_getattr

REPO = Path(__file__).resolve().parents[2]


def roundtrip(obj):
    buf = io.BytesIO()
    torch.save(obj, buf)
    buf.seek(0)
    return torch.load(buf)  # default: weights_only=True


def test_default_is_weights_only():
    # Guard against an environment that turned it off globally.
    assert os.environ.get('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD') in (None, '0')
    with pytest.raises(pickle.UnpicklingError):
        roundtrip({'x': HistoryBufferLike()})


class HistoryBufferLike:
    """A class that is not allow-listed."""


def test_mmengine_objects_load():
    hub = MessageHub.get_instance('mmwish_test_hub')
    for v in (1.5, 2.5, 4.0):
        hub.update_scalar('train/loss', v)
    hub.update_info('iter', np.int64(7))
    meta = dict(epoch=0, iter=np.int64(7), seed=np.int32(3), lr=np.float32(0.1),
                flag=np.bool_(True), arr=np.arange(4, dtype=np.float64),
                dataset_meta=dict(classes=('a', 'b'), palette=[(1, 2, 3)]))
    ckpt = dict(meta=meta, message_hub=hub.state_dict(), state_dict={'w': torch.ones(2)})
    out = roundtrip(ckpt)
    assert out['meta']['iter'] == 7 and out['meta']['seed'].dtype == np.int32
    np.testing.assert_array_equal(out['meta']['arr'], np.arange(4.0))
    buf = out['message_hub']['log_scalars']['train/loss']
    assert isinstance(buf, HistoryBuffer)
    assert buf.mean() == pytest.approx(8.0 / 3) and buf.current() == 4.0
    assert torch.equal(out['state_dict']['w'], torch.ones(2))


class _EvilGetattr:
    """Pickles as getattr(os, 'system')('echo pwned')."""

    def __reduce__(self):
        return (os.system, ('echo pwned',))


def test_code_in_checkpoint_is_refused():
    with pytest.raises(pickle.UnpicklingError, match='posix.system|os.system|not an allowed'):
        roundtrip({'x': _EvilGetattr()})


def test_getattr_substitute_allows_only_history_buffer_methods():
    assert history_buffer_getattr(HistoryBuffer, 'mean') is HistoryBuffer.mean
    for obj, name in [(HistoryBuffer, '__init__'), (HistoryBuffer, '_log_history'),
                      (os, 'system'), (HistoryBuffer, 'max_length')]:
        with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
            history_buffer_getattr(obj, name)


class _Getattr:
    def __init__(self, obj, name):
        self.obj, self.name = obj, name

    def __reduce__(self):
        return (getattr, (self.obj, self.name))


@pytest.mark.parametrize('obj,name', [(HistoryBuffer, '__init__'), (np.ndarray, 'tofile')])
def test_getattr_on_other_objects_is_refused_while_loading(obj, name):
    with pytest.raises(pickle.UnpicklingError, match='refusing getattr'):
        roundtrip({'x': _Getattr(obj, name)})


def test_no_code_turns_weights_only_off():
    pattern = re.compile(r'weights_only\s*=\s*False|TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD\s*=')
    offenders = [str(p) for d in ('mmwish', 'tools', 'configs')
                 for p in (REPO / d).rglob('*.py')
                 if '.mim' not in p.parts and pattern.search(p.read_text())]
    assert offenders == []
