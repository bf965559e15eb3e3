from .prompt_kl import PromptKLLoss, prompt_kl, prompt_kl_matrix

__all__ = ['PromptKLLoss', 'prompt_kl', 'prompt_kl_matrix']
