from .wish_head import PROMPT_TYPES, WISHHead, weak_assigner_cfg

__all__ = ['PROMPT_TYPES', 'WISHHead', 'weak_assigner_cfg']
