"""Where pseudo points land, counted against masks drawn by hand."""
import importlib.util
import os.path as osp

import numpy as np
import torch
from mmengine.config import Config

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'pseudo_point_accuracy', osp.join(REPO, 'benchmarks', 'pseudo_point_accuracy.py'))
ppa = importlib.util.module_from_spec(spec)
spec.loader.exec_module(ppa)


def test_points_are_counted_by_the_masks_under_them():
    masks = np.zeros((2, 40, 60), dtype=np.uint8)
    masks[0, 0:20, 0:30] = 1   # class 1, top left
    masks[1, 20:40, 30:60] = 1  # class 2, bottom right
    # found on the image rescaled by 0.5: the caller divides by the factor first
    found = torch.tensor([[5.0, 5.0], [5.0, 5.0], [20.0, 15.0], [25.0, 5.0], [29.9, 19.9]])
    kinds, hit = ppa.where_points_land(found / 0.5, torch.tensor([1, 2, 2, 1, 2]), masks, [1, 2])
    # (10, 10) on object 0; (40, 30) on object 1; (50, 10) on neither; (59.8, 39.8) clamps in
    assert kinds == ['right_class', 'other_class', 'right_class', 'background', 'right_class']
    assert hit == {0, 1}


def test_cams_see_the_images_at_the_scale_the_model_was_tested_at():
    tools = Config.fromfile(osp.join(REPO, 'configs', 'mask2former',
                                     'mask2former_effnet-lite0_tiny_tools.py'))
    assert ppa.tested_scale(tools) == (320, 320)
    tools.test_dataloader.dataset.pipeline = [
        t for t in tools.test_dataloader.dataset.pipeline if t['type'] != 'Resize']
    assert ppa.tested_scale(tools) is None
