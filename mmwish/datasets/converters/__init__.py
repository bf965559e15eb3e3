"""Dataset converters: VOC 2012 + SBD to COCO, and COCO to weak labels by a budget.

Plain numpy / pycocotools code (no mmdet or mmengine), used by the scripts in
``tools/dataset_converters``.
"""
from .voc_sbd import VOC_CLASSES
from .voc_sbd import convert as convert_voc_sbd
from .weak_budget import (
    DEFAULT_COSTS,
    LABEL_TYPES,
    allocate,
    assign_label_types,
    convert_to_weak,
    plan,
)

__all__ = ['VOC_CLASSES', 'convert_voc_sbd', 'DEFAULT_COSTS', 'LABEL_TYPES', 'allocate',
           'assign_label_types', 'convert_to_weak', 'plan']
