import numpy as np
import torch
from mmdet.datasets.transforms import PackDetInputs
from mmdet.registry import TRANSFORMS
from mmengine.structures import InstanceData

WEAK_META_KEYS = ('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor', 'flip',
                  'flip_direction', 'homography_matrix', 'label_type', 'ori_prompts',
                  'ann_ids')


@TRANSFORMS.register_module()
class PackWeakDetInputs(PackDetInputs):
    """``PackDetInputs`` that also packs the weak labels.

    The data sample gains ``gt_points`` (``InstanceData`` with ``points`` (N, 2)
    float32 x-y in the augmented image, ``labels`` and ``ids``, the points' indices
    in the image's labels) and ``gt_tags`` (int64
    class indices); its metainfo carries ``label_type``, ``homography_matrix``
    (original image -> augmented image) and ``ori_prompts`` (the weak labels'
    original points or boxes) and ``ann_ids`` (their annotation ids), which the
    teachers use.
    """

    # boxes' label indices ride along (mmdet's own table has them for tracking only)
    mapping_table = dict(PackDetInputs.mapping_table, gt_instances_ids='instances_ids')

    def __init__(self, meta_keys=WEAK_META_KEYS):
        super().__init__(meta_keys=meta_keys)

    def transform(self, results: dict) -> dict:
        results.setdefault('label_type', 'mask')
        if 'homography_matrix' in self.meta_keys:
            results.setdefault('homography_matrix', np.eye(3, dtype=np.float32))
        packed = super().transform(results)
        sample = packed['data_samples']
        points = results.get('gt_points', np.zeros((0, 2), np.float32))
        labels = results.get('gt_points_labels', np.zeros(0, np.int64))
        ids = results.get('gt_points_ids', np.arange(len(labels), dtype=np.int64))
        sample.gt_points = InstanceData(points=torch.as_tensor(points, dtype=torch.float32),
                                        labels=torch.as_tensor(labels, dtype=torch.int64),
                                        ids=torch.as_tensor(ids, dtype=torch.int64))
        sample.gt_tags = torch.as_tensor(results.get('gt_tags', np.zeros(0, np.int64)),
                                         dtype=torch.int64)
        return packed
