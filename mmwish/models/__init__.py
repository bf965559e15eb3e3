from .losses import prompt_kl, prompt_kl_matrix
from .necks import CAMNeck
from .task_modules import PromptKLCost, SAMMaskCost

__all__ = ['CAMNeck', 'PromptKLCost', 'SAMMaskCost', 'prompt_kl', 'prompt_kl_matrix']
