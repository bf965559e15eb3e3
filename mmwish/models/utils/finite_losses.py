from typing import Dict, Sequence

import torch
from mmengine.logging import MessageHub
from torch import Tensor


class NonFiniteLossError(FloatingPointError):
    """A loss term is NaN or infinite: training stops before the optimizer step."""


def check_finite_losses(losses: Dict[str, Tensor], batch_data_samples: Sequence) -> None:
    """Raise :class:`NonFiniteLossError` naming the iteration, the loss terms and the
    batch's images when a loss is NaN or infinite (one device sync for all terms)."""
    values = [v.detach().float().reshape(-1) for v in losses.values() if isinstance(v, Tensor)]
    if not values or bool(torch.isfinite(torch.cat(values)).all()):
        return
    bad = [f'{k}={v.item() if v.numel() == 1 else v.tolist()}' for k, v in losses.items()
           if isinstance(v, Tensor) and not bool(torch.isfinite(v.detach()).all())]
    images = [f"{s.metainfo.get('img_id')} ({s.metainfo.get('img_path', '?')}, "
              f"{s.metainfo.get('label_type', 'mask')})" for s in batch_data_samples]
    it = MessageHub.get_current_instance().get_info('iter', 0)
    raise NonFiniteLossError(
        f'non-finite loss at iteration {it + 1}: {", ".join(bad)}; batch images (id, file, '
        f'label type): {"; ".join(images)}. Check those images\' annotations; if they are '
        'fine, lower the learning rate or clip gradients (optim_wrapper.clip_grad), and resume '
        'from the last checkpoint with --resume')
