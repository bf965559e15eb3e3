import numpy as np
from mmdet.datasets.transforms import LoadAnnotations
from mmdet.registry import TRANSFORMS


@TRANSFORMS.register_module()
class LoadWeakAnnotations(LoadAnnotations):
    """``LoadAnnotations`` for :class:`WeakCocoDataset`'s four label types.

    Besides what ``LoadAnnotations`` loads it adds ``label_type``, ``gt_tags``
    (class indices, int64) and, for point images, ``gt_points`` ((N, 2) float32,
    x-y in the original image) with ``gt_points_labels``. Points stay in the
    original frame until :class:`ProjectWeakLabels` maps them, once, through the
    ``homography_matrix`` that MMDetection's geometric transforms compose.

    - ``mask`` images: exactly ``LoadAnnotations``.
    - ``box`` images: boxes, labels and, with ``with_mask``, each box rasterised
      as a filled rectangle, so that mask-aware transforms (``RandomCrop`` with
      ``recompute_bbox``, ``FilterAnnotations`` with ``by_mask``) keep the boxes
      right. ``label_type`` tells the model that these masks are boxes.
    - ``point`` and ``tag`` images: empty boxes, labels and masks.

    Weak instances also get their index in the image's label list
    (``gt_instances_ids`` for boxes, ``gt_points_ids`` for points), which
    ``RandomCrop``, :class:`FilterWeakAnnotations` and :class:`ProjectWeakLabels`
    keep in step: the SAM cache stores candidates in that order. The labels'
    original geometry stays in ``ori_prompts`` ((n, 2) points or (n, 4) boxes),
    with which the SAM cache's entries are checked. ``ann_ids`` are the annotations'
    ids in the same order (an oracle teacher finds the source masks by them; the
    student never sees those masks).
    """

    def transform(self, results: dict) -> dict:
        label_type = results.setdefault('label_type', 'mask')
        instances = results.get('instances', [])
        results['gt_tags'] = np.asarray(results.get('tags', []), dtype=np.int64)
        if label_type == 'mask':
            return super().transform(results)
        if label_type == 'box':
            geometric = [dict(inst, mask=[box_polygon(inst['bbox'])]) for inst in instances]
        else:
            geometric = []
        if label_type == 'point':
            results['gt_points'] = np.asarray(
                [inst['point'] for inst in instances], dtype=np.float32).reshape(-1, 2)
            results['gt_points_labels'] = np.asarray(
                [inst['bbox_label'] for inst in instances], dtype=np.int64)
            results['gt_points_ids'] = np.arange(len(instances), dtype=np.int64)
        results['instances'] = geometric
        results = super().transform(results)
        results['instances'] = instances
        results['ann_ids'] = np.asarray([inst.get('ann_id', -1) for inst in instances],
                                        dtype=np.int64)
        if label_type == 'box':
            results['gt_instances_ids'] = np.arange(len(geometric), dtype=np.int64)
            results['ori_prompts'] = np.asarray(
                [inst['bbox'] for inst in instances], dtype=np.float32).reshape(-1, 4)
        elif label_type == 'point':
            results['ori_prompts'] = results['gt_points'].copy()
        return results


def box_polygon(bbox):
    """The rectangle of an (x1, y1, x2, y2) box as one COCO polygon."""
    x1, y1, x2, y2 = bbox
    return [x1, y1, x2, y1, x2, y2, x1, y2]
