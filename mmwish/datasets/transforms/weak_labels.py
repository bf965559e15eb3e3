import numpy as np
from mmcv.transforms import BaseTransform
from mmdet.datasets.transforms import FilterAnnotations
from mmdet.registry import TRANSFORMS


def project_points(points: np.ndarray, homography: np.ndarray) -> np.ndarray:
    """Map (N, 2) x-y points through a 3x3 homography."""
    if len(points) == 0:
        return points.reshape(0, 2).astype(np.float32)
    ones = np.ones((len(points), 1), dtype=np.float64)
    mapped = np.concatenate([points, ones], axis=1) @ np.asarray(homography, np.float64).T
    return (mapped[:, :2] / mapped[:, 2:3]).astype(np.float32)


@TRANSFORMS.register_module()
class ProjectWeakLabels(BaseTransform):
    """Bring point labels into the augmented frame and update the tags.

    Put it once, after the last geometric transform (and ``FilterAnnotations``),
    before packing. Points, kept in the original frame by
    :class:`LoadWeakAnnotations`, are mapped through ``homography_matrix`` (the
    composition of every Resize, Flip and Crop; identity if absent; Pad does not
    move pixels). Points that fall outside the image (``0 <= x <= w``,
    ``0 <= y <= h`` of ``img_shape``) are dropped together with their labels.

    Tags: for point, box and mask images they become the classes of the
    instances that survived the crop, so the CAM loss never asks for a class
    the crop removed. A tag image's objects have no geometry, so its tags are
    kept as they are: a crop may hide a tagged object, which is the same
    label noise as in the paper's training; use a milder crop for tag images
    if that matters.
    """

    def transform(self, results: dict) -> dict:
        label_type = results.get('label_type', 'mask')
        h, w = results['img_shape'][:2]
        if 'gt_points' in results:
            homography = results.get('homography_matrix')
            points = results['gt_points']
            if homography is not None:
                points = project_points(points, homography)
            keep = ((points[:, 0] >= 0) & (points[:, 0] <= w)
                    & (points[:, 1] >= 0) & (points[:, 1] <= h))
            results['gt_points'] = points[keep]
            results['gt_points_labels'] = results['gt_points_labels'][keep]
            if 'gt_points_ids' in results:
                results['gt_points_ids'] = results['gt_points_ids'][keep]
        if label_type != 'tag':
            labels = [results.get('gt_bboxes_labels', np.zeros(0, np.int64)),
                      results.get('gt_points_labels', np.zeros(0, np.int64))]
            results['gt_tags'] = np.unique(np.concatenate(labels)).astype(np.int64)
        return results


@TRANSFORMS.register_module()
class FilterWeakAnnotations(FilterAnnotations):
    """``FilterAnnotations`` that also keeps ``gt_instances_ids`` in step.

    MMDetection's version indexes boxes, labels, masks and ignore flags only. To
    learn which instances it kept without repeating its tests, the ignore flags
    are swapped for instance indices during the call (it indexes them by the
    same ``keep``) and restored after.
    """

    def transform(self, results: dict):
        ids = results.get('gt_instances_ids')
        if ids is None or len(results['gt_bboxes']) == 0:
            return super().transform(results)
        flags = results.get('gt_ignore_flags')
        results['gt_ignore_flags'] = np.arange(len(results['gt_bboxes']))
        results = super().transform(results)
        if results is None:
            return None
        kept = results['gt_ignore_flags']
        results['gt_instances_ids'] = ids[kept]
        if flags is None:
            del results['gt_ignore_flags']
        else:
            results['gt_ignore_flags'] = flags[kept]
        return results
