from .wish import WISH

__all__ = ['WISH']
