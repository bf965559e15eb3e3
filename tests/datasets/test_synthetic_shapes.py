import hashlib
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmwish.datasets.synthetic_shapes import (
    DEFAULT_CLASSES,
    OTHER_CLASSES,
    ShapesConfig,
    generate,
    generate_image,
    main,
)


def tree_digest(root):
    h = hashlib.sha256()
    for p in sorted(root.rglob('*')):
        if p.is_file():
            h.update(str(p.relative_to(root)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()


@pytest.fixture(scope='module')
def dataset(tmp_path_factory):
    root = tmp_path_factory.mktemp('shapes')
    cfg = ShapesConfig(seed=7, num_train=24, num_val=8)
    return root, cfg, generate(str(root), cfg)


def test_same_seed_same_files(dataset, tmp_path):
    root, cfg, _ = dataset
    generate(str(tmp_path), ShapesConfig(seed=7, num_train=24, num_val=8))
    assert tree_digest(tmp_path) == tree_digest(root)


def test_other_seed_other_images():
    a, _ = generate_image(ShapesConfig(seed=1), 'train', 0)
    b, _ = generate_image(ShapesConfig(seed=2), 'train', 0)
    assert a.shape != b.shape or not np.array_equal(a, b)


def test_more_images_keep_earlier_ones():
    a, inst_a = generate_image(ShapesConfig(seed=5, num_train=3), 'train', 2)
    b, inst_b = generate_image(ShapesConfig(seed=5, num_train=300), 'train', 2)
    assert np.array_equal(a, b) and len(inst_a) == len(inst_b)


def test_valid_coco_with_matching_masks(dataset):
    root, cfg, outputs = dataset
    for split, path in outputs.items():
        coco = COCO(path)
        assert len(coco.getImgIds()) == cfg.splits[split]
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(DEFAULT_CLASSES)
        for img_id in coco.getImgIds():
            info = coco.loadImgs(img_id)[0]
            assert 128 <= info['height'] <= 160 and 128 <= info['width'] <= 160
            assert (root / 'images' / info['file_name']).is_file()
            union = np.zeros((info['height'], info['width']), bool)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
                mask = coco.annToMask(ann).astype(bool)
                assert mask.shape == union.shape
                assert ann['area'] == mask.sum() >= cfg.min_area
                ys, xs = np.nonzero(mask)
                x0, y0 = xs.min(), ys.min()
                assert ann['bbox'] == [x0, y0, xs.max() - x0 + 1, ys.max() - y0 + 1]
                # visible masks never overlap: occlusion is resolved
                assert not (union & mask).any()
                union |= mask


def test_variety(dataset):
    root, cfg, outputs = dataset
    coco = json.load(open(outputs['train']))
    counts = np.bincount([a['image_id'] for a in coco['annotations']])[1:]
    assert counts.min() >= 1 and counts.max() <= cfg.max_instances
    assert len(set(counts.tolist())) >= 3
    assert {a['category_id'] for a in coco['annotations']} == set(range(1, 7))
    # some objects are partly hidden (their visible area is below a full shape's)
    boxes = np.array([a['bbox'] for a in coco['annotations']])
    fill = np.array([a['area'] for a in coco['annotations']]) / (boxes[:, 2] * boxes[:, 3])
    assert fill.min() < 0.35 < fill.max()


def test_textures_differ_inside_objects():
    image, instances = generate_image(ShapesConfig(seed=0), 'train', 1)
    stds = [image[m].std(axis=0).mean() for _, m in instances]
    assert max(stds) > 20  # stripes/checker/gradient, not only flat colour


def test_refuses_to_overwrite(dataset):
    root, cfg, _ = dataset
    with pytest.raises(FileExistsError, match='instances_train.json already exists'):
        generate(str(root), cfg)


def test_other_classes_and_bad_class(tmp_path):
    cfg = ShapesConfig(seed=0, num_train=4, num_val=1, classes=OTHER_CLASSES)
    coco = json.load(open(generate(str(tmp_path), cfg)['train']))
    assert [c['name'] for c in coco['categories']] == list(OTHER_CLASSES)
    with pytest.raises(ValueError, match="unknown shape classes \\['blob'\\]"):
        ShapesConfig(classes=('circle', 'blob'))


def test_cli(tmp_path, capsys):
    main([str(tmp_path), '--seed', '1', '--num-train', '3', '--num-val', '2'])
    out = capsys.readouterr().out
    assert 'train: 3 images' in out and 'val: 2 images' in out
    with pytest.raises(SystemExit, match='already exists'):
        main([str(tmp_path), '--num-train', '3', '--num-val', '2'])
    main([str(tmp_path), '--num-train', '2', '--num-val', '1', '--overwrite'])
    rle = json.load(open(tmp_path / 'annotations' / 'instances_train.json'))['annotations'][0]
    assert mask_utils.decode(rle['segmentation']).sum() == rle['area']
