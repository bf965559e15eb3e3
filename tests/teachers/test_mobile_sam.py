"""MobileSAM as a teacher family: mmwish's TinyViT against the public checkpoint's keys
and the public code's output, and ``SAMTeacher`` with a tiny random MobileSAM (points,
boxes, online and cached, refusals across families, two WISH training steps)."""
import json
import math
import os.path as osp

import numpy as np
import pytest
import torch
from mmdet.registry import DATASETS
from mmengine.registry import init_default_scope

from mmwish.datasets.converters.weak_budget import convert_to_weak
from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers import SAMCheckpointError, SAMTeacher, build_sam_model, sam_arch
from mmwish.teachers.sam_builder import guess_variant
from mmwish.teachers.sam_cache import SAMCache, cache_shard, write_meta
from mmwish.teachers.sam_teacher import to_sam_boxes, to_sam_points
from tests.models.detectors.test_wish import hetero_root  # noqa: F401

from .conftest import (
    MEAN,
    STD,
    TINY,
    check_online_and_cached_agree,
    run_cache_tool,
    wish_steps_with_teacher,
)

# Produced from the public MobileSAM repository, not from mmwish: at
# github.com/ChaoningZhang/MobileSAM commit 34bbbfdface3c18e5221aa7de6032d7220c6c6a1,
# mobile_sam/build_sam.py's build_sam_vit_t() (its modeling/tiny_vit_sam.py, with timm's
# DropPath, to_2tuple and trunc_normal_ stubbed; PromptEncoder, MaskDecoder as in
# segment_anything): ``keys`` is its state_dict's {key: shape} in order;
# ``encoder_output`` its image encoder's output for seeded_state()'s weights on
# torch.randn(1, 3, 1024, 1024) from seed 2 (see test_encoder_matches_the_public_code).
REFERENCE = osp.join(osp.dirname(__file__), 'fixtures', 'mobile_sam_reference.json')

# A MobileSAM with the official structure in small: 128 px input, 8x8 embedding, 32x32
# low-res masks; stage 1 has 16 windows of 4, stage 2 pads 8x8 to windows of 3, stage 3
# is one window. Random weights, ~0.1 s per image.
TINY_MOBILE = dict(family='mobile_sam', image_size=128, embed_dims=(8, 16, 24, 32),
                   depths=(1, 1, 2, 1), num_heads=(1, 2, 3, 4), window_sizes=(4, 4, 3, 8),
                   prompt_embed_dim=32, decoder_mlp_dim=64, num_classes=10)


def reference():
    with open(REFERENCE) as f:
        return json.load(f)


def seeded_state(shapes: dict, seed: int = 1) -> dict:
    """Random weights for a state dict of these ``{key: shape}``, the same for any code
    that has these keys: drawn in key order from one generator; batch-norm variances
    positive, norm scales near 1, weights of matrices and kernels ~ 1/sqrt(fan-in)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, shape in shapes.items():
        if key.endswith('num_batches_tracked'):
            state[key] = torch.zeros((), dtype=torch.long)
        elif key.endswith('running_var'):
            state[key] = torch.rand(shape, generator=g) + 0.5
        elif len(shape) == 1 and key.endswith('weight'):
            state[key] = 1 + 0.1 * torch.randn(shape, generator=g)
        elif len(shape) < 2:
            state[key] = 0.1 * torch.randn(shape, generator=g)
        else:
            state[key] = torch.randn(shape, generator=g) / math.sqrt(math.prod(shape[1:]))
    return state


def encoder_fingerprint(out: torch.Tensor) -> dict:
    """A few values of a (1, 256, 64, 64) output and its per-channel means."""
    return dict(samples=out[0, ::32, ::16, ::16].flatten().tolist(),
                channel_means=out[0].mean(dim=(1, 2)).tolist())


@pytest.fixture(scope='module')
def mobile_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('mobile_sam') / 'tiny_mobile_sam.pth'
    torch.save(build_sam_model('custom', **TINY_MOBILE).state_dict(), path)
    return str(path)


@pytest.fixture(scope='module')
def mobile(mobile_ckpt):
    return SAMTeacher(checkpoint=mobile_ckpt, variant='custom', arch=TINY_MOBILE)


@pytest.mark.parametrize('variant', ['mobile_sam', 'vit_t'])
def test_state_dict_is_the_official_checkpoints(variant):
    """Exactly mobile_sam.pt's keys and shapes (listed from the public code), so the
    official file loads strictly; both names build it."""
    built = build_sam_model(variant).state_dict()
    expected = reference()['keys']
    assert list(built) == list(expected)
    assert {k: list(v.shape) for k, v in built.items()} == expected
    assert guess_variant(built) == 'mobile_sam'


def test_encoder_matches_the_public_code():
    """The public TinyViT's output for the same weights and input (recorded once from
    the public code, see REFERENCE): (1, 256, 64, 64) for a 1024 px image."""
    ref = reference()
    shapes = {k[len('image_encoder.'):]: v for k, v in ref['keys'].items()
              if k.startswith('image_encoder.')}
    encoder = build_sam_model('mobile_sam').image_encoder
    encoder.load_state_dict(seeded_state(shapes), strict=True)
    x = torch.randn(1, 3, 1024, 1024, generator=torch.Generator().manual_seed(2))
    recorded = ref['encoder_output']
    assert torch.allclose(x[0, 0, 0, :4], torch.tensor(recorded['input_head'])), \
        "torch's random numbers differ from the recording's; regenerate the reference"
    with torch.no_grad():
        out = encoder(x)
    assert out.shape == (1, 256, 64, 64)
    for name, values in encoder_fingerprint(out).items():
        np.testing.assert_allclose(values, recorded[name], atol=2e-4, rtol=1e-4, err_msg=name)


def test_arch_names_and_checks():
    assert sam_arch('vit_t') == sam_arch('mobile_sam')
    assert sam_arch('mobile_sam')['family'] == 'mobile_sam' and sam_arch()['family'] == 'sam'
    with pytest.raises(ValueError, match=r"family 'mobile_sam' needs the encoder's "
                                         r"\['depths', 'window_sizes'\]"):
        sam_arch('custom', family='mobile_sam', embed_dims=(8, 16), num_heads=(1, 2))
    with pytest.raises(ValueError, match="variant 'vit_b' is of family 'sam', not 'mobile_sam'"):
        sam_arch('vit_b', family='mobile_sam')
    with pytest.raises(ValueError, match=r"unknown SAM arch keys \['global_attn_indexes'\]"):
        sam_arch('mobile_sam', global_attn_indexes=(1,))
    with pytest.raises(ValueError, match="unknown SAM family 'sam3'"):
        sam_arch('custom', family='sam3')


def test_latents_and_three_candidates_for_points_and_boxes(mobile):
    """Same forms as SAM's: latents (n, 2, C), 3 candidates and IoU per prompt, all
    prompts of an image in one decoder call; the candidates are SAM's own pipeline's."""
    assert mobile.image_size == 128
    points = torch.tensor([[10.5, 20.5], [60.0, 5.0]])
    boxes = torch.tensor([[4.0, 6.0, 44.0, 36.0]])
    assert mobile.prompt_latents(points=points, frame_hw=(48, 80)).shape == (2, 2, 32)
    assert mobile.prompt_latents(boxes=boxes, frame_hw=(48, 80)).shape == (1, 2, 32)
    torch.manual_seed(1)
    img = torch.rand(1, 3, 48, 80) * 255
    norm = (img - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    emb = mobile.image_embeddings(norm, MEAN, STD)
    assert emb.shape == (1, 32, 8, 8)
    sam = mobile.sam
    calls = []
    hook = sam.mask_decoder.register_forward_hook(
        lambda m, args, kwargs, out: calls.append(kwargs['sparse_prompt_embeddings'].shape),
        with_kwargs=True)
    try:
        logits, iou = mobile.candidate_masks(emb, (48, 80), points=points, boxes=boxes)
    finally:
        hook.remove()
    assert calls == [(3, 2, 32)]
    assert logits.shape == (3, 3, 48, 80) and iou.shape == (3, 3)
    s = 128 / 80
    for i in range(3):
        if i < 2:
            sparse, dense = sam.prompt_encoder(
                points=(to_sam_points(points[i:i + 1], s)[:, None], torch.ones(1, 1)),
                boxes=None, masks=None)
        else:
            sparse, dense = sam.prompt_encoder(points=None, boxes=to_sam_boxes(boxes, s),
                                               masks=None)
        own_low, own_iou = sam.mask_decoder(emb, sam.prompt_encoder.get_dense_pe(), sparse,
                                            dense, multimask_output=True)
        torch.testing.assert_close(iou[i], own_iou[0])
        own = sam.postprocess_masks(own_low, (77, 128), (48, 80))  # 48 * 1.6 -> 77
        assert ((logits[i] > 0) == (own[0] > 0)).float().mean() > 0.97


@pytest.fixture(scope='module')
def weak_dataset(shapes_root):
    root = shapes_root / 'data' / 'shapes'
    coco = json.load(open(root / 'annotations' / 'instances_train.json'))
    weak, _ = convert_to_weak(coco, dict(tag=2, point=3, box=3, mask=1), seed=1)
    (root / 'annotations' / 'weak_train_mobile_sam.json').write_text(json.dumps(weak))
    init_default_scope('mmdet')
    return DATASETS.build(dict(type='WeakCocoDataset', data_root=str(root) + '/',
                               ann_file='annotations/weak_train_mobile_sam.json',
                               data_prefix=dict(img='images/'),
                               metainfo=dict(classes=DEFAULT_CLASSES), pipeline=[]))


@pytest.mark.parametrize('seed', range(2))
def test_online_and_cached_agree_after_flip_resize_crop(mobile, weak_dataset, tmp_path, seed):
    """As SAM's (test_sam_cache): cached and online candidates differ only on outlines."""
    folder = write_meta(str(tmp_path), mobile.checkpoint, mobile.checkpoint_hash, 'custom', 128)
    infos = [weak_dataset.get_data_info(i) for i in range(len(weak_dataset))]
    cache_shard(mobile, infos, folder, log=None)
    reader = SAMCache(str(tmp_path), mobile.checkpoint_hash)
    tag = next(i for i in infos if i['label_type'] == 'tag')
    assert reader.read(tag['img_id'])['embedding'].shape == (32, 8, 8)
    check_online_and_cached_agree(mobile, reader, infos, seed)


def test_a_file_of_another_family_is_refused_in_one_sentence(tiny_ckpt, mobile_ckpt):
    with pytest.raises(SAMCheckpointError) as info:
        SAMTeacher(checkpoint=tiny_ckpt, variant='mobile_sam')
    msg = str(info.value)
    assert "does not match variant 'mobile_sam'" in msg and '. ' not in msg.replace('e.g. ', '')
    assert ('the file looks like custom (embed_dim=32, depth=2) (a SAM ViT image encoder, '
            'keys image_encoder.blocks.*), another family than variant \'mobile_sam\' '
            "(MobileSAM's TinyViT image encoder, keys image_encoder.layers.*)") in msg
    with pytest.raises(SAMCheckpointError) as info:
        SAMTeacher(checkpoint=mobile_ckpt, variant='custom', arch=TINY)
    assert ("the file looks like custom MobileSAM (embed_dims=[8, 16, 24, 32], depths=[1, 1, "
            "2, 1]) (MobileSAM's TinyViT image encoder, keys image_encoder.layers.*), another "
            "family than variant 'custom' (a SAM ViT image encoder") in str(info.value)
    # within the family: the file's own encoder is named
    with pytest.raises(SAMCheckpointError, match=r'looks like custom MobileSAM \(embed_dims='
                                                 r'\[8, 16, 24, 32\], depths=\[1, 1, 2, 1\]\):'):
        SAMTeacher(checkpoint=mobile_ckpt, variant='custom',
                   arch=dict(TINY_MOBILE, embed_dims=(8, 16, 24, 40)))
    # the official file's shapes are named as such, by both names
    shapes = {k: torch.empty(v) for k, v in reference()['keys'].items()}
    assert guess_variant(shapes) == 'mobile_sam'
    vit_b = {'image_encoder.patch_embed.proj.weight': torch.empty(768, 3, 16, 16)}
    vit_b.update({f'image_encoder.blocks.{i}.norm1.weight': torch.empty(1) for i in range(12)})
    assert guess_variant(vit_b) == 'vit_b'


def test_cache_tool_with_a_mobile_sam(weak_dataset, mobile_ckpt, shapes_root, tmp_path):
    run_cache_tool(weak_dataset, 'annotations/weak_train_mobile_sam.json', tmp_path,
                   shapes_root, '--checkpoint', mobile_ckpt, '--variant', 'custom', '--arch',
                   TINY_MOBILE)
    out = tmp_path / 'cache'
    folder = next(out.iterdir())
    assert len(list(folder.glob('*.npz'))) == 8  # 3 point + 3 box + 2 tag images
    meta = json.loads((folder / 'meta.json').read_text())
    assert meta['image_size'] == 128 and meta['sha256'].startswith(folder.name)


def test_wish_trains_two_iterations_with_a_tiny_mobile_sam(mobile_ckpt, hetero_root):  # noqa: F811
    model, data = wish_steps_with_teacher(
        dict(type='SAMTeacher', checkpoint=mobile_ckpt, variant='custom', arch=TINY_MOBILE),
        mobile_ckpt, hetero_root, prompt_dim=TINY_MOBILE['prompt_embed_dim'])
    assert type(model.teacher.sam.image_encoder).__name__ == 'TinyViT'
    targets = data['data_samples'][1].sam_targets  # the point image
    assert targets.latents.shape[1:] == (2, 32) and targets.candidates.shape[1] == 3
