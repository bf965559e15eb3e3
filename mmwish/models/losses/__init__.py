from .prompt_kl import prompt_kl, prompt_kl_matrix

__all__ = ['prompt_kl', 'prompt_kl_matrix']
