from .match_costs import PromptKLCost, SAMMaskCost

__all__ = ['PromptKLCost', 'SAMMaskCost']
