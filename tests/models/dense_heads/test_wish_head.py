import copy

import pytest
import torch
from mmdet.registry import MODELS
from mmdet.structures import DetDataSample
from mmdet.structures.mask import BitmapMasks
from mmengine.config import Config
from mmengine.structures import InstanceData

from mmwish.models import PROMPT_TYPES
from mmwish.models.losses import prompt_kl
from tests.conftest import TINY_CONFIG

C = 8  # prompt latent width of these tests
SIZE = 64
NUM_CLASSES = 6


def head_cfg(type_='WISHHead', **kwargs):
    cfg = Config.fromfile(TINY_CONFIG).model
    head = copy.deepcopy(cfg.panoptic_head)
    head.update(type=type_, train_cfg=cfg.train_cfg, test_cfg=cfg.test_cfg)
    if type_ == 'WISHHead':
        head.update(prompt_dim=C, **kwargs)
    return head


def feats(batch=2):
    torch.manual_seed(1)
    return [torch.randn(batch, c, SIZE // s, SIZE // s)
            for c, s in zip([64, 128, 256, 512], [4, 8, 16, 32])]


def mask_sample(seed):
    g = torch.Generator().manual_seed(seed)
    masks = torch.zeros(3, SIZE, SIZE, dtype=torch.uint8)
    for k in range(3):
        x, y = torch.randint(0, SIZE - 20, (2,), generator=g).tolist()
        masks[k, y:y + 20, x:x + 16] = 1
    s = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE),
                                    pad_shape=(SIZE, SIZE), label_type='mask', img_id=seed))
    s.gt_instances = InstanceData(labels=torch.tensor([0, 3, 5]),
                                  masks=BitmapMasks(masks.numpy(), SIZE, SIZE))
    return s


def weak_sample(labels, latents, candidates, types):
    s = DetDataSample(metainfo=dict(img_shape=(SIZE, SIZE), batch_input_shape=(SIZE, SIZE),
                                    pad_shape=(SIZE, SIZE), label_type='point', img_id=9))
    s.sam_targets = InstanceData(labels=labels, latents=latents, candidates=candidates,
                                 prompt_types=types)
    return s


def test_mask_images_train_exactly_as_mask2former():
    """Same weights, same seed: every Mask2Former loss term is equal, L_prompt is 0."""
    torch.manual_seed(0)
    m2f = MODELS.build(head_cfg('Mask2FormerHead'))
    wish = MODELS.build(head_cfg())
    missing, unexpected = wish.load_state_dict(m2f.state_dict(), strict=False)
    assert not unexpected and all(k.startswith('prompt_embed') for k in missing)
    x, samples = feats(), [mask_sample(1), mask_sample(2)]
    torch.manual_seed(5)
    ref = m2f.loss(x, samples)
    torch.manual_seed(5)
    out = wish.loss(x, samples)
    assert set(out) - set(ref) == {'loss_prompt'} | {f'd{i}.loss_prompt' for i in range(3)}
    for k, v in ref.items():
        assert torch.equal(out[k], v), k
    assert out['loss_prompt'].item() == 0
    # gradients still reach the prompt head (as a zero), so DDP sees it used
    sum(out.values()).backward()
    assert wish.prompt_embed[0].weight.grad is not None


def test_image_with_no_instances():
    wish = MODELS.build(head_cfg())
    empty = mask_sample(1)
    empty.gt_instances = InstanceData(labels=torch.zeros(0, dtype=torch.long),
                                      masks=BitmapMasks(torch.zeros(0, SIZE, SIZE).numpy(),
                                                        SIZE, SIZE))
    weak_empty = weak_sample(torch.zeros(0, dtype=torch.long), torch.zeros(0, 2, C),
                             torch.zeros(0, 3, 16, 16, dtype=torch.bool),
                             torch.zeros(0, dtype=torch.long))
    out = wish.loss(feats(), [empty, weak_empty])
    assert all(torch.isfinite(v) for v in out.values())
    assert out['loss_mask'].item() == 0 and out['loss_prompt'].item() == 0
    assert out['loss_cls'].item() > 0  # every query is taught "no object"


def crafted(num_queries=20, h=16):
    """Two targets; query 3 reproduces target 0's candidate 2 and its latent, query 7
    target 1's candidate 0; every other query predicts background."""
    cand = torch.zeros(2, 3, h, h, dtype=torch.bool)
    cand[0, 0, 2:6, 2:6] = True
    cand[0, 1, 2:14, 2:14] = True
    cand[0, 2, 2:10, 2:10] = True
    cand[1, 0, 10:15, 0:8] = True
    cand[1, 1, 9:16, 0:16] = True
    cand[1, 2, 0:16, 0:16] = True
    g = torch.Generator().manual_seed(0)
    latents = torch.randn(2, 2, C, generator=g) * 3
    labels = torch.tensor([4, 1])
    cls = torch.full((num_queries, NUM_CLASSES + 1), -5.0)
    cls[:, -1] = 5.0
    mask = torch.full((num_queries, h, h), -10.0)
    prompt = torch.randn(num_queries, len(PROMPT_TYPES), 2, C, generator=g)
    cls[3, 4], cls[3, -1] = 8.0, -5.0
    mask[3][cand[0, 2]] = 10.0
    prompt[3, 0] = latents[0]
    cls[7, 1], cls[7, -1] = 8.0, -5.0
    mask[7][cand[1, 0]] = 10.0
    prompt[7, 1] = latents[1]
    gt = InstanceData(labels=labels, latents=latents, candidates=cand,
                      prompt_types=torch.tensor([0, 1]))
    return cls, mask, prompt, gt


def test_weak_targets_follow_the_adaptive_candidate():
    wish = MODELS.build(head_cfg())
    cls, mask, prompt, gt = crafted()
    torch.manual_seed(0)
    (labels, _, mask_targets, mask_weights, pos, _, _, prompt_targets,
     prompt_types) = wish._get_targets_single(cls, mask, gt, {}, prompt)
    assert pos.tolist() == [3, 7]
    assert labels[3] == 4 and labels[7] == 1 and (labels[[0, 1, 2, 4]] == NUM_CLASSES).all()
    assert torch.equal(mask_targets[0], gt.candidates[0, 2])  # chosen: candidate 2
    assert torch.equal(mask_targets[1], gt.candidates[1, 0])  # chosen: candidate 0
    assert mask_weights.sum() == 2
    assert torch.equal(prompt_targets[3], gt.latents[0]) and prompt_types[3] == 0
    assert torch.equal(prompt_targets[7], gt.latents[1]) and prompt_types[7] == 1
    assert (prompt_types[[0, 1, 2, 4, 5, 6]] == -1).all()


def test_fixed_candidate_ablation():
    wish = MODELS.build(head_cfg(fixed_candidate=1))
    cls, mask, prompt, gt = crafted()
    out = wish._get_targets_single(cls, mask, gt, {}, prompt)
    assert out[4].tolist() == [3, 7]
    assert torch.equal(out[2][0], gt.candidates[0, 1])
    assert torch.equal(out[2][1], gt.candidates[1, 1])


def test_prompt_loss_is_the_kl_of_matched_pairs_by_hand():
    wish = MODELS.build(head_cfg())
    cls, mask, prompt, gt = crafted()
    prompt = prompt.clone()
    prompt[3, 0] += 1.5 * torch.arange(C)  # part query 3's point latent from its target
    out = wish._get_targets_single(cls, mask, gt, {}, prompt)
    loss = wish.prompt_loss(prompt[None], out[7][None], out[8][None])
    by_hand = (prompt_kl(gt.latents[0], prompt[3, 0]) + prompt_kl(gt.latents[1], prompt[7, 1])) / 2
    assert loss.item() == pytest.approx(by_hand.item(), rel=1e-6)
    assert by_hand > 0.1 and prompt_kl(gt.latents[1], prompt[7, 1]).abs() < 1e-6


def test_weak_loss_reaches_prompt_head_and_masks():
    wish = MODELS.build(head_cfg())
    h = SIZE // 4
    g = torch.Generator().manual_seed(2)
    cand = torch.rand(2, 3, h, h, generator=g) > 0.5
    sample = weak_sample(torch.tensor([0, 2]), torch.randn(2, 2, C, generator=g), cand,
                         torch.tensor([0, 1]))
    out = wish.loss(feats(), [mask_sample(1), sample])
    assert out['loss_prompt'] > 0 and all(torch.isfinite(v) for v in out.values())
    out['loss_prompt'].backward(retain_graph=True)
    assert wish.prompt_embed[-1].weight.grad.abs().sum() > 0
    wish.zero_grad()
    out['loss_mask'].backward()
    assert wish.mask_embed[-1].weight.grad.abs().sum() > 0


def test_weak_image_without_targets_is_refused():
    wish = MODELS.build(head_cfg())
    s = mask_sample(1)
    s.set_metainfo(dict(label_type='box', img_path='data/x/img_7.jpg'))
    with pytest.raises(ValueError, match=r'img_7\.jpg.*box.*WISH detector'):
        wish.loss(feats(), [s, mask_sample(2)])


def test_no_prompt_head_ablation():
    wish = MODELS.build(head_cfg(loss_prompt=None))
    assert not hasattr(wish, 'prompt_embed')
    cls, mask, _, gt = crafted()
    out = wish._get_targets_single(cls, mask, gt, {}, None)
    assert out[4].tolist() == [3, 7]  # matched on class and SAM mask alone
    losses = wish.loss(feats(), [mask_sample(1), mask_sample(2)])
    assert 'loss_prompt' not in losses
    with pytest.raises(ValueError, match='PromptKLCost'):
        cfg = head_cfg(loss_prompt=None)
        cfg.train_cfg = dict(cfg.train_cfg, weak_assigner=dict(
            type='HungarianAssigner', match_costs=[dict(type='PromptKLCost'),
                                                   dict(type='SAMMaskCost')]))
        MODELS.build(cfg)


def test_mask_pooled_position_tells_queries_where_they_are():
    """``prompt_position='mask_pooled'``: a query whose mask is one pixel gets the
    decoder's positional encoding of that pixel; two queries with the same content
    but masks in other places get other latents, which the paper's head cannot give."""
    head = MODELS.build(head_cfg(prompt_position='mask_pooled'))
    c = head.decoder_embed_dims
    mask = torch.full((1, 2, 8, 8), -30.0)
    mask[0, 0, 1, 2] = 30.0
    mask[0, 1, 6, 5] = 30.0
    pooled = head.mask_pooled_position(mask)
    pos = head.decoder_positional_encoding(torch.zeros(1, 8, 8, dtype=torch.bool))
    torch.testing.assert_close(pooled[0, 0], pos[0, :, 1, 2], atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(pooled[0, 1], pos[0, :, 6, 5], atol=1e-4, rtol=1e-4)
    # a mask over two pixels: the mean of their encodings
    two = torch.full((1, 1, 8, 8), -30.0)
    two[0, 0, 3, 3] = two[0, 0, 3, 7] = 30.0
    torch.testing.assert_close(head.mask_pooled_position(two)[0, 0],
                               (pos[0, :, 3, 3] + pos[0, :, 3, 7]) / 2, atol=1e-4, rtol=1e-4)
    same = torch.randn(1, 1, c).expand(1, 2, c)
    z = head.predict_prompt_latents(same, mask)
    assert z.shape == (1, 2, 2, 2, head.prompt_dim)
    assert (z[0, 0] - z[0, 1]).abs().max() > 1e-3
    plain = MODELS.build(head_cfg())
    z = plain.predict_prompt_latents(same, mask)
    torch.testing.assert_close(z[0, 0], z[0, 1])
    with pytest.raises(ValueError, match='prompt_position'):
        MODELS.build(head_cfg(prompt_position='centroid'))


def test_mask_box_position_is_the_encoding_at_the_mask_box_corners():
    """``prompt_position='mask_box'``: the pooled encoding, then the encodings at the
    top-left and bottom-right cells of the mask's box (an L-shaped mask: its box's
    corners are cells the mask does not cover); an empty mask falls back to its most
    confident cell for both corners."""
    head = MODELS.build(head_cfg(prompt_position='mask_box'))
    c = head.decoder_embed_dims
    pos = head.decoder_positional_encoding(torch.zeros(1, 8, 8, dtype=torch.bool))[0]
    mask = torch.full((1, 2, 8, 8), -30.0)
    mask[0, 0, 2, 1:6] = 30.0  # row 2, columns 1..5
    mask[0, 0, 2:7, 5] = 30.0  # column 5, rows 2..6: box x 1..5, y 2..6
    mask[0, 1, 4, 3] = -1.0  # nothing above 0.5; the best cell is (4, 3)
    feats = head.mask_box_position(mask)
    assert feats.shape == (1, 2, 3 * c)
    torch.testing.assert_close(feats[0, 0, :c], head.mask_pooled_position(mask)[0, 0])
    torch.testing.assert_close(feats[0, 0, c:2 * c], pos[:, 2, 1])
    torch.testing.assert_close(feats[0, 0, 2 * c:], pos[:, 6, 5])
    torch.testing.assert_close(feats[0, 1, c:2 * c], pos[:, 4, 3])
    torch.testing.assert_close(feats[0, 1, 2 * c:], pos[:, 4, 3])
    z = head.predict_prompt_latents(torch.randn(1, 2, c), mask)
    assert z.shape == (1, 2, 2, 2, head.prompt_dim)
