"""Every kind of malformed weak-label file of ``malformed_weak_files`` is refused when the
dataset loads, with a ``WeakLabelError`` naming the file, the image and annotation, and
the field: never a crash deep inside, never a silent drop."""
import copy

import pytest

from mmwish.datasets import WeakCocoDataset, WeakLabelError

from .malformed_weak_files import KINDS
from .weak_files import base_file, write

CLASSES = ('circle', 'square', 'triangle')


def load(tmp_path, data):
    ann = write(tmp_path, data)
    return WeakCocoDataset(ann_file=ann, data_prefix=dict(img=str(tmp_path) + '/'),
                           metainfo=dict(classes=CLASSES), pipeline=[])


def test_enough_kinds_and_the_base_file_loads(tmp_path):
    assert len(KINDS) >= 20
    assert len(load(tmp_path, base_file())) == 4


@pytest.mark.parametrize('name', sorted(KINDS))
def test_malformed_file_is_refused_naming_where_and_what(tmp_path, name):
    make, where, field = KINDS[name]
    data = make(copy.deepcopy(base_file()))
    with pytest.raises(WeakLabelError) as info:
        load(tmp_path, data)
    text = str(info.value)
    assert text.startswith(str(tmp_path / 'weak.json') + ':'), text
    for part in where:
        assert part in text, (part, text)
    assert field in text, (field, text)
    # it also says what to do (or what is expected), not only what is wrong
    assert any(w in text for w in ('must', 'use', 'expected', 'needs', 'fix', 'set', 'check',
                                   'pass', 'change', 'drop', 'put', 'a weak-label file is',
                                   'ids must be', 'not among')), text
