"""tools/train.py, --resume and tools/test.py on the tiny config, on CPU."""
import glob
import json
import re
import subprocess

import torch

from ..conftest import PYTHON, REPO, TINY_CONFIG, run_env

FAST = ['train_dataloader.batch_size=2', 'train_dataloader.num_workers=0',
        'train_dataloader.persistent_workers=False', 'val_dataloader.num_workers=0',
        'val_dataloader.persistent_workers=False', 'test_dataloader.num_workers=0',
        'test_dataloader.persistent_workers=False', 'default_hooks.checkpoint.interval=1',
        'default_hooks.logger.interval=1', 'randomness.seed=0']


def run(args, cwd):
    proc = subprocess.run([PYTHON] + args, cwd=str(cwd), env=run_env(),
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc.stdout + proc.stderr


def test_train_resume_test(shapes_root):
    work = shapes_root / 'work'
    train = f'{REPO}/tools/train.py'
    out = run([train, TINY_CONFIG, '--work-dir', str(work), '--cfg-options',
               'train_cfg.max_iters=2'] + FAST, shapes_root)
    assert (work / 'iter_2.pth').is_file()
    assert re.search(r'Iter\(train\) \[2/2\].*loss: \d', out)
    first = torch.load(work / 'iter_2.pth', map_location='cpu')  # weights_only=True
    assert first['meta']['iter'] == 2

    out = run([train, TINY_CONFIG, '--work-dir', str(work), '--resume', '--cfg-options',
               'train_cfg.max_iters=4'] + FAST, shapes_root)
    assert 'resumed epoch: 0, iter: 2' in out
    assert 'Iter(train) [1/4]' not in out and 'Iter(train) [3/4]' in out
    ckpt = torch.load(work / 'iter_4.pth', map_location='cpu')
    assert ckpt['meta']['iter'] == 4
    # the resumed run continued the same optimizer state, it did not restart it
    steps = {v['step'].item() for v in ckpt['optimizer']['state'].values() if 'step' in v}
    assert steps == {4.0}

    out = run([f'{REPO}/tools/test.py', TINY_CONFIG, str(work / 'iter_4.pth'), '--work-dir',
               str(work / 'test'), '--cfg-options'] + FAST, shapes_root)
    assert re.search(r'coco/segm_mAP: \d', out) and re.search(r'coco/bbox_mAP: \d', out)
    assert glob.glob(str(work / 'test' / '*' / '*.json'))


def test_wish_train_and_test(shapes_root, tiny_ckpt, tmp_path):
    """tools/train.py on the tiny WISH config with tags, points and boxes; tools/test.py
    evaluates the checkpoint without any SAM file."""
    from ..conftest import TINY
    ann = shapes_root / 'data' / 'shapes' / 'annotations'
    run([f'{REPO}/tools/dataset_converters/coco_to_weak.py', str(ann / 'instances_train.json'),
         str(ann / 'instances_train_hetero.json'), '--counts', 'tag=4,point=4,box=4',
         '--overwrite'], shapes_root)
    config = tmp_path / 'wish_tiny.py'
    config.write_text(
        f"_base_ = ['{REPO}/configs/wish/wish_r18_tiny_shapes_hetero.py']\n"
        f"model = dict(panoptic_head=dict(prompt_dim={TINY['prompt_embed_dim']}),\n"
        f"             teacher=dict(checkpoint='{tiny_ckpt}', arch={TINY!r}))\n")
    work = shapes_root / 'work_wish'
    out = run([f'{REPO}/tools/train.py', str(config), '--work-dir', str(work), '--cfg-options',
               'train_cfg.max_iters=2'] + FAST, shapes_root)
    assert re.search(r'Iter\(train\) \[2/2\].*loss_cam: \d.*loss_prompt: \d', out), out[-3000:]
    ckpt = torch.load(work / 'iter_2.pth', map_location='cpu')
    assert any(k.startswith('panoptic_head.prompt_embed') for k in ckpt['state_dict'])
    assert not any('image_encoder' in k or 'mask_decoder' in k for k in ckpt['state_dict'])
    out = run([f'{REPO}/tools/test.py', str(config), str(work / 'iter_2.pth'), '--work-dir',
               str(work / 'test'), '--cfg-options', 'model.teacher.checkpoint=/nonexistent.pth',
               f'test_evaluator.outfile_prefix={work}/test/results'] + FAST, shapes_root)
    assert re.search(r'coco/segm_mAP: \d', out)

    # overlays of those results, and the model on a folder of images
    shapes = shapes_root / 'data' / 'shapes'
    out = run([f'{REPO}/tools/overlay_results.py', str(ann / 'instances_val.json'),
               str(work / 'test' / 'results.segm.json'), str(shapes / 'images'), '--out',
               str(work / 'overlays'), '--num', '2', '--score-thr', '0', '--sheet',
               str(work / 'sheet.png'), '--cols', '2'], shapes_root)
    pngs = sorted((work / 'overlays').glob('*.png'))
    assert out.split() == [str(p) for p in pngs] + [str(work / 'sheet.png')]
    import cv2
    pairs = [cv2.imread(str(p)).shape for p in pngs]
    sheet = cv2.imread(str(work / 'sheet.png'))
    # 2 pairs side by side, each padded to the larger, 16 px apart and around
    h, w = max(s[0] for s in pairs), max(s[1] for s in pairs)
    assert sheet.shape == (h + 32, 2 * w + 48, 3)
    # what the demo prints: AP per class, this run beside the committed reference
    metrics = glob.glob(str(work / 'test' / '*' / '*.json'))[0]
    out = run([f'{REPO}/tools/demo_report.py', str(ann / 'instances_val.json'),
               str(work / 'test' / 'results.segm.json'), metrics], shapes_root)
    for name in ('circle', 'square', 'triangle', 'star', 'hexagon', 'cross'):
        assert re.search(rf'^    {name} +(\d\.\d{{3}}|nan) +', out, re.M), out
    ap = json.loads(open(metrics).read())['coco/segm_mAP']
    assert f'this run: mask AP {ap:.3f}' in out
    out = run([f'{REPO}/tools/image_demo.py', str(shapes / 'images' / 'val'), str(config),
               str(work / 'iter_2.pth'), '--out-dir', str(work / 'demo'), '--device', 'cpu',
               '--score-thr', '0'], shapes_root)
    results = json.loads((work / 'demo' / 'results.json').read_text())
    assert results['classes'][0] == 'circle' and results['results']
    det = results['results'][0]
    assert det['file_name'].endswith('.png') and len(det['bbox']) == 4
    assert 'counts' in det['segmentation']
    assert len(list((work / 'demo' / 'vis').glob('*.png'))) == 6

    # what the model is taught: labels, SAM's candidates, the selection, CAM peaks
    out = run([f'{REPO}/tools/browse_weak_labels.py', str(config), '--out', str(work / 'browse'),
               '--num', '12', '--checkpoint', str(work / 'iter_2.pth')], shapes_root)
    page = (work / 'browse' / 'index.html').read_text()
    assert str(work / 'browse' / 'index.html') in out and page.count('<section>') == 12
    for kind in ('tag', 'point', 'box'):
        assert f'<span class="type">{kind}</span>' in page
    assert page.count('the candidate the matching selected') == 12  # every image is weak
    assert len(list((work / 'browse' / 'img').glob('*.png'))) == 12
