import math

import torch

from mmwish.models.losses import prompt_kl, prompt_kl_matrix


def test_zero_exactly_when_equal():
    z = torch.randn(5, 2, 8)
    assert torch.equal(prompt_kl(z, z), torch.zeros(5))
    # softmax is shift invariant: a constant offset per token changes nothing
    assert prompt_kl(z, z + torch.tensor([[3.0], [-1.0]])).abs().max() < 1e-6
    assert (prompt_kl(z, z.flip(-1)) > 0).all()


def test_hand_value():
    z = torch.zeros(2, 2)                       # both tokens uniform over C=2
    z_hat = torch.tensor([[math.log(3), 0.0],   # token 1: q = (3/4, 1/4)
                          [0.0, 0.0]])          # token 2: uniform
    kl1 = 0.5 * math.log(0.5 / 0.75) + 0.5 * math.log(0.5 / 0.25)
    assert math.isclose(prompt_kl(z, z_hat).item(), 0.5 * (kl1 + 0.0), rel_tol=1e-6)


def test_grows_as_latents_part():
    torch.manual_seed(0)
    z, d = torch.randn(2, 16), torch.randn(2, 16)
    values = [prompt_kl(z, z + a * d).item() for a in (0.0, 0.25, 0.5, 1.0, 2.0)]
    assert values[0] == 0 and all(b > a for a, b in zip(values, values[1:]))


def test_matrix_is_the_pairwise_divergence():
    torch.manual_seed(1)
    preds, targets = torch.randn(4, 2, 6), torch.randn(3, 2, 6)
    expected = torch.stack([torch.stack([prompt_kl(t, p) for t in targets]) for p in preds])
    torch.testing.assert_close(prompt_kl_matrix(targets, preds), expected)
