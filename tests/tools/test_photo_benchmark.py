"""The real-photo benchmark's pipeline on generated stand-in photos (no real photo in
CI): a YOLO-seg export -> the fixed split and weak files -> 2 training iterations of the
Mask2Former and WISH configs on EfficientNet-Lite0 with its ImageNet weights; for the
tools, the export's classes grouped as the benchmark groups them."""
import json
import re
import subprocess

import cv2
import numpy as np

from ..conftest import PYTHON, REPO, run_env
from .test_train_test import FAST, run

CLASSES = (0, 2, 41)  # person, car, cup: COCO indices as in Ultralytics' export


def _export(root, num=8, seed=0, split='train2017', classes=CLASSES):
    """``num`` noisy 128x96 'photos', each with 1-3 filled polygons and their YOLO-seg
    lines (class, then x y pairs normalised by the image size)."""
    rng = np.random.default_rng(seed)
    images, labels = root / 'images' / split, root / 'labels' / split
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(num):
        img = rng.integers(0, 255, (96, 128, 3), dtype=np.uint8)
        lines = []
        for _ in range(rng.integers(1, 4)):
            cx, cy, r = rng.uniform(30, 98), rng.uniform(25, 71), rng.uniform(10, 20)
            angles = np.sort(rng.uniform(0, 2 * np.pi, 5))
            poly = np.stack([cx + r * np.cos(angles), cy + r * np.sin(angles)], 1)
            cv2.fillPoly(img, [poly.round().astype(np.int32)], rng.integers(0, 255, 3).tolist())
            norm = (poly / [128, 96]).clip(0, 1).ravel()
            lines.append(f'{rng.choice(classes)} ' + ' '.join(f'{v:.5f}' for v in norm))
        cv2.imwrite(str(images / f'{i:012d}.jpg'), img)
        (labels / f'{i:012d}.txt').write_text('\n'.join(lines) + '\n')


def test_photo_benchmark_converts_and_trains(tmp_path):
    _export(tmp_path / 'export')
    data = tmp_path / 'data' / 'coco128_seg'
    out = run([f'{REPO}/tools/dataset_converters/photo_benchmark.py', str(tmp_path / 'export'),
               str(data), '--num-val', '2', '--supercategories'], tmp_path)
    train = json.loads((data / 'annotations' / 'instances_train.json').read_text())
    val = json.loads((data / 'annotations' / 'instances_val.json').read_text())
    assert len(train['images']) == 6 and len(val['images']) == 2
    assert not {i['file_name'] for i in train['images']} & {i['file_name'] for i in val['images']}
    # COCO's supercategories: person 1, car -> vehicle 2, cup -> kitchen 7
    assert [c['name'] for c in train['categories']][:3] == ['person', 'vehicle', 'outdoor']
    assert len(train['categories']) == 12
    assert {a['category_id'] for a in train['annotations'] + val['annotations']} <= {1, 2, 7}
    hetero = json.loads((data / 'annotations' / 'instances_train_hetero.json').read_text())
    kinds = sorted(i['label_type'] for i in hetero['images'])
    assert kinds == ['box', 'box', 'point', 'point', 'tag', 'tag']
    assert re.search(r'instances_val\.json: 2 images, \d+ instances', out)
    # the same split again elsewhere; an existing file is kept unless asked
    run([f'{REPO}/tools/dataset_converters/photo_benchmark.py', str(tmp_path / 'export'),
         str(tmp_path / 'again'), '--num-val', '2'], tmp_path)
    assert json.loads((tmp_path / 'again' / 'annotations' / 'instances_val.json')
                      .read_text())['images'] == val['images']
    proc = subprocess.run([PYTHON, f'{REPO}/tools/dataset_converters/photo_benchmark.py',
                           str(tmp_path / 'export'), str(data)], cwd=str(tmp_path),
                          env=run_env(), capture_output=True, text=True)
    assert proc.returncode != 0 and 'instances_train.json exists; pass --overwrite' in \
        proc.stderr, proc.stderr[-2000:]

    for config in ('configs/mask2former/mask2former_effnet-lite0_tiny_coco128.py',
                   'configs/wish/wish_effnet-lite0_tiny_coco128_hetero_oracle.py'):
        work = tmp_path / config.split('/')[-1][:-3]
        extra = ['model.teacher.checkpoint=' + f'{REPO}/checkpoints/sam_tiny_shapes.pth'] \
            if 'wish' in config else []
        out = run([f'{REPO}/tools/train.py', f'{REPO}/{config}', '--work-dir', str(work),
                   '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2']
                  + FAST + extra, tmp_path)
        assert re.search(r'Iter\(train\) \[2/2\].*loss: \d', out), out[-3000:]
        assert re.search(r'coco/segm_mAP: \d', out)
        if 'wish' in config:
            assert re.search(r'loss_cam: \d.*loss_prompt: \d', out)


# "Tools segmentation 2"'s 17 class names, in an order of the stand-in's own
TOOL_CLASSES = ('Adjustable spanner', 'Backsaw', 'Calipers', 'Cutting pliers', 'Drill',
                'Gas wrench', 'Gun', 'Hammer', 'Hand', 'Handsaw', 'Needle-nose pliers',
                'Pliers', 'Ratchet', 'Screwdriver', 'Tape measure', 'Utility knife', 'Wrench')


def test_the_tools_configs_convert_and_train(tmp_path):
    """The tools' export (one folder, a data.yaml) grouped into the 6 classes, then the
    tools' WISH config (the one every tools row trains) on its mixed labels."""
    # Gas wrench, Hammer, Screwdriver, Utility knife: groups wrench, hammer,
    # screwdriver, other tool
    _export(tmp_path / 'export', split='all', classes=(5, 7, 13, 15))
    names = ', '.join(f"'{c}'" for c in TOOL_CLASSES)
    (tmp_path / 'export' / 'data.yaml').write_text(f'nc: 17\nnames: [{names}]\n')
    data = tmp_path / 'data' / 'tools'
    run([f'{REPO}/tools/dataset_converters/photo_benchmark.py', str(tmp_path / 'export'),
         str(data), '--split', 'all', '--num-val', '2',
         '--yolo-classes', str(tmp_path / 'export' / 'data.yaml'), '--class-groups',
         f'{REPO}/tools/dataset_converters/class_groups/tools_segmentation_2.json'], tmp_path)
    train = json.loads((data / 'annotations' / 'instances_train_hetero.json').read_text())
    assert [c['name'] for c in train['categories']] == [
        'screwdriver', 'wrench', 'pliers', 'hammer', 'hand', 'other tool']
    assert {a['category_id'] for a in train['annotations']} <= {1, 2, 4, 6}
    config = f'{REPO}/configs/wish/wish_effnet-lite0_tiny_tools_hetero_oracle.py'
    out = run([f'{REPO}/tools/train.py', config, '--work-dir', str(tmp_path / 'work'),
               '--cfg-options', 'train_cfg.max_iters=2', 'train_cfg.val_interval=2',
               f'model.teacher.checkpoint={REPO}/checkpoints/sam_tiny_shapes.pth'] + FAST,
              tmp_path)
    assert re.search(r'Iter\(train\) \[2/2\].*loss_cam: \d.*loss_prompt: \d', out), \
        out[-3000:]
    assert re.search(r'coco/segm_mAP: \d', out)
