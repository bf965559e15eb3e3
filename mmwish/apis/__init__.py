from .mmdet_tools import find_mmdet_tool, run_mmdet_tool

__all__ = ['find_mmdet_tool', 'run_mmdet_tool']
