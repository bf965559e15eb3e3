"""The offline SAM cache: contents, online vs cached after augmentation, errors, the tool."""
import json
import os
import subprocess
import textwrap

import mmcv
import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmwish.datasets.converters.weak_budget import convert_to_weak
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers.sam_cache import (
    SAMCache,
    SAMCacheError,
    cache_shard,
    image_prompts,
    write_meta,
)

from ..conftest import PYTHON, REPO, TINY_CONFIG, run_env
from .conftest import MEAN, STD, TINY


@pytest.fixture(scope='module')
def weak_dataset(shapes_root):
    root = shapes_root / 'data' / 'shapes'
    coco = json.load(open(root / 'annotations' / 'instances_train.json'))
    weak, _ = convert_to_weak(coco, dict(tag=3, point=3, box=3, mask=3), seed=0)
    path = root / 'annotations' / 'weak_train.json'
    path.write_text(json.dumps(weak))
    init_default_scope('mmdet')
    return DATASETS.build(dict(type='WeakCocoDataset', data_root=str(root) + '/',
                               ann_file='annotations/weak_train.json',
                               data_prefix=dict(img='images/'),
                               metainfo=dict(classes=DEFAULT_CLASSES), pipeline=[]))


@pytest.fixture(scope='module')
def cache(weak_dataset, teacher, tmp_path_factory):
    root = tmp_path_factory.mktemp('cache')
    folder = write_meta(str(root), teacher.checkpoint, teacher.checkpoint_hash, 'custom', 64)
    infos = [weak_dataset.get_data_info(i) for i in range(len(weak_dataset))]
    stats = [cache_shard(teacher, infos, folder, shard, 2, log=None) for shard in (0, 1)]
    return SAMCache(str(root), teacher.checkpoint_hash), infos, stats


def test_entries(cache, teacher):
    reader, infos, stats = cache
    assert sum(s['images'] for s in stats) == 9  # 3 point + 3 box + 3 tag, no mask image
    for info in infos:
        kind = info['label_type']
        if kind == 'mask':
            assert info['img_id'] not in reader
            continue
        entry = reader.read(info['img_id'])
        if kind == 'tag':
            assert entry['embedding'].shape == (32, 8, 8) and 'masks' not in entry
        else:
            n = len(info['instances'])
            assert entry['masks'].shape == (n, 3, 32, 32) and entry['masks'].dtype == torch.bool
            assert entry['iou'].shape == (n, 3) and 'embedding' not in entry
            points, boxes = image_prompts(info)
            expected = points if kind == 'point' else boxes
            np.testing.assert_allclose(entry['prompts'][:, :expected.shape[1]], expected)
    # a rerun (e.g. after a crash) keeps what is there and computes nothing
    again = cache_shard(teacher, infos, reader.folder, 0, 2, log=None)
    assert again['images'] == 0 and again['skipped'] == stats[0]['images']


def test_bytes_per_candidate(cache):
    reader, infos, _ = cache
    info = next(i for i in infos if i['label_type'] == 'box')
    size = os.path.getsize(reader.path(info['img_id']))
    # 3 candidates of 32x32 bits = 384 bytes per prompt, plus small arrays and zip headers
    assert size < 384 * len(info['instances']) + 1500


LSJ = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
    dict(type='RandomFlip', prob=1.0),
    dict(type='RandomResize', scale=(128, 128), ratio_range=(0.8, 1.5), keep_ratio=True),
    dict(type='RandomCrop', crop_size=(96, 96), allow_negative_crop=True),
    dict(type='ProjectWeakLabels'),
]


@pytest.mark.parametrize('seed', range(3))
def test_online_and_cached_agree_after_flip_resize_crop(cache, teacher, weak_dataset, seed):
    """Cached (bits, original frame, mapped by the homography) vs online (encoder run on
    the original image this step, logits mapped the same way). Stated tolerance: they
    are equal except within one low-res cell of a mask boundary (the cache binarises
    at SAM's low resolution: 4 px of a 1024 px frame for the public SAMs). A pixel is
    in that band when the 4 low-res cells it interpolates disagree; elsewhere the two
    must agree exactly. The random tiny SAM's masks are ragged, so the band is wide."""
    reader, infos, _ = cache
    pipeline = Compose(LSJ)
    for info in infos:
        if info['label_type'] not in ('point', 'box'):
            continue
        np.random.seed(seed)
        out = pipeline(dict(info))
        hom = torch.as_tensor(out['homography_matrix'], dtype=torch.float32)
        ori = (info['height'], info['width'])
        hw = out['img_shape']
        bits = reader.read(info['img_id'])['masks']
        cached = teacher.cached_candidates(bits, ori, hom, hw)
        image = mmcv.imread(info['img_path'], channel_order='rgb')
        points, boxes = image_prompts(info)
        logits, _ = teacher.decode(teacher.encode_original(image), ori,
                                   None if points is None else torch.from_numpy(points),
                                   None if boxes is None else torch.from_numpy(boxes))
        online = teacher.to_frame(logits, ori, hw, hom) > 0
        assert cached.shape == online.shape == (len(info['instances']), 3) + tuple(hw)
        mixed = teacher.to_frame(bits.float(), ori, hw, hom)
        outside = (mixed < 1e-5) | (mixed > 1 - 1e-5)
        assert outside.float().mean() > 0.1  # the exact comparison covers real area
        assert (cached == online)[outside].all()
        assert (cached == online).float().mean().item() > 0.8


def test_stale_and_missing(cache, tmp_path):
    reader, infos, _ = cache
    with pytest.raises(SAMCacheError, match='no SAM cache for checkpoint 0000000000000000 in .*'
                                            'holds caches of other checkpoints'):
        SAMCache(reader.root, '0' * 64)
    with pytest.raises(SAMCacheError, match='no SAM cache for checkpoint'):
        SAMCache(str(tmp_path), '0' * 64)
    mask_img = next(i for i in infos if i['label_type'] == 'mask')
    with pytest.raises(SAMCacheError, match=f"no entry for image {mask_img['img_id']}"):
        reader.read(mask_img['img_id'])


def test_tool_two_workers(weak_dataset, tiny_ckpt, shapes_root, tmp_path):
    cfg = tmp_path / 'cfg.py'
    cfg.write_text(textwrap.dedent(f"""
        _base_ = [{TINY_CONFIG!r}]
        train_dataloader = dict(dataset=dict(
            _delete_=True, type='WeakCocoDataset', data_root={str(weak_dataset.data_root)!r},
            ann_file='annotations/weak_train.json', data_prefix=dict(img='images/'),
            metainfo=dict(classes={DEFAULT_CLASSES!r}), pipeline=[]))
        """))
    out = tmp_path / 'cache'
    proc = subprocess.run(
        [PYTHON, f'{REPO}/tools/sam_cache.py', str(cfg), '--out', str(out), '--checkpoint',
         tiny_ckpt, '--variant', 'custom', '--arch', json.dumps(TINY), '--workers', '2'],
        env=run_env(), capture_output=True, text=True, timeout=600, cwd=str(shapes_root))
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert proc.stdout.count('wrote') == 2 and 'SAM cache ready' in proc.stdout
    folder = next(out.iterdir())
    assert len(list(folder.glob('*.npz'))) == 9
    assert json.loads((folder / 'meta.json').read_text())['variant'] == 'custom'


def test_batch_targets_from_cache_and_online(cache, teacher, weak_dataset):
    """targets() on packed LSJ samples: latents equal the original prompts' latents of
    the surviving instances; cached candidates are the entry's rows of those instances."""
    reader, infos, _ = cache
    pipeline = Compose(LSJ[:-1] + [
        dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
        dict(type='ProjectWeakLabels'), dict(type='Pad', size=(96, 96)),
        dict(type='PackWeakDetInputs')])
    seen = set()
    for info in infos:
        np.random.seed(0)
        packed = pipeline(dict(info))
        sample = packed['data_samples']
        out = teacher.targets(sample, (96, 96), out_hw=(24, 24), cache=reader)
        kind = info['label_type']
        if kind not in ('point', 'box'):
            assert out['type'] is None
            continue
        seen.add(kind)
        ids = (sample.gt_points.ids if kind == 'point' else sample.gt_instances.instances_ids)
        n = len(ids)
        assert out['latents'].shape == (n, 2, 32) and out['masks'].shape == (n, 3, 24, 24)
        points, boxes = image_prompts(info)
        original = torch.from_numpy(points if kind == 'point' else boxes)[ids]
        ref = teacher.prompt_latents(**{'points' if kind == 'point' else 'boxes': original},
                                     ori_shape=(info['height'], info['width']))
        torch.testing.assert_close(out['latents'], ref, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(out['iou'], reader.read(info['img_id'])['iou'][ids])
        # online: the encoder on this padded batch image, prompts in its frame
        emb = teacher.image_embeddings(packed['inputs'][None].float().flip(1), MEAN, STD)
        online = teacher.targets(sample, (96, 96), out_hw=(24, 24), embedding=emb)
        assert online['masks'].shape == (n, 3, 24, 24)
    assert seen == {'point', 'box'}


def test_entry_of_other_labels_is_refused(cache, teacher):
    """An annotation file edited after the cache was built: the entry's prompts no longer
    match the image's, and its candidates would belong to other objects."""
    reader, infos, _ = cache
    pipeline = Compose([dict(type='LoadImageFromFile'),
                        dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True),
                        dict(type='ProjectWeakLabels'), dict(type='PackWeakDetInputs')])
    info = next(i for i in infos if i['label_type'] == 'point')
    moved = dict(info, instances=[dict(i, point=[i['point'][0] + 3, i['point'][1]])
                                  for i in info['instances']])
    sample = pipeline(moved)['data_samples']
    hw = sample.img_shape
    with pytest.raises(SAMCacheError, match=rf"image {info['img_id']}\) was made from other "
                                            'points.*rebuild it'):
        teacher.targets(sample, hw, cache=reader)
    assert teacher.targets(pipeline(dict(info))['data_samples'], hw, cache=reader)['type']
    tag = next(i for i in infos if i['label_type'] == 'tag')
    as_points = dict(info, img_id=tag['img_id'])  # a tag image relabelled with points
    with pytest.raises(SAMCacheError, match='holds no candidates, but the image now has points'):
        teacher.targets(pipeline(as_points)['data_samples'], hw, cache=reader)
