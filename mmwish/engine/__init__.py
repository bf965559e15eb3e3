"""Runner extensions: hooks registered in MMDetection's ``HOOKS`` registry."""
from .hooks import RNGStateHook

__all__ = ['RNGStateHook']
