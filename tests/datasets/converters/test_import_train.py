"""An importer's output trains: LabelMe files written over generated shapes images (tags
as flags, points, rectangles, from the generator's ground truth), imported with the
labels_to_weak CLI, train the tiny WISH config for 2 iterations and evaluate."""
import json
import re

import numpy as np
from pycocotools import mask as mask_utils

from ...conftest import PYTHON, REPO, TINY
from ...tools.wish_runs import TINY_WISH, run


def labelme_files(shapes, out_dir):
    """One LabelMe file per train image in ``out_dir`` (beside, not in, the images):
    image i is tagged (flags), pointed or boxed by i % 3. Returns the label types."""
    coco = json.loads((shapes / 'annotations' / 'instances_train.json').read_text())
    names = {c['id']: c['name'] for c in coco['categories']}
    anns = {}
    for ann in coco['annotations']:
        anns.setdefault(ann['image_id'], []).append(ann)
    out_dir.mkdir()
    kinds = []
    for i, img in enumerate(coco['images']):
        kind = ('tag', 'point', 'box')[i % 3]
        objects = anns[img['id']]
        drawn = []
        for ann in objects if kind != 'tag' else []:
            label = names[ann['category_id']]
            if kind == 'point':  # the mask pixel nearest its centroid, at the pixel centre
                ys, xs = np.nonzero(mask_utils.decode(ann['segmentation']))
                j = np.argmin((xs - xs.mean()) ** 2 + (ys - ys.mean()) ** 2)
                drawn.append(dict(label=label, points=[[xs[j] + 0.5, ys[j] + 0.5]],
                                    group_id=None, shape_type='point', flags={}))
            else:  # corners as dragged from the bottom right
                x, y, w, h = ann['bbox']
                drawn.append(dict(label=label, points=[[x + w, y + h], [x, y]],
                                    group_id=None, shape_type='rectangle', flags={}))
        tagged = {names[a['category_id']] for a in objects} if kind == 'tag' else set()
        data = dict(version='5.5.0', flags={n: n in tagged for n in names.values()},
                    shapes=drawn,
                    imagePath=f'../shapes/images/{img["file_name"]}', imageData=None,
                    imageHeight=img['height'], imageWidth=img['width'])
        stem = img['file_name'].split('/')[-1].rsplit('.', 1)[0]
        (out_dir / f'{stem}.json').write_text(json.dumps(data))
        kinds.append(kind)
    return kinds


def test_labelme_import_trains_and_evaluates(tmp_path, tiny_ckpt):
    from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES, ShapesConfig, generate
    shapes = tmp_path / 'shapes'
    generate(str(shapes), ShapesConfig(seed=3, num_train=6, num_val=2))
    assert labelme_files(shapes, tmp_path / 'labelme') == ['tag', 'point', 'box'] * 2

    weak_file = shapes / 'annotations' / 'weak_labelme.json'
    out = run([PYTHON, f'{REPO}/tools/dataset_converters/labels_to_weak.py', 'labelme',
               str(tmp_path / 'labelme'), str(weak_file), '--classes', ','.join(DEFAULT_CLASSES),
               '--image-dir', str(shapes / 'images')], tmp_path)
    assert re.search(r'6 images \(2 box, 2 point, 2 tag\), \d+ annotations, 6 classes', out)
    weak = json.loads(weak_file.read_text())
    assert [i['file_name'] for i in weak['images']] == [f'train/{i:06d}.png' for i in range(6)]

    data = f'{shapes}/'
    loader = "batch_size={b}, num_workers=0, persistent_workers=False"
    config = tmp_path / 'wish_labelme.py'
    config.write_text(
        f"_base_ = ['{TINY_WISH}']\n"
        f"model = dict(panoptic_head=dict(prompt_dim={TINY['prompt_embed_dim']}),\n"
        f"             teacher=dict(checkpoint='{tiny_ckpt}', arch={TINY!r}))\n"
        f"train_dataloader = dict({loader.format(b=2)},\n"
        f"    dataset=dict(data_root='{data}', ann_file='annotations/weak_labelme.json'))\n"
        f"val_dataloader = dict({loader.format(b=2)}, dataset=dict(data_root='{data}'))\n"
        "test_dataloader = val_dataloader\n"
        f"val_evaluator = dict(ann_file='{data}annotations/instances_val.json')\n"
        "test_evaluator = val_evaluator\n"
        # 2 iterations, then the loop's closing validation
        "train_cfg = dict(max_iters=2)\n"
        "default_hooks = dict(logger=dict(interval=1))\n"
        "randomness = dict(seed=0)\n")
    out = run([PYTHON, f'{REPO}/tools/train.py', str(config), '--work-dir',
               str(tmp_path / 'work')], tmp_path, timeout=900)
    assert re.search(r'Iter\(train\) \[2/2\].*loss_cam: \d.*loss_prompt: \d', out), out[-3000:]
    assert re.search(r'coco/segm_mAP: \d', out) and re.search(r'coco/bbox_mAP: \d', out)
    assert (tmp_path / 'work' / 'iter_2.pth').is_file()
