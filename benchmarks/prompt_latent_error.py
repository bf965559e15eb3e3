"""How precise must a predicted prompt latent be for SAM's decoder to find the object?

    python benchmarks/prompt_latent_error.py [--config CONFIG] [--prompts 500]

Encodes random points and boxes over the SAM square with the config's teacher and
prints, per prompt type: the spread of each token channel across prompts (what tells
one object's prompt from another's), and the ``L_prompt`` (METHOD.md) that Gaussian
noise of a given per-channel std adds to SAM's own tokens. A training log's
``loss_prompt`` read against the second table gives the per-channel error of the
predicted latents ``Z_hat``; set against the first, it says whether decoding ``Z_hat``
(the paper's ablation b) can land on the right object.
"""
import argparse
import os.path as osp
import sys

import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
NOISE_STDS = (0.1, 0.2, 0.3, 0.5, 0.7, 1.0)


def random_prompts(size: float, n: int, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    points = torch.rand(n, 2, generator=g) * size
    corners = (torch.rand(n, 2, 2, generator=g) * size).sort(dim=1).values
    return points, corners.reshape(n, 4)


def latent_error_table(teacher, n: int = 500, seed: int = 0):
    """Rows (type, [spread across prompts of token 1, of token 2], {noise std: L_prompt})."""
    from mmwish.models.losses.prompt_kl import prompt_kl
    points, boxes = random_prompts(float(teacher.image_size), n, seed)
    g = torch.Generator().manual_seed(seed + 1)
    rows = []
    for name, kwargs in (('point', dict(points=points)), ('box', dict(boxes=boxes))):
        tokens = teacher._sparse_tokens(teacher.sam, 1.0, **kwargs)[0].float()
        spread = tokens.std(dim=0).mean(dim=-1).tolist()  # per token
        kl = {s: prompt_kl(tokens, tokens + s * torch.randn(tokens.shape, generator=g))
              .mean().item() for s in NOISE_STDS}
        rows.append((name, spread, kl))
    return rows


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--config',
                   default=osp.join(REPO, 'configs', 'wish', 'wish_r18_tiny_shapes_hetero.py'))
    p.add_argument('--prompts', type=int, default=500)
    args = p.parse_args(argv)
    sys.path.insert(0, REPO)
    from mmdet.registry import MODELS
    from mmengine.config import Config

    import mmwish  # noqa: F401  (registers the teacher)
    cfg = Config.fromfile(args.config)
    teacher = MODELS.build(cfg.model.teacher)
    print('| prompt | channel spread across prompts (token 1, token 2) | '
          + ' | '.join(f'L_prompt at noise {s}' for s in NOISE_STDS) + ' |')
    print('| --- | --- |' + ' --- |' * len(NOISE_STDS))
    with torch.no_grad():
        for name, spread, kl in latent_error_table(teacher, args.prompts):
            cells = [f'{spread[0]:.3f}, {spread[1]:.3f}'] + [f'{kl[s]:.3f}' for s in NOISE_STDS]
            print(f'| {name} | ' + ' | '.join(cells) + ' |')


if __name__ == '__main__':
    main()
