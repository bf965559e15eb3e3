from .overlays import coco_overlays, draw_instances, side_by_side

__all__ = ['coco_overlays', 'draw_instances', 'side_by_side']
