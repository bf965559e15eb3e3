import pytest

from mmwish.teachers import SAMTeacher
from tests.conftest import TINY

MEAN, STD = [123.675, 116.28, 103.53], [58.395, 57.12, 57.375]
# flip, resize, crop: weak labels through mmdet's LSJ-like transforms at 96 px
LSJ = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=1.0),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.8, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96), allow_negative_crop=True),
    dict(type='ProjectWeakLabels'),
]


@pytest.fixture(scope='session')
def teacher(tiny_ckpt):
    return SAMTeacher(checkpoint=tiny_ckpt, variant='custom', arch=TINY)
