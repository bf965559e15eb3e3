import json
import os.path as osp
import subprocess

import mmcv
import numpy as np
import pytest
import torch

from mmwish.datasets import WeakCocoDataset
from mmwish.datasets.converters.weak_budget import ann_to_mask, convert_to_weak
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers.pseudo_labels import PseudoLabelError, best_masks, sam_label_file
from tests.conftest import PYTHON, REPO, run_env

WISH_CONFIG = osp.join(REPO, 'configs', 'wish', 'wish_r18_tiny_shapes_hetero.py')


def read_rgb(path):
    return mmcv.imread(path, channel_order='rgb')


@pytest.fixture()
def weak_set(shapes_root, tmp_path):
    """The shapes' training images as 3 box, 3 point, 3 tag and 3 mask images."""
    data = shapes_root / 'data' / 'shapes'
    with open(data / 'annotations' / 'instances_train.json') as f:
        coco = json.load(f)
    weak, _ = convert_to_weak(coco, dict(box=3, point=3, tag=3, mask=3), seed=0)
    path = tmp_path / 'weak.json'
    path.write_text(json.dumps(weak))
    ds = WeakCocoDataset(ann_file=str(path), data_prefix=dict(img=str(data / 'images') + '/'),
                         metainfo=dict(classes=DEFAULT_CLASSES), pipeline=[])
    return weak, [ds.get_data_info(i) for i in range(len(ds))], coco, path


def test_best_masks_take_the_highest_predicted_iou(teacher, weak_set):
    _, infos, _, _ = weak_set
    info = next(i for i in infos if i['label_type'] == 'box')
    image = read_rgb(info['img_path'])
    boxes = np.asarray([i['bbox'] for i in info['instances']], np.float32)
    masks, scores = best_masks(teacher, image, boxes=boxes)
    hw = image.shape[:2]
    emb = teacher.encode_original(image)
    low_res, iou = teacher.decode(emb, hw, boxes=torch.from_numpy(boxes))
    every = teacher.to_frame(low_res, hw, hw) > 0
    best = iou.argmax(dim=1)
    assert masks.shape == (len(boxes),) + hw
    assert torch.equal(masks, every[torch.arange(len(best)), best])
    torch.testing.assert_close(scores, iou.max(dim=1).values)


def test_sam_label_file_writes_masks_for_points_and_boxes(teacher, weak_set):
    weak, infos, coco, _ = weak_set
    with pytest.raises(PseudoLabelError, match='is a tag image'):
        sam_label_file(weak, infos, teacher, read_rgb, log=None)
    out, report = sam_label_file(weak, infos, teacher, read_rgb, drop_tag_images=True,
                                 log=None)
    types = {img['id']: img['label_type'] for img in weak['images']}
    assert sorted(report['dropped_tag_images']) == sorted(
        i for i, t in types.items() if t == 'tag')
    assert len(out['images']) == 9
    assert all('label_type' not in img and 'tags' not in img for img in out['images'])
    # every point and box annotation comes back as a mask, or is listed as empty
    weak_ids = {a['id'] for a in weak['annotations'] if types[a['image_id']] in ('box', 'point')}
    labelled = {a['id']: a for a in out['annotations'] if types[a['image_id']] != 'mask'}
    assert set(labelled) | set(report['empty']) == weak_ids
    assert not set(labelled) & set(report['empty'])
    sizes = {img['id']: (img['height'], img['width']) for img in out['images']}
    for ann in labelled.values():
        mask = ann_to_mask(ann['segmentation'], *sizes[ann['image_id']])
        ys, xs = np.nonzero(mask)
        assert 'point' not in ann and ann['iscrowd'] == 0 and ann['area'] == mask.sum()
        assert ann['bbox'] == [xs.min(), ys.min(), xs.max() - xs.min() + 1,
                               ys.max() - ys.min() + 1]
    # mask images keep their annotations untouched
    source = {a['id']: a for a in coco['annotations']}
    kept = [a for a in out['annotations'] if types[a['image_id']] == 'mask']
    assert kept and all(a == source[a['id']] for a in kept)


def test_sam_label_file_refuses_a_teacher_that_does_not_decode(weak_set):
    class Oracle:
        needs_embedding = False
    weak, infos, _, _ = weak_set
    with pytest.raises(PseudoLabelError, match='needs a SAM teacher'):
        sam_label_file(weak, infos, Oracle(), read_rgb, log=None)


def test_sam_label_file_refuses_an_image_of_another_size(teacher, weak_set):
    weak, infos, _, _ = weak_set
    info = dict(next(i for i in infos if i['label_type'] == 'point'))
    info['width'] += 3
    with pytest.raises(PseudoLabelError, match=rf"image {info['img_id']} .* annotation says"):
        sam_label_file(weak, [info], teacher, read_rgb, log=None)


def test_cli_writes_a_coco_file_and_keeps_what_exists(shapes_root, weak_set):
    _, _, _, weak_path = weak_set
    out = weak_path.parent / 'sam_labels.json'
    cmd = [PYTHON, osp.join(REPO, 'tools', 'dataset_converters', 'sam_pseudo_labels.py'),
           WISH_CONFIG, str(weak_path), str(out), '--drop-tag-images',
           '--checkpoint', osp.join(REPO, 'checkpoints', 'sam_tiny_shapes.pth')]
    done = subprocess.run(cmd, cwd=shapes_root, env=run_env(), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    written = json.loads(out.read_text())
    assert written['info']['sam_pseudo_labels']['tag_images_left_out'] == 3
    assert len(written['images']) == 9
    again = subprocess.run(cmd, cwd=shapes_root, env=run_env(), capture_output=True, text=True)
    assert again.returncode != 0 and 'exists; pass --overwrite' in again.stderr
    assert json.loads(out.read_text()) == written
