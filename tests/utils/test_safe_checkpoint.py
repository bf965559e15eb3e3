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


class _RunsCode:
    """Unpickling it would run a shell command that writes a marker file."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f'touch {self.marker}',))


class _Custom:
    """An arbitrary class instance (not allow-listed)."""


@pytest.fixture(params=['code', 'object'])
def evil_checkpoint(request, tmp_path):
    marker = tmp_path / 'pwned'
    payload = _RunsCode(marker) if request.param == 'code' else _Custom()
    path = tmp_path / 'evil.pth'
    torch.save(dict(state_dict={'weight': torch.ones(1, 1), 'bias': torch.zeros(1)},
                    meta=dict(note=payload)), path)
    name = 'system' if request.param == 'code' else '_Custom'
    return path, marker, name


def test_mmengine_load_paths_refuse_pickled_objects(evil_checkpoint):
    """load_checkpoint (load_from) and _load_checkpoint (Runner.resume / --resume)."""
    from mmengine.runner import load_checkpoint
    from mmengine.runner.checkpoint import _load_checkpoint

    from mmwish.utils.safe_checkpoint import CheckpointRefusedError
    path, marker, name = evil_checkpoint
    for load in (lambda: load_checkpoint(torch.nn.Linear(1, 1), str(path)),
                 lambda: _load_checkpoint(str(path), map_location='cpu')):
        with pytest.raises(CheckpointRefusedError) as err:
            load()
        msg = str(err.value)
        assert msg.startswith(f'checkpoint {path} is refused: it carries pickled Python objects')
        assert name in msg and 'weights_only=True' in msg
        assert 'weights_only` set to `False' not in msg  # no advice to turn safety off
    assert not marker.exists()


def test_runner_resume_refuses_pickled_objects(evil_checkpoint, tmp_path):
    from mmengine.model import BaseModel
    from mmengine.runner import Runner

    from mmwish.utils.safe_checkpoint import CheckpointRefusedError

    class Tiny(BaseModel):
        def __init__(self):
            super().__init__()
            self.linear = torch.nn.Linear(1, 1)

        def forward(self, *args, **kwargs):
            return {}

    path, marker, name = evil_checkpoint
    runner = Runner(model=Tiny(), work_dir=str(tmp_path / 'work'), default_scope='mmengine')
    with pytest.raises(CheckpointRefusedError, match=f'{path} is refused.*{name}'):
        runner.resume(str(path))
    assert not marker.exists()


def test_sam_checkpoint_with_pickled_objects_is_refused(evil_checkpoint):
    from mmwish.teachers import build_sam_model
    from mmwish.teachers.sam_builder import SAMCheckpointError, load_sam_checkpoint

    from ..conftest import TINY
    path, marker, _ = evil_checkpoint
    sam = build_sam_model('custom', **TINY)
    with pytest.raises(SAMCheckpointError) as err:
        load_sam_checkpoint(sam, str(path), 'custom')
    msg = str(err.value)
    assert f'SAM checkpoint {path} holds pickled Python objects besides tensors' in msg
    assert 'refused (loaded with weights_only=True)' in msg and 'state_dict()' in msg
    assert not marker.exists()
