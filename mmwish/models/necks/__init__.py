from .cam_neck import (
           CAMNeck,
           cam_loss,
           cam_peaks,
           cam_scores,
           self_enhancement_loss,
           self_enhancement_target,
)

__all__ = ['CAMNeck', 'cam_loss', 'cam_scores', 'cam_peaks', 'self_enhancement_loss',
           'self_enhancement_target']
