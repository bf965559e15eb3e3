import torch

from mmwish.datasets.synthetic_shapes import DEFAULT_CLASSES
from mmwish.teachers.sam_builder import build_sam_model
from mmwish.teachers.sam_training import SHAPES_SAM_ARCH, evaluate_sam


def test_evaluate_sam_reports_pick_oracle_and_each_candidate():
    torch.manual_seed(0)
    sam = build_sam_model('custom', **SHAPES_SAM_ARCH).eval()
    with torch.no_grad():
        out = evaluate_sam(sam, DEFAULT_CLASSES, num_images=2)
    assert out['instances'] > 0
    for kind in ('point', 'box'):
        cands = [out[f'miou_{kind}_candidate{k}'] for k in range(3)]
        assert all(0 <= v <= 1 for v in cands + [out[f'miou_{kind}']])
        # per instance the oracle is the best of the 3, so on average too
        assert out[f'miou_{kind}_oracle'] >= max(cands) - 1e-9
        assert out[f'miou_{kind}'] <= out[f'miou_{kind}_oracle'] + 1e-9
        # a hit at 0.5:0.95 needs IoU >= 0.5, so the share cannot pass mean IoU / 0.5
        assert 0 <= out[f'hits_{kind}_coco'] <= min(1.0, out[f'miou_{kind}'] / 0.5 + 1e-9)
