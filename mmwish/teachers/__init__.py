from .oracle_teacher import OracleTeacher
from .sam_builder import (
                          SAM_VARIANTS,
                          VARIANT_ALIASES,
                          SAMCheckpointError,
                          build_sam_model,
                          load_sam_checkpoint,
                          sam_arch,
)
from .sam_teacher import SAMTeacher

__all__ = ['OracleTeacher', 'SAM_VARIANTS', 'SAMCheckpointError', 'SAMTeacher', 'VARIANT_ALIASES',
           'build_sam_model', 'load_sam_checkpoint', 'sam_arch']
