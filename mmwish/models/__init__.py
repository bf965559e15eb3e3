from . import layers  # noqa: F401  (autocast-safe deformable attention)
from .backbones import CropClassifier, EfficientNetLite0
from .dense_heads import PROMPT_TYPES, WISHHead
from .detectors import WISH
from .losses import PromptKLLoss, prompt_kl, prompt_kl_matrix
from .necks import CAMNeck
from .task_modules import PromptKLCost, SAMMaskCost

__all__ = ['CAMNeck', 'CropClassifier', 'EfficientNetLite0', 'PROMPT_TYPES', 'PromptKLCost',
           'PromptKLLoss', 'SAMMaskCost', 'WISH', 'WISHHead', 'prompt_kl', 'prompt_kl_matrix']
