from mmdet.datasets import CocoDataset
from mmdet.registry import DATASETS

from .synthetic_shapes import DEFAULT_CLASSES


@DATASETS.register_module()
class ShapesDataset(CocoDataset):
    """The synthetic shapes (:mod:`mmwish.datasets.synthetic_shapes`) as a COCO dataset.

    Only the metainfo differs from ``CocoDataset``; a dataset generated with
    other ``--classes`` passes ``metainfo=dict(classes=...)``.
    """
    METAINFO = dict(
        classes=DEFAULT_CLASSES,
        palette=[(220, 20, 60), (0, 130, 200), (60, 180, 75), (255, 225, 25),
                 (145, 30, 180), (245, 130, 48)])
