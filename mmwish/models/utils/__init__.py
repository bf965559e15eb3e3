from .finite_losses import NonFiniteLossError, check_finite_losses

__all__ = ['NonFiniteLossError', 'check_finite_losses']
