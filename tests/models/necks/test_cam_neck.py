import math

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.registry import init_default_scope

import mmwish  # noqa: F401
from mmwish.models.necks import (
    cam_loss,
    cam_peaks,
    cam_scores,
    self_enhancement_loss,
    self_enhancement_target,
)

init_default_scope('mmdet')


def test_peaks_of_a_hand_made_cam():
    cam = torch.zeros(3, 6, 8)
    cam[1, 1, 2] = 10.0      # class 1: global max at row 1, col 2
    cam[1, 4, 6] = 7.0       # a second peak at 0.7 >= 0.5
    cam[1, 4, 5] = 6.5       # its neighbour: not a local max
    cam[1, 0, 7] = 4.0       # 0.4 < threshold
    cam[2, 3, 3] = 0.2       # class 2: weak, but its global max is always kept
    points, labels = cam_peaks(cam, torch.tensor([1, 2]), stride=16)
    assert labels.tolist() == [1, 1, 2]
    assert points.tolist() == [[(2 + 0.5) * 16, (1 + 0.5) * 16], [(6 + 0.5) * 16, (4 + 0.5) * 16],
                               [(3 + 0.5) * 16, (3 + 0.5) * 16]]
    # the cap per class keeps the strongest
    points, labels = cam_peaks(cam, torch.tensor([1]), stride=16, max_per_class=1)
    assert points.tolist() == [[40.0, 24.0]]
    # an untagged class gives nothing; no tags, no points
    assert len(cam_peaks(cam, torch.tensor([], dtype=torch.long), stride=16)[0]) == 0


def test_peaks_refined_below_the_cell_centre():
    """A blob centred between cells: on the 4x-upsampled CAM the peak lands within a
    fine cell (4 px) of the blob's centre; at the stride-16 cell centre it is 8 px off."""
    ys, xs = torch.meshgrid(torch.arange(8.0) + 0.5, torch.arange(8.0) + 0.5, indexing='ij')
    centre = (3.0, 5.0)  # (x, y) in cells: a cell corner, 48 and 80 px
    cam = (-((xs - centre[0]) ** 2 + (ys - centre[1]) ** 2) / 2).exp()[None] * 5
    coarse, _ = cam_peaks(cam, torch.tensor([0]), stride=16, max_per_class=1)
    fine, _ = cam_peaks(cam, torch.tensor([0]), stride=16, max_per_class=1, upsample=4)
    truth = torch.tensor([48.0, 80.0])
    assert (coarse[0] - truth).norm() > 8
    assert (fine[0] - truth).abs().max() <= 2.0 + 1e-6


def test_class_score_gates_the_forced_peak():
    """A tagged class the CAM does not believe in (``sigmoid(GAP(A_c))`` below the
    gate, e.g. its object cropped away) gives no point with the gate, one without."""
    cam = torch.full((2, 4, 4), -6.0)
    cam[0] = 0.0
    cam[0, 1, 1] = 26.0                       # class 0: GAP 26 / 16 = 1.63, sigmoid 0.84
    cam[1, 2, 2] = -1.0                       # class 1: GAP -91 / 16 = -5.7, sigmoid 0.003
    tags = torch.tensor([0, 1])
    _, labels = cam_peaks(cam, tags, stride=16)
    assert labels.tolist() == [0, 1]
    _, labels = cam_peaks(cam, tags, stride=16, class_score_thr=0.5)
    assert labels.tolist() == [0]


def test_cam_loss_by_hand():
    cams = torch.zeros(1, 2, 4, 4)
    cams[0, 0] = 2.0                      # GAP 2 for class 0 (tagged), 0 for class 1
    loss = cam_loss(cams, [torch.tensor([0])])
    expected = (math.log(1 + math.exp(-2.0)) + math.log(2)) / 2
    assert math.isclose(loss.item(), expected, rel_tol=1e-6)


def test_self_enhancement_target_and_loss():
    masks = torch.full((3, 8, 8), -10.0)
    masks[0, :4] = 10.0          # class 0, confident
    masks[1, :, :4] = 10.0       # class 0, low score: ignored
    masks[2, 4:] = 10.0          # class 1
    target, valid = self_enhancement_target(masks, torch.tensor([0.9, 0.3, 0.8]),
                                            torch.tensor([0, 0, 1]), torch.tensor([0, 1, 2]),
                                            (4, 4))
    assert target.shape == (3, 4, 4)
    assert target[0, :2].min() > 0.99 and target[0, 2:].max() < 0.01
    assert target[1, 2:].min() > 0.99
    # class 2 is tagged but no query predicts it confidently: no target, not a zero map
    assert valid.tolist() == [True, True, False]
    cam = torch.zeros(3, 4, 4)
    cam[2] = 5.0
    cam.requires_grad_(True)
    loss = self_enhancement_loss(cam, torch.tensor([0, 1, 2]), target, valid)
    loss.backward()
    # sigmoid(0) = 0.5 against any target: BCE = log 2; class 2 (at 5.0) is left out
    assert math.isclose(loss.item(), math.log(2), rel_tol=1e-6)
    assert cam.grad[:2].abs().sum() > 0 and cam.grad[2].abs().sum() == 0
    assert not target.requires_grad
    none = self_enhancement_loss(cam, torch.tensor([0, 1, 2]), target, torch.zeros(3).bool())
    assert none.item() == 0


def test_cam_neck_trains_its_conv():
    neck = MODELS.build(dict(type='CAMNeck', in_channels=8, num_classes=3, stride=32))
    feats = [torch.randn(2, 4, 8, 8), torch.randn(2, 8, 4, 4)]
    cams = neck(feats)
    assert cams.shape == (2, 3, 4, 4)
    tags = [torch.tensor([0, 2]), torch.tensor([1])]
    neck.loss(cams, tags).backward()
    assert neck.conv.weight.grad.abs().sum() > 0
    pts = neck.pseudo_points(cams, tags)
    assert [len(p) > 0 for p, _ in pts] == [True, True]
    assert set(pts[0][1].tolist()) == {0, 2}


def test_lse_pooling_by_hand_and_in_the_neck():
    """``pool='lse'``: ``log(mean(exp(r A))) / r``; a class high on 3 of 64 cells scores
    near its high value, where GAP calls it absent."""
    cams = torch.full((1, 2, 8, 8), -5.0)
    cams[0, 0, 0, :3] = 3.0
    r = 5.0
    expected = math.log((3 * math.exp(r * 3.0) + 61 * math.exp(-r * 5.0)) / 64) / r
    scores = cam_scores(cams, 'lse', r)
    assert math.isclose(scores[0, 0].item(), expected, rel_tol=1e-5)
    assert math.isclose(scores[0, 1].item(), -5.0, rel_tol=1e-5)
    assert cam_scores(cams, 'gap')[0, 0].item() < -4
    assert math.isclose(cam_loss(cams, [torch.tensor([0])], 'lse', r).item(), (
        math.log(1 + math.exp(-expected)) + math.log(1 + math.exp(-5.0))) / 2, rel_tol=1e-5)
    # the class score gate of the peaks uses the same pooling
    _, labels = cam_peaks(cams[0], torch.tensor([0]), 16, class_score_thr=0.5, pool='lse')
    assert labels.tolist() == [0, 0, 0]  # the 3 equal cells are each a peak
    _, labels = cam_peaks(cams[0], torch.tensor([0]), 16, class_score_thr=0.5)
    assert labels.tolist() == []
    with pytest.raises(ValueError, match='pool'):
        cam_scores(cams, 'max')
