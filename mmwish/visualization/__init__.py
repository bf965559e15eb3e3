from .overlays import coco_overlays, draw_instances, overview_sheet, side_by_side

__all__ = ['coco_overlays', 'draw_instances', 'overview_sheet', 'side_by_side']
