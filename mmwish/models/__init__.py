from .losses import prompt_kl, prompt_kl_matrix
from .task_modules import PromptKLCost, SAMMaskCost

__all__ = ['PromptKLCost', 'SAMMaskCost', 'prompt_kl', 'prompt_kl_matrix']
