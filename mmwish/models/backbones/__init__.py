"""Backbone pretraining for the synthetic shapes (mmdet's ResNet on shape crops)."""
from .shapes_pretraining import CropClassifier, PretrainConfig, pretrain_backbone

__all__ = ['CropClassifier', 'PretrainConfig', 'pretrain_backbone']
