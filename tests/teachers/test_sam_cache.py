"""The offline SAM cache: contents, online vs cached after augmentation, errors, the tool."""
import json
import os
import zipfile

import mmcv
import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.dataset import Compose
from mmengine.registry import init_default_scope

from mmwish.datasets.converters.weak_budget import convert_to_weak
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers import sam_cache
from mmwish.teachers.sam_cache import (
    SAMCache,
    SAMCacheError,
    cache_shard,
    image_prompts,
    prompts_array,
    write_entry,
    write_meta,
)
from mmwish.teachers.sam_teacher import to_sam_boxes, to_sam_points

from .conftest import LSJ, MEAN, STD, TINY, check_online_and_cached_agree, run_cache_tool


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
            hw = (info['height'], info['width'])
            assert entry['masks'].shape == (n, 3) + hw and entry['masks'].dtype == torch.bool
            assert entry['iou'].shape == (n, 3) and 'embedding' not in entry
            points, boxes = image_prompts(info)
            expected = points if kind == 'point' else boxes
            np.testing.assert_allclose(entry['prompts'][:, :expected.shape[1]], expected)
    # a rerun (e.g. after a crash) keeps what is there and computes nothing
    again = cache_shard(teacher, infos, reader.folder, 0, 2, log=None)
    assert again['images'] == 0 and again['skipped'] == stats[0]['images']


def test_entries_hold_sams_masks_at_the_image_resolution(cache, teacher):
    """An entry's candidates are SAM's own post-processed masks of the original image
    (low-res logits upsampled to the image, thresholded at 0), bit for bit, stored
    compressed: less than the raw H * W / 8 bytes per candidate."""
    reader, infos, _ = cache
    info = next(i for i in infos if i['label_type'] == 'box')
    image = mmcv.imread(info['img_path'], channel_order='rgb')
    hw = image.shape[:2]
    logits, _ = teacher.decode(teacher.encode_original(image), hw,
                               boxes=torch.from_numpy(image_prompts(info)[1]))
    entry = reader.read(info['img_id'])
    assert torch.equal(entry['masks'], teacher.to_frame(logits, hw, hw) > 0)
    scale = teacher.image_size / max(hw)  # SAM's ResizeLongestSide
    input_size = tuple(int(v * scale + 0.5) for v in hw)
    sam_own = teacher.sam.postprocess_masks(logits, input_size, hw) > 0
    # SAM interpolates twice (to its square, then to the image), we once: the random
    # tiny SAM's ragged masks differ on their many edges
    assert (entry['masks'] == sam_own).float().mean() > 0.9
    size = os.path.getsize(reader.path(info['img_id']))
    assert size < 3 * hw[0] * hw[1] / 8 * len(info['instances']) + 1500


def test_entries_made_a_prompt_at_a_time_are_those_of_one_call(cache, teacher, tmp_path,
                                                               monkeypatch):
    """``cache_shard`` upsamples a large photo's candidates a few prompts at a time
    (``CHUNK_BYTES``); an entry made one prompt at a time holds, byte for byte, the arrays
    of the entry written from one ``to_frame`` call for all the prompts (as before the
    chunks), and so does the cache's own entry of this small image."""
    reader, infos, _ = cache
    for kind in ('point', 'box'):
        info = max((i for i in infos if i['label_type'] == kind),
                   key=lambda i: len(i['instances']))
        assert len(info['instances']) >= 2
        image = mmcv.imread(info['img_path'], channel_order='rgb')
        hw = image.shape[:2]
        points, boxes = image_prompts(info)
        logits, iou = teacher.decode(
            teacher.encode_original(image), hw,
            points=None if points is None else torch.from_numpy(points),
            boxes=None if boxes is None else torch.from_numpy(boxes))
        one_call = tmp_path / f'{kind}_one_call'
        one_call.mkdir()
        write_entry(str(one_call), info['img_id'], prompts_array(points, boxes),
                    masks=teacher.to_frame(logits, hw, hw) > 0, iou=iou)
        chunked = tmp_path / f'{kind}_chunked'
        chunked.mkdir()
        with monkeypatch.context() as m:
            m.setattr(sam_cache, 'CHUNK_BYTES', 1)  # one prompt per chunk
            cache_shard(teacher, [info], str(chunked), log=None)
        members = {}
        for folder in (one_call, chunked, reader.folder):
            with zipfile.ZipFile(os.path.join(folder, f"{info['img_id']}.npz")) as z:
                members[folder] = {name: z.read(name) for name in z.namelist()}
        assert sorted(members[one_call]) == ['iou.npy', 'mask_hw.npy', 'masks.npy',
                                             'prompts.npy']
        assert members[chunked] == members[one_call] == members[reader.folder]


def test_old_cache_format_is_refused_with_the_rebuild_command(cache, tmp_path):
    reader, _, _ = cache
    meta = json.loads(open(os.path.join(reader.folder, 'meta.json')).read())
    folder = tmp_path / reader.folder.split(os.sep)[-1]
    folder.mkdir()
    (folder / 'meta.json').write_text(json.dumps(dict(meta, format=1)))
    with pytest.raises(SAMCacheError, match=r'format-1 SAM cache .* rebuild it with: python '
                                            rf'tools/sam_cache.py CONFIG --out {tmp_path}'):
        SAMCache(str(tmp_path), meta['sha256'])


@pytest.mark.parametrize('seed', range(3))
def test_online_and_cached_agree_after_flip_resize_crop(cache, teacher, seed):
    """Cached and online candidates differ only on the masks' outlines (see
    ``check_online_and_cached_agree``)."""
    reader, infos, _ = cache
    check_online_and_cached_agree(teacher, reader, infos, seed)


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
    proc = run_cache_tool(weak_dataset, 'annotations/weak_train.json', tmp_path, shapes_root,
                          '--checkpoint', tiny_ckpt, '--variant', 'custom', '--arch', TINY,
                          '--workers', 2)
    out = tmp_path / 'cache'
    assert proc.stdout.count('wrote') == 2 and 'SAM cache ready' in proc.stdout
    folder = next(out.iterdir())
    assert len(list(folder.glob('*.npz'))) == 9
    assert json.loads((folder / 'meta.json').read_text())['variant'] == 'custom'


def batch_frame_prompts(sample, kind):
    """The labels' original points or boxes as they lie in the packed sample's frame:
    mapped by mmdet's homography; boxes clipped to the image (a box cut by the crop
    encodes its visible part)."""
    hom = torch.as_tensor(sample.homography_matrix, dtype=torch.float32)
    ids = sample.gt_points.ids if kind == 'point' else sample.gt_instances.instances_ids
    original = torch.as_tensor(sample.ori_prompts)[ids]
    if kind == 'point':
        return torch.cat([original, torch.ones(len(original), 1)], 1) @ hom.T[:, :2], False
    corners = original[:, [0, 1, 2, 1, 0, 3, 2, 3]].reshape(-1, 2)
    mapped = (torch.cat([corners, torch.ones(len(corners), 1)], 1) @ hom.T)[:, :2]
    mapped = mapped.reshape(-1, 4, 2)
    whole = torch.cat([mapped.min(1).values, mapped.max(1).values], 1)
    h, w = sample.img_shape[:2]
    visible = torch.stack([whole[:, 0].clamp(0, w), whole[:, 1].clamp(0, h),
                           whole[:, 2].clamp(0, w), whole[:, 3].clamp(0, h)], 1)
    return visible, bool((visible != whole).any())


@pytest.mark.parametrize('seed', range(3))
def test_latents_are_sams_encoding_in_the_batch_frame(cache, teacher, weak_dataset, seed):
    """targets() on packed flip/resize/crop samples, cached and online: each latent is
    SAM's prompt encoder on the transformed prompt in the padded batch frame (scale
    S / 96), computed here from the labels' original geometry by hand; a box cut by
    the crop gives its visible part's latent. Candidates are at the batch frame's
    full resolution; cached ones are the entry's rows of the surviving instances."""
    reader, infos, _ = cache
    pipeline = Compose(LSJ[:-1] + [
        dict(type='FilterWeakAnnotations', min_gt_bbox_wh=(1e-5, 1e-5), by_mask=True),
        dict(type='ProjectWeakLabels'), dict(type='Pad', size=(96, 96)),
        dict(type='PackWeakDetInputs')])
    seen, pe = set(), teacher.sam.prompt_encoder
    for info in infos:
        np.random.seed(seed)
        packed = pipeline(dict(info))
        sample = packed['data_samples']
        out = teacher.targets(sample, (96, 96), cache=reader)
        kind = info['label_type']
        if kind not in ('point', 'box'):
            assert out['type'] is None
            continue
        ids = (sample.gt_points.ids if kind == 'point' else sample.gt_instances.instances_ids)
        n = len(ids)
        assert out['latents'].shape == (n, 2, 32) and out['masks'].shape == (n, 3, 96, 96)
        prompts, cut = batch_frame_prompts(sample, kind)
        scale = 64 / 96
        if kind == 'point':
            ref, _ = pe(points=(to_sam_points(prompts, scale)[:, None], torch.ones(n, 1)),
                        boxes=None, masks=None)
        else:
            ref, _ = pe(points=None, boxes=to_sam_boxes(prompts, scale), masks=None)
        torch.testing.assert_close(out['latents'], ref, atol=1e-4, rtol=1e-4)
        seen.add(kind + (' cut' if cut else ''))
        torch.testing.assert_close(out['iou'], reader.read(info['img_id'])['iou'][ids])
        # online: the encoder on this padded batch image, prompts in its frame
        emb = teacher.image_embeddings(packed['inputs'][None].float().flip(1), MEAN, STD)
        online = teacher.targets(sample, (96, 96), embedding=emb)
        assert online['masks'].shape == (n, 3, 96, 96)
        torch.testing.assert_close(online['latents'], out['latents'])
    assert {'point', 'box'} <= {k.split()[0] for k in seen}


def test_a_box_cut_by_the_crop_encodes_its_visible_part(cache, teacher, weak_dataset):
    """Over a few crops, some box is cut; its latent is the clipped box's, not the
    whole box's (checked against SAM's encoder in the test above, here by seeing it)."""
    reader, infos, _ = cache
    pipeline = Compose(LSJ[:-1] + [dict(type='ProjectWeakLabels'), dict(type='Pad', size=(96, 96)),
                                   dict(type='PackWeakDetInputs')])
    pe = teacher.sam.prompt_encoder
    for seed in range(20):
        for info in infos:
            if info['label_type'] != 'box':
                continue
            np.random.seed(seed)
            sample = pipeline(dict(info))['data_samples']
            visible, cut = batch_frame_prompts(sample, 'box')
            if not cut:
                continue
            out = teacher.targets(sample, (96, 96), cache=reader)
            ref, _ = pe(points=None, boxes=to_sam_boxes(visible, 64 / 96), masks=None)
            torch.testing.assert_close(out['latents'], ref, atol=1e-4, rtol=1e-4)
            return
    pytest.fail('no crop cut a box: the test data changed')


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
