from .sam_builder import (
                          SAM_VARIANTS,
                          SAMCheckpointError,
                          build_sam_model,
                          load_sam_checkpoint,
                          sam_arch,
)
from .sam_teacher import SAMTeacher

__all__ = ['SAM_VARIANTS', 'SAMCheckpointError', 'SAMTeacher', 'build_sam_model',
           'load_sam_checkpoint', 'sam_arch']
