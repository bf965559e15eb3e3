"""The oracle teacher: SAM's interface answered from the true masks."""
import json

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS, MODELS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmwish.datasets.converters.weak_budget import ann_to_mask, convert_to_weak
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES, ShapesConfig, generate
from mmwish.teachers.oracle_teacher import OracleError, OracleTeacher, ambiguous_candidates, dilate
from mmwish.teachers.sam_teacher import box_masks

from ..conftest import REPO
from .conftest import LSJ, TINY

PIPELINE = LSJ[:-1] + [
    dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
    dict(type='ProjectWeakLabels'),
    dict(type='Pad', size=(96, 96)),
    dict(type='PackWeakDetInputs'),
]


def test_dilate_is_the_square_max_filter():
    """By hand: one pixel grows into the 5 x 5 square around it, cut at the border; and
    on random masks, the whole image's (2r+1)^2 max filter."""
    mask = torch.zeros(6, 7, dtype=torch.bool)
    mask[1, 5] = True
    expected = torch.zeros(6, 7, dtype=torch.bool)
    expected[0:4, 3:7] = True
    assert torch.equal(dilate(mask, 2), expected)
    assert torch.equal(dilate(torch.zeros(5, 5, dtype=torch.bool), 3),
                       torch.zeros(5, 5, dtype=torch.bool))
    g = torch.Generator().manual_seed(0)
    for radius in (1, 4, 9):
        mask = torch.zeros(40, 50, dtype=torch.bool)
        mask[8:20, 30:45] = torch.rand(12, 15, generator=g) > 0.9
        full = torch.nn.functional.max_pool2d(mask[None, None].float(), 2 * radius + 1,
                                              stride=1, padding=radius)[0, 0] > 0
        assert torch.equal(dilate(mask, radius), full)


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp('oracle')
    generate(str(root), ShapesConfig(seed=5, num_train=8, num_val=1))
    source = root / 'annotations' / 'instances_train.json'
    coco = json.loads(source.read_text())
    weak, _ = convert_to_weak(coco, dict(tag=2, point=3, box=3), seed=0)
    (root / 'annotations' / 'weak.json').write_text(json.dumps(weak))
    init_default_scope('mmdet')
    ds = DATASETS.build(dict(type='WeakCocoDataset', data_root=str(root) + '/',
                             ann_file='annotations/weak.json', data_prefix=dict(img='images/'),
                             metainfo=dict(classes=DEFAULT_CLASSES), pipeline=[]))
    return root, coco, ds


def oracle(tiny_ckpt, source, **kwargs):
    return MODELS.build(dict(type='OracleTeacher', source_ann_file=str(source),
                             checkpoint=tiny_ckpt, arch=TINY, **kwargs))


def truth_in_frame(coco, ann_id, sample):
    """The source mask of an annotation warped into the sample's frame by its
    homography, by hand: each pixel takes the source pixel under its centre; and the
    pixels whose centre falls on a source pixel's edge."""
    ann = next(a for a in coco['annotations'] if a['id'] == ann_id)
    img = next(i for i in coco['images'] if i['id'] == ann['image_id'])
    mask = ann_to_mask(ann['segmentation'], img['height'], img['width'])
    inv = np.linalg.inv(np.asarray(sample.homography_matrix, np.float64))
    h, w = sample.img_shape[:2]  # padded by the pipeline's Pad
    ys, xs = np.mgrid[0:h, 0:w] + 0.5
    src = np.stack([xs.ravel(), ys.ravel(), np.ones(xs.size)]).T @ inv.T
    col, row = np.floor(src[:, 0]).astype(int), np.floor(src[:, 1]).astype(int)
    ok = (col >= 0) & (col < img['width']) & (row >= 0) & (row < img['height'])
    out = np.zeros(h * w, bool)
    out[ok] = mask[row[ok], col[ok]]
    frac = np.abs(src[:, :2] - np.round(src[:, :2]))
    ties = (frac < 1e-4).any(axis=1)
    return torch.from_numpy(out.reshape(h, w)), torch.from_numpy(ties.reshape(h, w))


@pytest.mark.parametrize('seed', range(2))
def test_labelled_prompts_get_their_true_mask(data, tiny_ckpt, seed):
    """Box and point images through flip/resize/crop: with ambiguity=False every
    candidate is the labelled object's true mask in the batch frame, IoU 1; with
    ambiguity the truth sits at one index per object and the IoUs say which."""
    root, coco, ds = data
    plain = oracle(tiny_ckpt, root / 'annotations' / 'instances_train.json', ambiguity=False)
    ambiguous = oracle(tiny_ckpt, root / 'annotations' / 'instances_train.json')
    pipeline = Compose(PIPELINE)
    checked, truth_index = 0, []
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        if info['label_type'] not in ('point', 'box'):
            continue
        np.random.seed(seed)
        sample = pipeline(dict(info))['data_samples']
        out = plain.targets(sample, (96, 96))
        amb = ambiguous.targets(sample, (96, 96))
        ids = sample.gt_points.ids if info['label_type'] == 'point' else \
            sample.gt_instances.instances_ids
        assert out['masks'].shape == (len(ids), 3, 96, 96)
        for n, k in enumerate(ids.tolist()):
            ann_id = info['instances'][k]['ann_id']
            truth, ties = truth_in_frame(coco, ann_id, sample)
            # both take the source pixel under each pixel's centre: equal, but where a
            # centre falls on a source pixel's edge (float32 against float64 decides)
            for c in range(3):
                assert not (out['masks'][n, c] != truth)[~ties].any()
            torch.testing.assert_close(out['iou'][n], torch.ones(3))
            t = int(amb['iou'][n].argmax())
            assert torch.equal(amb['masks'][n, t], out['masks'][n, 0])
            truth_index.append(t)
            checked += 1
        # latents are the small SAM's encoding, as SAMTeacher gives them
        key = 'points' if info['label_type'] == 'point' else 'boxes'
        prompts = sample.gt_points.points if key == 'points' else sample.gt_instances.bboxes
        torch.testing.assert_close(out['latents'], plain.prompt_latents(
            **{key: getattr(prompts, 'tensor', prompts)}, frame_hw=(96, 96)))
    assert checked >= 6
    assert len(set(truth_index)) > 1  # a random index, not always the same one


def test_ambiguous_candidates_are_object_part_superset():
    masks = torch.zeros(3, 40, 40, dtype=torch.bool)
    masks[0, 5:15, 5:25] = True   # the object
    masks[1, 15:20, 5:25] = True  # a neighbour touching it
    masks[2, 30:38, 30:38] = True  # far away
    rng = np.random.default_rng(0)
    cands, iou, t = ambiguous_candidates(masks, 0, rng, dilation=0.15)
    assert torch.equal(cands[t], masks[0]) and iou[t] == 1
    others = [k for k in range(3) if k != t]
    sizes = {int(cands[k].sum()) for k in others}
    assert sizes == {100, 300}  # half the object, the object with its neighbour
    for k in others:
        expected = 100 / 200 if int(cands[k].sum()) == 100 else 200 / 300
        assert abs(iou[k].item() - expected) < 1e-6
    # an isolated object: the superset is the object grown, not its neighbours
    cands, iou, t = ambiguous_candidates(masks, 2, np.random.default_rng(1), dilation=0.15)
    big = max(range(3), key=lambda k: int(cands[k].sum()))
    assert (cands[big] & masks[2]).sum() == masks[2].sum() and not (cands[big] & masks[0]).any()


def test_pseudo_points_get_the_object_under_them_or_the_nearest(data, tiny_ckpt):
    root, coco, ds = data
    teacher = oracle(tiny_ckpt, root / 'annotations' / 'instances_train.json', ambiguity=False)
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['label_type'] == 'tag')
    sample = Compose([PIPELINE[0], PIPELINE[1], PIPELINE[6], PIPELINE[8]])(dict(info))[
        'data_samples']
    anns = [a for a in coco['annotations'] if a['image_id'] == info['img_id']]
    hw = (info['height'], info['width'])
    masks = [ann_to_mask(a['segmentation'], *hw) for a in anns]
    inside = []
    for m in masks:
        ys, xs = np.nonzero(m)
        inside.append([xs[len(xs) // 2] + 0.5, ys[len(ys) // 2] + 0.5])
    points = torch.tensor(inside, dtype=torch.float32)
    out = teacher.targets(sample, hw, pseudo_points=(points, torch.zeros(len(points))))
    assert out['type'] == 'point' and out['masks'].shape == (len(anns), 3) + hw
    for n in range(len(masks)):
        under = [k for k, other in enumerate(masks)
                 if other[int(points[n, 1]), int(points[n, 0])]]
        pick = min(under, key=lambda k: masks[k].sum())
        assert torch.equal(out['masks'][n, 0], torch.from_numpy(masks[pick]))
    # a background point: the nearest object
    union = np.any(masks, axis=0)
    ys, xs = np.nonzero(~union)
    far = torch.tensor([[xs[0] + 0.5, ys[0] + 0.5]], dtype=torch.float32)
    dists = [((np.stack(np.nonzero(m)[::-1], 1) + 0.5 - far.numpy()) ** 2).sum(1).min()
             for m in masks]
    out = teacher.targets(sample, hw, pseudo_points=(far, torch.zeros(1)))
    assert torch.equal(out['masks'][0, 0], torch.from_numpy(masks[int(np.argmin(dists))]))


def test_the_student_never_sees_the_true_masks(data, tiny_ckpt):
    """What the pipeline packs for a weak image: box images' masks are their boxes'
    rectangles, point images have none; only annotation ids travel to the teacher."""
    root, coco, ds = data
    pipeline = Compose([PIPELINE[0], PIPELINE[1], PIPELINE[6], PIPELINE[8]])
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        sample = pipeline(dict(info))['data_samples']
        if info['label_type'] == 'box':
            boxes = sample.gt_instances.bboxes.tensor
            masks = sample.gt_instances.masks.to_ndarray()
            for box, m in zip(boxes.round().long().tolist(), masks):
                assert m.sum() == (box[2] - box[0]) * (box[3] - box[1])
        elif info['label_type'] in ('point', 'tag'):
            assert len(sample.gt_instances.masks) == 0
        assert sample.metainfo['ann_ids'].tolist() == [
            inst['ann_id'] for inst in info['instances']]


def test_missing_masks_are_refused_by_name(data, tiny_ckpt, tmp_path):
    root, coco, ds = data
    info = next(ds.get_data_info(i) for i in range(len(ds))
                if ds.get_data_info(i)['label_type'] == 'box')
    sample = Compose([PIPELINE[0], PIPELINE[1], PIPELINE[6], PIPELINE[8]])(dict(info))[
        'data_samples']
    stripped = dict(coco, annotations=[
        {k: v for k, v in a.items() if k != 'segmentation'} if a['image_id'] == info['img_id']
        else a for a in coco['annotations']])
    path = tmp_path / 'no_masks.json'
    path.write_text(json.dumps(stripped))
    first = info['instances'][0]['ann_id']
    with pytest.raises(OracleError, match=rf"image {info['img_id']} .*annotation {first} has "
                                          'no mask in the source file'):
        oracle(tiny_ckpt, path).targets(sample, sample.img_shape)
    other = dict(coco, images=[i for i in coco['images'] if i['id'] != info['img_id']])
    path.write_text(json.dumps(other))
    with pytest.raises(OracleError, match=rf"image {info['img_id']} .*has no such image"):
        oracle(tiny_ckpt, path).targets(sample, sample.img_shape)


def test_defaults_to_the_committed_shapes_sam(data):
    """Built from a config with only the source file, the latents come from the small
    SAM in checkpoints/ (64-wide tokens), and it reads no images."""
    root, _, _ = data
    teacher = MODELS.build(dict(type='OracleTeacher', checkpoint=f'{REPO}/checkpoints/'
                                'sam_tiny_shapes.pth',
                                source_ann_file=str(root / 'annotations' / 'instances_train.json')))
    assert isinstance(teacher, OracleTeacher) and not teacher.needs_embedding
    z = teacher.prompt_latents(points=torch.tensor([[10.0, 20.0]]), frame_hw=(128, 128))
    assert z.shape == (1, 2, 64)


def test_box_candidates_clipped_to_their_box(data, tiny_ckpt):
    """``clip_box_candidates``: the ambiguous oracle's supersets spill out of the box;
    clipped, every candidate lies within the pixels whose centres are in the box, and
    the true mask (inside its box) is unchanged."""
    root, _, ds = data
    source = root / 'annotations' / 'instances_train.json'
    plain, clipped = oracle(tiny_ckpt, source), oracle(tiny_ckpt, source, clip_box_candidates=True)
    pipeline = Compose(PIPELINE)
    spilled = 0
    for i in range(len(ds)):
        info = ds.get_data_info(i)
        if info['label_type'] != 'box':
            continue
        np.random.seed(0)
        sample = pipeline(dict(info))['data_samples']
        out, cut = plain.targets(sample, (96, 96)), clipped.targets(sample, (96, 96))
        inside = box_masks(sample.gt_instances.bboxes.tensor, (96, 96))[:, None]
        assert torch.equal(cut['masks'], out['masks'] & inside)
        spilled += int((out['masks'] & ~inside).any())
        t = out['iou'].argmax(1)
        rows = torch.arange(len(t))
        # the true mask lost at most its outline pixels to the box's pixel grid
        lost = (out['masks'][rows, t] & ~cut['masks'][rows, t]).flatten(1).sum(1)
        assert (lost <= 2 * (out['masks'][rows, t].flatten(1).sum(1) ** 0.5) + 4).all()
    assert spilled > 0


def test_box_masks_by_hand():
    m = box_masks(torch.tensor([[1.0, 0.5, 3.0, 2.4]]), (4, 5))[0]
    # x centres 1.5, 2.5 in [1, 3]; y centres 0.5, 1.5 in [0.5, 2.4]
    expected = torch.zeros(4, 5, dtype=torch.bool)
    expected[0:2, 1:3] = True
    assert torch.equal(m, expected)
