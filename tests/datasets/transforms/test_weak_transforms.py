"""Weak labels through MMDetection's geometric transforms, checked by hand."""
import numpy as np
import pytest
import torch
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

import mmwish  # noqa: F401
from mmwish.datasets import WeakCocoDataset
from mmwish.datasets.transforms import project_points

from ..weak_files import base_file, write

init_default_scope('mmdet')
H, W = 40, 60


def results_for(label_type, instances, tags, img=None):
    if img is None:
        # column j holds value j: a crop's first column tells its x offset
        img = np.tile(np.arange(W, dtype=np.float32)[None, :, None], (H, 1, 3))
    return dict(img=img, img_shape=(H, W), ori_shape=(H, W), height=H, width=W,
                label_type=label_type, instances=instances, tags=tags)


POINTS = [dict(point=[10.5, 20.5], bbox_label=1, ignore_flag=0),
          dict(point=[50.0, 5.0], bbox_label=2, ignore_flag=0)]


def run(transforms, results, with_mask=True):
    pipeline = Compose([dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=with_mask)]
                       + transforms + [dict(type='ProjectWeakLabels')])
    return pipeline(results)


def test_project_points():
    pts = np.array([[1.0, 2.0], [3.0, 4.0]], np.float32)
    flip = np.array([[-1, 0, 10], [0, 1, 0], [0, 0, 1]])
    np.testing.assert_allclose(project_points(pts, flip), [[9, 2], [7, 4]])
    scale_shift = np.array([[2, 0, -1], [0, 0.5, 3], [0, 0, 1]])
    np.testing.assert_allclose(project_points(pts, scale_shift), [[1, 4], [5, 5]])
    assert project_points(np.zeros((0, 2), np.float32), flip).shape == (0, 2)


def test_load_point_image():
    out = run([], results_for('point', POINTS, [1, 2]))
    np.testing.assert_array_equal(out['gt_points'], [[10.5, 20.5], [50.0, 5.0]])
    np.testing.assert_array_equal(out['gt_points_labels'], [1, 2])
    assert out['gt_bboxes'].shape == (0, 4) and len(out['gt_masks']) == 0
    np.testing.assert_array_equal(out['gt_tags'], [1, 2])


def test_horizontal_flip():
    out = run([dict(type='RandomFlip', prob=1.0, direction='horizontal')],
              results_for('point', POINTS, [1, 2]))
    np.testing.assert_allclose(out['gt_points'], [[49.5, 20.5], [10.0, 5.0]])
    np.testing.assert_array_equal(out['gt_points_labels'], [1, 2])


def test_vertical_and_diagonal_flip():
    out = run([dict(type='RandomFlip', prob=1.0, direction='vertical')],
              results_for('point', POINTS, [1, 2]))
    np.testing.assert_allclose(out['gt_points'], [[10.5, 19.5], [50.0, 35.0]])
    out = run([dict(type='RandomFlip', prob=1.0, direction='diagonal')],
              results_for('point', POINTS, [1, 2]))
    np.testing.assert_allclose(out['gt_points'], [[49.5, 19.5], [10.0, 35.0]])


def test_resize_and_multiscale_resize():
    out = run([dict(type='Resize', scale=(120, 80), keep_ratio=False)],
              results_for('point', POINTS, [1, 2]))
    np.testing.assert_allclose(out['gt_points'], [[21.0, 41.0], [100.0, 10.0]])
    # multi-scale training (one scale here, so the expected values are known)
    out = run([dict(type='RandomChoiceResize', scales=[(30, 100)], keep_ratio=True)],
              results_for('point', POINTS, [1, 2]))
    # keep_ratio: the short side 40 -> 30, so x0.75 (the long side 60 -> 45 <= 100)
    assert out['img_shape'] == (30, 45)
    np.testing.assert_allclose(out['gt_points'], [[7.875, 15.375], [37.5, 3.75]])


@pytest.mark.parametrize('seed', range(6))
def test_crop_drops_points_with_their_labels(seed):
    np.random.seed(seed)
    out = run([dict(type='RandomCrop', crop_size=(30, H), crop_type='absolute',  # (w, h)
                    allow_negative_crop=True)],
              results_for('point', POINTS, [1, 2]))
    x0 = float(out['img'][0, 0, 0])  # the crop's x offset, read off the gradient image
    kept = [p for p in POINTS if 0 <= p['point'][0] - x0 <= 30]
    np.testing.assert_allclose(out['gt_points'].reshape(-1, 2),
                               np.array([[p['point'][0] - x0, p['point'][1]] for p in kept]
                                        ).reshape(-1, 2))
    assert out['gt_points_labels'].tolist() == [p['bbox_label'] for p in kept]
    # tags follow the surviving points
    assert out['gt_tags'].tolist() == sorted({p['bbox_label'] for p in kept})


LSJ = [
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomResize', scale=(60, 60), ratio_range=(0.5, 2.0), resize_type='Resize',
         keep_ratio=True),
    dict(type='RandomCrop', crop_size=(48, 48), crop_type='absolute', recompute_bbox=True,
         allow_negative_crop=True),
    dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='Pad', size=(64, 64)),
]


def test_lsj_points_move_with_boxes():
    """A point image and its twin box image (a 2 px box round each point, no masks so
    that mmdet moves the boxes exactly) under the same random draws: every box that
    stays whole is centred on its point, which carries the box's label."""
    lsj_boxes = [dict(t, type='FilterWeakAnnotations', by_mask=False)
                 if t['type'] == 'FilterAnnotations' else t for t in LSJ]
    rng = np.random.default_rng(0)
    pts = rng.uniform([1, 1], [W - 1, H - 1], size=(12, 2))
    labels = rng.integers(0, 3, size=12)
    points = [dict(point=p.tolist(), bbox_label=int(lab), ignore_flag=0)
              for p, lab in zip(pts, labels)]
    boxes = [dict(bbox=[x - 1, y - 1, x + 1, y + 1], bbox_label=int(lab), ignore_flag=0)
             for (x, y), lab in zip(pts, labels)]
    matched = 0
    for seed in range(10):
        np.random.seed(seed)
        p = run(LSJ, results_for('point', points, sorted(set(labels.tolist()))))
        np.random.seed(seed)
        b = run(lsj_boxes, results_for('box', boxes, sorted(set(labels.tolist()))),
                with_mask=False)
        assert p['img_shape'] == b['img_shape'] and p['img'].shape[:2] == (64, 64)
        sx, sy = p['scale_factor']
        pairs = {(round(x, 3), round(y, 3)): lab
                 for (x, y), lab in zip(p['gt_points'].tolist(), p['gt_points_labels'])}
        for box, lab in zip(b['gt_bboxes'].numpy(), b['gt_bboxes_labels']):
            # boxes cut by the crop are clipped: compare whole ones
            whole = (abs(box[2] - box[0] - 2 * sx) <= 1e-3
                     and abs(box[3] - box[1] - 2 * sy) <= 1e-3)
            if whole:
                cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
                near = [k for k in pairs if abs(k[0] - cx) <= 2e-3 and abs(k[1] - cy) <= 2e-3]
                assert len(near) == 1 and pairs[near[0]] == lab
                matched += 1
        h, w = p['img_shape']
        assert ((p['gt_points'] >= 0).all() and (p['gt_points'][:, 0] <= w).all()
                and (p['gt_points'][:, 1] <= h).all())
        assert len(p['gt_points']) == len(p['gt_points_labels'])
        # the ids of survivors point back at their original labels and positions
        np.testing.assert_array_equal(labels[p['gt_points_ids']], p['gt_points_labels'])
        np.testing.assert_array_equal(labels[b['gt_instances_ids']], b['gt_bboxes_labels'])
        inverse = np.linalg.inv(p['homography_matrix'])
        np.testing.assert_allclose(project_points(p['gt_points'], inverse),
                                   pts[p['gt_points_ids']], atol=1e-3)
    assert matched >= 20


def test_box_images_keep_boxes_through_lsj():
    boxes = [dict(bbox=[4.0, 6.0, 24.0, 16.0], bbox_label=0, ignore_flag=0),
             dict(bbox=[30.0, 10.0, 50.0, 30.0], bbox_label=1, ignore_flag=0)]
    out = run([dict(type='RandomFlip', prob=1.0),
               dict(type='Resize', scale=(120, 80), keep_ratio=True),
               dict(type='RandomCrop', crop_size=(120, 80), recompute_bbox=True,
                    allow_negative_crop=True)],
              results_for('box', boxes, [0, 1]))
    # flip then x2; the rasterised boxes (pycocotools polygons) give the boxes back
    np.testing.assert_allclose(out['gt_bboxes'].numpy(), [[72, 12, 112, 32], [20, 20, 60, 60]],
                               atol=2.0)
    assert out['gt_masks'].masks.sum(axis=(1, 2)).tolist() == pytest.approx([800, 1600], rel=0.1)
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0, 1])


def test_tags_of_cropped_images():
    # crop x in [0, 30] (the gradient image makes the offset known; force it with margin 0)
    boxes = [dict(bbox=[40.0, 5.0, 55.0, 15.0], bbox_label=2, ignore_flag=0),
             dict(bbox=[2.0, 2.0, 10.0, 10.0], bbox_label=0, ignore_flag=0)]
    crop = [dict(type='Resize', scale=(30, 40), keep_ratio=False),  # 40x30 -> no room to move
            dict(type='RandomCrop', crop_size=(15, 40), allow_negative_crop=True,
                 recompute_bbox=True),
            dict(type='FilterAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True)]
    np.random.seed(0)
    out = run(crop, results_for('box', boxes, [0, 2]))
    x0 = out['img'][0, 0, 0] * 0.5  # gradient values were halved by the resize
    spans = {2: (20, 27.5), 0: (1, 5)}  # x extents after the resize
    kept = {lab for lab, (a, b) in spans.items() if b > x0 and a < x0 + 15}
    assert set(out['gt_tags'].tolist()) == kept
    np.random.seed(0)
    out = run(crop, results_for('tag', [], [0, 2]))
    assert out['gt_tags'].tolist() == [0, 2]  # a tag image keeps its tags


def test_pack_and_dataset_pipeline(tmp_path):
    ann = write(tmp_path, base_file())
    pipeline = ([dict(type='LoadImageFromFile'),
                 dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True)] + LSJ
                + [dict(type='ProjectWeakLabels'), dict(type='PackWeakDetInputs')])
    ds = WeakCocoDataset(ann_file=ann, data_prefix=dict(img=str(tmp_path) + '/'),
                         metainfo=dict(classes=('circle', 'square', 'triangle')),
                         pipeline=pipeline)
    np.random.seed(1)
    for i in range(len(ds)):
        sample = ds[i]['data_samples']
        label_type = ['tag', 'point', 'box', 'mask'][i]
        assert sample.label_type == label_type
        assert sample.homography_matrix.shape == (3, 3)
        assert ds[i]['inputs'].shape == (3, 64, 64)
        assert sample.gt_points.points.dtype == torch.float32
        assert len(sample.gt_points.points) == len(sample.gt_points.labels)
        assert 'masks' in sample.gt_instances and 'bboxes' in sample.gt_instances
        assert sample.gt_tags.dtype == torch.int64
        if label_type != 'point':
            assert len(sample.gt_points) == 0
        if label_type == 'tag':
            assert sample.gt_tags.tolist() == [0, 2] and len(sample.gt_instances) == 0


def test_filter_weak_annotations_keeps_ids_and_flags():
    from mmdet.structures.bbox import HorizontalBoxes
    results = dict(gt_bboxes=HorizontalBoxes(np.array([[0, 0, 5, 5], [3, 3, 3, 9],
                                                        [1, 1, 4, 4]], np.float32)),
                   gt_bboxes_labels=np.array([0, 1, 2]), gt_ignore_flags=np.array([0, 0, 1],
                                                                                bool),
                   gt_instances_ids=np.array([7, 8, 9]))
    out = Compose([dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1, 1))])(results)
    np.testing.assert_array_equal(out['gt_instances_ids'], [7, 9])
    np.testing.assert_array_equal(out['gt_bboxes_labels'], [0, 2])
    np.testing.assert_array_equal(out['gt_ignore_flags'], [False, True])
