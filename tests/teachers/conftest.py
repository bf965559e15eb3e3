import pytest

from mmwish.teachers import SAMTeacher
from tests.conftest import TINY

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]


@pytest.fixture(scope='session')
def teacher(tiny_ckpt):
    return SAMTeacher(checkpoint=tiny_ckpt, variant='custom', arch=TINY)
