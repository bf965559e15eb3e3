from .shapes import ShapesDataset
from .synthetic_shapes import DEFAULT_CLASSES, ShapesConfig, generate, generate_image
from .transforms import LoadWeakAnnotations, PackWeakDetInputs, ProjectWeakLabels
from .weak_coco import LABEL_TYPES, WeakCocoDataset, WeakLabelError, WeakVOCDataset

__all__ = ['ShapesDataset', 'ShapesConfig', 'generate', 'generate_image', 'DEFAULT_CLASSES',
           'LoadWeakAnnotations', 'PackWeakDetInputs', 'ProjectWeakLabels', 'LABEL_TYPES',
           'WeakCocoDataset', 'WeakLabelError', 'WeakVOCDataset']
