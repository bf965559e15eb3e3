"""Backbones: EfficientNet-Lite0 with ImageNet weights for real photos, and the
ResNet pretraining on shape crops (the synthetic shapes' stand-in for ImageNet)."""
from .efficientnet_lite import EfficientNetLite0
from .shapes_pretraining import CropClassifier, PretrainConfig, pretrain_backbone

__all__ = ['CropClassifier', 'EfficientNetLite0', 'PretrainConfig', 'pretrain_backbone']
