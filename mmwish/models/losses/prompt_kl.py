import torch
from mmdet.registry import MODELS
from torch import Tensor, nn


def prompt_kl(target: Tensor, pred: Tensor) -> Tensor:
    """The prompt-latent divergence of METHOD.md ("Matching", "Losses"):
    ``(1/2) sum_{t=1,2} KL(softmax(Z[t]) || softmax(Z_hat[t]))``, softmax over the
    ``C`` channels at temperature 1.

    Args:
        target: SAM's latents ``Z``, shape (..., 2, C).
        pred: predicted latents ``Z_hat``, broadcastable to ``target``.

    Returns:
        Tensor of the broadcast leading shape (...).
    """
    log_p = torch.log_softmax(target.float(), dim=-1)
    log_q = torch.log_softmax(pred.float(), dim=-1)
    return 0.5 * (log_p.exp() * (log_p - log_q)).sum(dim=(-1, -2))


def prompt_kl_matrix(target: Tensor, pred: Tensor) -> Tensor:
    """:func:`prompt_kl` for every (prediction i, target j) pair without materialising
    the (N, K, 2, C) broadcast: (N, 2, C) predictions x (K, 2, C) targets -> (N, K)."""
    log_p = torch.log_softmax(target.float(), dim=-1)
    log_q = torch.log_softmax(pred.float(), dim=-1)
    p = log_p.exp()
    self_term = (p * log_p).sum(dim=(-1, -2))                # (K,)
    cross = torch.einsum('ntc,ktc->nk', log_q, p)            # (N, K)
    return 0.5 * (self_term[None, :] - cross)


@MODELS.register_module()
class PromptKLLoss(nn.Module):
    """``L_prompt``: :func:`prompt_kl` between matched predictions and SAM's latents,
    summed over pairs and divided by ``avg_factor`` (the number of prompt targets,
    averaged over ranks as Mask2Former averages its masks).

    Args:
        loss_weight (float): ``l_prompt``.
    """

    def __init__(self, loss_weight: float = 1.0):
        super().__init__()
        self.loss_weight = loss_weight

    def forward(self, pred: Tensor, target: Tensor, avg_factor: float) -> Tensor:
        if len(pred) == 0:
            return pred.sum() * 0
        return self.loss_weight * prompt_kl(target, pred).sum() / avg_factor
