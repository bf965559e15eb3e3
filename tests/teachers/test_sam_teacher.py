"""The SAM teacher with a tiny SAM built from segment_anything's classes."""

import pytest
import torch
from torch import nn

from mmwish.teachers import SAMCheckpointError, SAMTeacher
from mmwish.teachers.sam_teacher import to_sam_boxes, to_sam_points

from .conftest import MEAN, STD, TINY


def test_latent_shapes_and_sams_own_encoder(teacher):
    """Z equals SAM's prompt encoder on the same prompts, in the frame given."""
    points = torch.tensor([[10.5, 20.5], [3.0, 30.0]])
    boxes = torch.tensor([[4.0, 6.0, 24.0, 16.0]])
    ori = (40, 80)  # h, w: SAM frame scale 64 / 80
    z_pts = teacher.prompt_latents(points=points, frame_hw=ori)
    z_box = teacher.prompt_latents(boxes=boxes, frame_hw=ori)
    assert z_pts.shape == (2, 2, 32) and z_box.shape == (1, 2, 32)
    s = 64 / 80
    pe = teacher.sam.prompt_encoder
    own_pts, _ = pe(points=(torch.tensor([[[10.5 * s - 0.5, 20.5 * s - 0.5]],
                                          [[3.0 * s - 0.5, 30.0 * s - 0.5]]]),
                            torch.ones(2, 1)), boxes=None, masks=None)
    own_box, _ = pe(points=None, boxes=torch.tensor([[4 * s, 6 * s, 24 * s - 1, 16 * s - 1]]),
                    masks=None)
    torch.testing.assert_close(z_pts, own_pts)
    torch.testing.assert_close(z_box, own_box)
    # a point gives (point, padding) tokens; the padding token is SAM's not-a-point embedding
    torch.testing.assert_close(z_pts[:, 1], pe.not_a_point_embed.weight.expand(2, -1))


def test_token_channel_means(teacher):
    """Averages over a grid of prompts; the point type's padding token is constant."""
    pe = teacher.sam.prompt_encoder
    point_means, box_means = (teacher.token_channel_means(t) for t in ('point', 'box'))
    assert point_means.shape == box_means.shape == (2,)
    torch.testing.assert_close(point_means[1], pe.not_a_point_embed.weight.mean())
    # the grid stands for the whole square: random prompts over it give about the same
    size = teacher.image_size
    g = torch.Generator().manual_seed(0)
    pts = torch.rand(2000, 1, 2, generator=g) * size
    tok, _ = pe(points=(pts, torch.ones(2000, 1)), boxes=None, masks=None)
    spread = tok[:, 0].mean(-1).std()
    assert abs(tok[:, 0].mean() - point_means[0]) < 0.2 * spread
    corners = (torch.rand(2000, 2, 2, generator=g) * size).sort(dim=1).values
    tok, _ = pe(points=None, boxes=corners.reshape(2000, 4), masks=None)
    for t in range(2):
        assert abs(tok[:, t].mean() - box_means[t]) < 0.2 * tok[:, t].mean(-1).std()
    with pytest.raises(ValueError, match="'point' or 'box'"):
        teacher.token_channel_means('tag')


def test_coordinate_conventions():
    torch.testing.assert_close(to_sam_points(torch.tensor([[0.5, 1.5]]), 2.0),
                               torch.tensor([[0.5, 2.5]]))
    # a box over pixels 2..5 (edges 2 and 6) -> first and last pixel indices
    torch.testing.assert_close(to_sam_boxes(torch.tensor([[2.0, 2.0, 6.0, 3.0]]), 1.0),
                               torch.tensor([[2.0, 2.0, 5.0, 2.0]]))


def test_latents_live_in_the_frame_given(teacher):
    """A flipped point's latent is SAM's encoding of the flipped point, not of the
    original one (the frame the student sees is the frame of the target)."""
    pe = teacher.sam.prompt_encoder
    points = torch.tensor([[10.5, 20.5]])
    flipped = torch.tensor([[80 - 10.5, 20.5]])
    z = teacher.prompt_latents(points=flipped, frame_hw=(40, 80))
    s = 64 / 80
    own, _ = pe(points=(to_sam_points(flipped, s)[:, None], torch.ones(1, 1)), boxes=None,
                masks=None)
    torch.testing.assert_close(z, own)
    assert (z - teacher.prompt_latents(points=points, frame_hw=(40, 80))).abs().max() > 0.1
    # a padded batch frame: SAM sees its longest side, so the scale follows the batch
    wide = teacher.prompt_latents(points=points, frame_hw=(40, 128))
    own, _ = pe(points=(to_sam_points(points, 64 / 128)[:, None], torch.ones(1, 1)),
                boxes=None, masks=None)
    torch.testing.assert_close(wide, own)


def test_candidates_match_sams_own_pipeline(teacher):
    """3 candidates per prompt, as SAM's decoder + postprocess_masks give them."""
    torch.manual_seed(1)
    img = torch.rand(1, 3, 40, 64) * 255
    norm = (img - torch.tensor(MEAN).view(1, 3, 1, 1)) / torch.tensor(STD).view(1, 3, 1, 1)
    emb = teacher.image_embeddings(norm, MEAN, STD)
    assert emb.shape == (1, 32, 8, 8)
    sam = teacher.sam
    torch.testing.assert_close(emb, sam.image_encoder(sam.preprocess(img)), atol=1e-4, rtol=1e-4)
    points = torch.tensor([[10.5, 20.5], [50.0, 5.0]])
    boxes = torch.tensor([[4.0, 6.0, 24.0, 16.0]])
    logits, iou = teacher.candidate_masks(emb, (40, 64), points=points, boxes=boxes)
    assert logits.shape == (3, 3, 40, 64) and iou.shape == (3, 3)
    # SAM's own way, prompt by prompt
    for i in range(3):
        if i < 2:
            sparse, dense = sam.prompt_encoder(points=(to_sam_points(points[i:i + 1], 1.0)[:, None],
                                                       torch.ones(1, 1)), boxes=None, masks=None)
        else:
            sparse, dense = sam.prompt_encoder(points=None, boxes=to_sam_boxes(boxes, 1.0),
                                               masks=None)
        low, own_iou = sam.mask_decoder(emb, sam.prompt_encoder.get_dense_pe(), sparse, dense,
                                        multimask_output=True)
        own = sam.postprocess_masks(low, (40, 64), (40, 64))
        torch.testing.assert_close(iou[i], own_iou[0])
        # bilinear resampling in one step vs SAM's two: agree closely, signs nearly everywhere
        assert (logits[i] - own[0]).abs().mean() < 0.05 * own[0].abs().mean() + 1e-3
        assert ((logits[i] > 0) == (own[0] > 0)).float().mean() > 0.97


def test_candidates_resampled_to_a_flipped_frame(teacher):
    torch.manual_seed(2)
    emb = teacher.image_embeddings(torch.randn(1, 3, 40, 64), MEAN, STD)
    pts = torch.tensor([[10.5, 20.5]])
    plain, _ = teacher.candidate_masks(emb, (40, 64), points=pts)
    flip = torch.tensor([[-1.0, 0, 64], [0, 1, 0], [0, 0, 1]])
    flipped, _ = teacher.candidate_masks(emb, (40, 64), points=pts, frame_to_out=flip)
    torch.testing.assert_close(flipped, plain.flip(-1), atol=1e-5, rtol=1e-5)
    half, _ = teacher.candidate_masks(emb, (40, 64), points=pts, out_hw=(20, 32))
    assert half.shape == (1, 3, 20, 32)


def test_frozen_and_absent_from_student_checkpoints(teacher):
    class Student(nn.Module):
        def __init__(self):
            super().__init__()
            self.head = nn.Linear(2, 2)
            self.teacher = teacher

    student = Student().train()
    assert list(teacher.parameters()) == [] and teacher.state_dict() == {}
    assert all(not k.startswith('teacher') for k in student.state_dict())
    assert [n for n, _ in student.named_parameters()] == ['head.weight', 'head.bias']
    assert not teacher.sam.training
    assert not any(p.requires_grad for p in teacher.sam.parameters())
    assert len(teacher.checkpoint_hash) == 64


def test_registered_and_built_from_config(tiny_ckpt):
    from mmdet.registry import MODELS
    t = MODELS.build(dict(type='SAMTeacher', checkpoint=tiny_ckpt, variant='custom', arch=TINY))
    assert isinstance(t, SAMTeacher)


def test_missing_checkpoint(tmp_path):
    with pytest.raises(SAMCheckpointError, match='nope.pth does not exist'):
        SAMTeacher(checkpoint=str(tmp_path / 'nope.pth'), variant='custom', arch=TINY)


def test_corrupt_checkpoint(tmp_path, tiny_ckpt):
    bad = tmp_path / 'cut.pth'
    bad.write_bytes(open(tiny_ckpt, 'rb').read()[:1000])
    with pytest.raises(SAMCheckpointError, match='cannot be read as a PyTorch checkpoint'):
        SAMTeacher(checkpoint=str(bad), variant='custom', arch=TINY)


class Payload:
    def __reduce__(self):
        return (print, ('pwned',))


def test_pickled_object_refused(tmp_path, tiny_ckpt):
    state = torch.load(tiny_ckpt)
    state['extra'] = Payload()
    path = tmp_path / 'evil.pth'
    torch.save(state, path)
    with pytest.raises(SAMCheckpointError, match='holds pickled Python objects'):
        SAMTeacher(checkpoint=str(path), variant='custom', arch=TINY)


def test_checkpoint_of_another_variant(tiny_ckpt):
    other = dict(TINY, embed_dim=48)
    with pytest.raises(SAMCheckpointError) as info:
        SAMTeacher(checkpoint=tiny_ckpt, variant='custom', arch=other)
    msg = str(info.value)
    assert "does not match variant 'custom'" in msg and 'has shape' in msg
    assert 'the file looks like custom (embed_dim=32, depth=2)' in msg


def test_vit_b_named_for_a_vit_h_file(tmp_path):
    """The guess names the public variant a file belongs to (shapes only, no weights)."""
    from mmwish.teachers.sam_builder import guess_variant
    state = {'image_encoder.patch_embed.proj.weight': torch.zeros(1280, 3, 1, 1)}
    state.update({f'image_encoder.blocks.{i}.norm1.weight': torch.zeros(1) for i in range(32)})
    assert guess_variant(state) == 'vit_h'
