from .shapes import ShapesDataset
from .synthetic_shapes import DEFAULT_CLASSES, ShapesConfig, generate, generate_image

__all__ = ['ShapesDataset', 'ShapesConfig', 'generate', 'generate_image', 'DEFAULT_CLASSES']
