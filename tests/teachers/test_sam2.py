"""SAM 2.1 as a teacher family: ``sam2``'s own model behind ``SAMTeacher``, checked
against the public checkpoint's keys and sizes and against ``SAM2ImagePredictor``'s
outputs, and used as a teacher with a tiny random Hiera (points, boxes, online and
cached, refusals across families, the cache tool, two WISH training steps)."""
import json
import os.path as osp
import subprocess

import numpy as np
import pytest
import torch

from mmwish.teachers import SAMCheckpointError, SAMTeacher, build_sam_model
from mmwish.teachers.sam2_model import pack_levels, unpack_levels
from mmwish.teachers.sam_builder import checkpoint_module, guess_variant, sam_arch
from mmwish.teachers.sam_cache import SAMCache, cache_shard, write_meta
from mmwish.teachers.sam_teacher import to_sam_boxes, to_sam_points
from tests.conftest import PYTHON, REPO, run_env
from tests.models.detectors.test_wish import hetero_root  # noqa: F401

from .conftest import check_online_and_cached_agree, run_cache_tool, wish_steps_with_teacher
from .test_mobile_sam import weak_dataset  # noqa: F401

# From the public code, not from mmwish: sam2 1.1.0's build_sam2 on its
# configs/sam2.1/sam2.1_hiera_t.yaml (the state dict sam2.1_hiera_tiny.pt holds), see
# the file's 'made_by'.
REFERENCE = osp.join(osp.dirname(__file__), 'fixtures', 'sam2.1_hiera_t_reference.json')
# Parameters (millions) in the model table of github.com/facebookresearch/sam2's
# README (commit 2b90b9f), one row per checkpoint.
README_PARAMS = {'sam2.1_hiera_t': 38.9, 'sam2.1_hiera_s': 46, 'sam2.1_hiera_b+': 80.8,
                 'sam2.1_hiera_l': 224.4, 'sam2_hiera_t': 38.9}

# A SAM 2.1 with the official structure in small: 128 px input, a 4-stage Hiera of width
# 8 (windows 8, 4, 4, 2; one global block), levels at strides 4, 8 and 16 of width 32.
TINY_SAM2 = dict(family='sam2', image_size=128, embed_dim=8, num_heads=1, stages=(1, 1, 2, 1),
                 global_att_blocks=(3,), window_spec=(8, 4, 4, 2), d_model=32)


@pytest.fixture(scope='module')
def sam2_ckpt(tmp_path_factory):
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp('sam2') / 'tiny_sam2.pt'
    model = checkpoint_module(build_sam_model('custom', **TINY_SAM2))
    torch.save({'model': model.state_dict()}, path)  # the official files' layout
    return str(path)


@pytest.fixture(scope='module')
def sam2_teacher(sam2_ckpt):
    return SAMTeacher(checkpoint=sam2_ckpt, variant='custom', arch=TINY_SAM2)


def test_state_dict_is_the_official_checkpoints():
    """Exactly sam2.1_hiera_tiny.pt's keys and shapes, so the official file loads strictly."""
    with open(REFERENCE) as f:
        expected = json.load(f)['keys']
    built = checkpoint_module(build_sam_model('sam2.1_hiera_t')).state_dict()
    assert {k: list(v.shape) for k, v in built.items()} == expected
    assert guess_variant(built) == 'sam2.1_hiera_t'


@pytest.mark.parametrize('variant', sorted(README_PARAMS))
def test_public_variants_have_the_readme_sizes(variant):
    state = checkpoint_module(build_sam_model(variant)).state_dict()
    millions = sum(v.numel() for v in state.values()) / 1e6
    assert abs(millions - README_PARAMS[variant]) < 0.1, millions
    assert guess_variant(state) == variant


def test_arch_checks():
    assert sam_arch('sam2.1_hiera_t', image_size=512)['image_size'] == 512
    with pytest.raises(ValueError, match="built from sam2's own config; only its image_size"):
        sam_arch('sam2.1_hiera_t', embed_dim=64)
    with pytest.raises(ValueError, match=r"family 'sam2' needs the encoder's \['stages'"):
        sam_arch('custom', family='sam2', embed_dim=8, num_heads=1)
    with pytest.raises(ValueError, match=r"unknown SAM arch keys \['base'\]"):
        sam_arch('custom', **TINY_SAM2, base='configs/sam2.1/sam2.1_hiera_l.yaml')
    # a public variant is its config's, not the custom defaults'
    assert sam_arch('sam2.1_hiera_l') == dict(
        image_size=1024, family='sam2', base='configs/sam2.1/sam2.1_hiera_l.yaml',
        embed_dim=144, stages=(2, 6, 36, 4))


def test_levels_pack_and_unpack():
    embed, s0, s1 = torch.randn(2, 32, 8, 8), torch.randn(2, 4, 32, 32), torch.randn(2, 8, 16, 16)
    packed = pack_levels(embed, s0, s1)
    assert packed.shape == (2, 32 + 64 + 32, 8, 8)
    for a, b in zip(unpack_levels(packed, 32), (embed, s0, s1)):
        assert torch.equal(a, b)


def test_latents_and_candidates_are_sam2_image_predictors(sam2_teacher):
    """Latents (n, 2, C) for points and boxes, 3 candidates and IoU per prompt, one decoder
    call per image and kind; the candidates and IoU are SAM2ImagePredictor's for the same
    prompts (its coordinates are ours without the half-pixel shift, per axis: SAM 2
    stretches the 48 x 80 image to 128 x 128)."""
    from sam2.sam2_image_predictor import SAM2ImagePredictor
    teacher = sam2_teacher
    points = torch.tensor([[10.5, 20.5], [60.0, 5.0]])
    boxes = torch.tensor([[4.0, 6.0, 44.0, 36.0], [50.0, 10.0, 79.0, 47.0]])
    assert teacher.prompt_latents(points=points, frame_hw=(48, 80)).shape == (2, 2, 32)
    assert teacher.prompt_latents(boxes=boxes, frame_hw=(48, 80)).shape == (2, 2, 32)
    image = (torch.rand(48, 80, 3, generator=torch.Generator().manual_seed(1)) * 255).to(
        torch.uint8).numpy()
    emb = teacher.encode_original(image)
    assert emb.shape == (1, 4 * 32, 8, 8)
    calls = []
    hook = teacher.sam.model.sam_mask_decoder.register_forward_hook(
        lambda m, args, kwargs, out: calls.append(kwargs['sparse_prompt_embeddings'].shape),
        with_kwargs=True)
    try:
        low_res, iou = teacher.decode(emb, (48, 80), points=points)
        box_low_res, box_iou = teacher.decode(emb, (48, 80), boxes=boxes)
    finally:
        hook.remove()
    assert calls == [(2, 2, 32), (2, 3, 32)]  # a box: 2 corners and SAM 2's padding token
    assert low_res.shape == (2, 3, 32, 32) and iou.shape == (2, 3)

    predictor = SAM2ImagePredictor(teacher.sam.model)
    predictor._bb_feat_sizes = [(32, 32), (16, 16), (8, 8)]  # it assumes 1024 px inputs
    predictor.set_image(image)
    scale = torch.tensor([128 / 80, 128 / 48])
    _, own_iou, own_low = predictor.predict(
        point_coords=(to_sam_points(points, scale) / scale)[:, None].numpy(),
        point_labels=np.ones((2, 1)), multimask_output=True, return_logits=True)
    np.testing.assert_allclose(iou.numpy(), own_iou, atol=1e-4)
    np.testing.assert_allclose(low_res.numpy(), own_low, atol=1e-3)
    _, own_iou, own_low = predictor.predict(
        box=(to_sam_boxes(boxes, scale) / scale.repeat(2)).numpy(), multimask_output=True,
        return_logits=True)
    np.testing.assert_allclose(box_iou.numpy(), own_iou, atol=1e-4)
    np.testing.assert_allclose(box_low_res.numpy(), own_low, atol=1e-3)
    # the candidates in the frame: the low-res logits over the whole stretched image
    masks, _ = teacher.candidate_masks(emb, (48, 80), boxes=boxes)
    assert masks.shape == (2, 3, 48, 80)


@pytest.mark.parametrize('seed', range(2))
def test_online_and_cached_agree_after_flip_resize_crop(sam2_teacher, weak_dataset, tmp_path,  # noqa: F811
                                                        seed):
    """As SAM's: the cache stores the three levels for tag images, and cached and
    online candidates differ only on outlines."""
    folder = write_meta(str(tmp_path), sam2_teacher.checkpoint, sam2_teacher.checkpoint_hash,
                        'custom', 128)
    infos = [weak_dataset.get_data_info(i) for i in range(len(weak_dataset))]
    cache_shard(sam2_teacher, infos, folder, log=None)
    reader = SAMCache(str(tmp_path), sam2_teacher.checkpoint_hash)
    tag = next(i for i in infos if i['label_type'] == 'tag')
    assert reader.read(tag['img_id'])['embedding'].shape == (128, 8, 8)
    check_online_and_cached_agree(sam2_teacher, reader, infos, seed)


def test_a_file_of_another_family_is_refused_in_one_sentence(tiny_ckpt, sam2_ckpt):
    with pytest.raises(SAMCheckpointError) as info:
        SAMTeacher(checkpoint=tiny_ckpt, variant='sam2.1_hiera_t')
    msg = str(info.value)
    assert "does not match variant 'sam2.1_hiera_t'" in msg
    assert '. ' not in msg.replace('e.g. ', '')
    assert ("another family than variant 'sam2.1_hiera_t' (a SAM 2 Hiera image encoder, keys "
            'image_encoder.trunk.*)') in msg
    with pytest.raises(SAMCheckpointError) as info:
        SAMTeacher(checkpoint=sam2_ckpt, variant='mobile_sam')
    assert ('the file looks like custom SAM 2.1 (embed_dim=8, 5 blocks) (a SAM 2 Hiera image '
            "encoder, keys image_encoder.trunk.*), another family than variant 'mobile_sam'"
            ) in str(info.value)
    # within the family: a SAM 2 (not 2.1) file is named as such
    with open(REFERENCE) as f:
        shapes = {k: torch.empty(v) for k, v in json.load(f)['keys'].items()}
    assert guess_variant(shapes) == 'sam2.1_hiera_t'
    for key in [k for k in shapes if k.startswith(('no_obj_embed_spatial', 'obj_ptr_tpos_proj'))]:
        del shapes[key]
    assert guess_variant(shapes) == 'sam2_hiera_t'


def test_without_the_sam2_package(tmp_path):
    """mmwish imports without sam2; a config that asks for SAM 2 says what to install."""
    code = ("import sys; sys.modules['sam2'] = None\n"
            'import mmwish.teachers, mmwish.models\n'
            'from mmwish.teachers import build_sam_model\n'
            'try:\n    build_sam_model("sam2.1_hiera_t")\n'
            'except ImportError as e:\n    print(e)\n')
    proc = subprocess.run([PYTHON, '-c', code], env=run_env(), capture_output=True, text=True,
                          timeout=300, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.strip() == (
        "SAM 2 teachers need Meta's sam2 package: SAM2_BUILD_CUDA=0 pip install "
        '--no-build-isolation -r requirements/sam2.txt')


def test_cache_tool_with_a_sam2(weak_dataset, sam2_ckpt, shapes_root, tmp_path):  # noqa: F811
    run_cache_tool(weak_dataset, 'annotations/weak_train_mobile_sam.json', tmp_path,
                   shapes_root, '--checkpoint', sam2_ckpt, '--variant', 'custom', '--arch',
                   TINY_SAM2)
    folder = next((tmp_path / 'cache').iterdir())
    assert len(list(folder.glob('*.npz'))) == 8  # 3 point + 3 box + 2 tag images
    meta = json.loads((folder / 'meta.json').read_text())
    assert meta['image_size'] == 128 and meta['sha256'].startswith(folder.name)


def test_wish_trains_two_iterations_with_a_tiny_sam2(sam2_ckpt, hetero_root):  # noqa: F811
    model, data = wish_steps_with_teacher(
        dict(type='SAMTeacher', checkpoint=sam2_ckpt, variant='custom', arch=TINY_SAM2),
        sam2_ckpt, hetero_root, prompt_dim=TINY_SAM2['d_model'])
    assert model.teacher.is_sam2
    targets = data['data_samples'][1].sam_targets  # the point image
    assert targets.latents.shape[1:] == (2, 32) and targets.candidates.shape[1] == 3


def test_sam_decoder_inference_with_sam2(sam2_teacher):
    """Predicted box latents decode with SAM 2's padding token appended."""
    emb = torch.randn(1, 128, 8, 8)
    z = sam2_teacher.prompt_latents(boxes=torch.tensor([[4.0, 6.0, 44.0, 36.0]]),
                                    frame_hw=(48, 80))
    low_res, iou = sam2_teacher.decode_tokens(emb, z, 'box')
    own, own_iou = sam2_teacher.decode(emb, (48, 80), boxes=torch.tensor([[4.0, 6.0, 44.0,
                                                                            36.0]]))
    torch.testing.assert_close(low_res, own)
    with pytest.raises(ValueError, match="prompt_type 'point' or 'box', not None"):
        sam2_teacher.decode_tokens(emb, z)
