"""Which of an ambiguous teacher's answers did the student learn? For each validation
object, the student's closest mask is compared with the object, either half of it and
the oracle's superset (mmwish.teachers.oracle_teacher), and counted by the one it is
closest to.

    python benchmarks/candidate_choice.py CONFIG CHECKPOINT [--score-thr 0.3]

Uses the config's test dataset and its annotation file (the true masks).
"""
import argparse
import json
import os.path as osp
import sys

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, REPO)
import mmwish  # noqa: E402,F401
from mmwish.datasets.converters.weak_budget import ann_to_mask  # noqa: E402
from mmwish.teachers.oracle_teacher import iou_of as iou  # noqa: E402
from mmwish.teachers.oracle_teacher import part_of, superset_of  # noqa: E402

KINDS = ('object', 'a half', 'superset')
KIND_OF = ('object', 'a half', 'a half', 'superset')  # kind_masks' order


def kind_masks(masks: torch.Tensor, index: int, dilation: float) -> list:
    """The object, both its halves and the oracle's superset, as (H, W) bool masks."""
    truth = masks[index]
    return [truth, part_of(truth, True), part_of(truth, False),
            superset_of(masks, index, dilation)]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('checkpoint')
    p.add_argument('--score-thr', type=float, default=0.3)
    p.add_argument('--dilation', type=float, default=0.15, help="the oracle's superset growth")
    args = p.parse_args(argv)
    from mmdet.apis import inference_detector, init_detector
    from mmengine.config import Config
    cfg = Config.fromfile(args.config)
    model = init_detector(cfg, args.checkpoint, device='cpu')
    ds = cfg.test_dataloader.dataset
    ann_file = osp.join(ds.data_root, ds.ann_file)
    with open(ann_file) as f:
        coco = json.load(f)
    anns_of = {}
    for a in coco['annotations']:
        if not a.get('iscrowd', 0):
            anns_of.setdefault(a['image_id'], []).append(a)
    counts = {k: 0 for k in KINDS + ('missed',)}
    ious = []
    for img in coco['images']:
        anns = anns_of.get(img['id'], [])
        if not anns:
            continue
        h, w = img['height'], img['width']
        masks = torch.from_numpy(np.stack([ann_to_mask(a['segmentation'], h, w) for a in anns]))
        result = inference_detector(model, osp.join(ds.data_root, ds.data_prefix['img'],
                                                    img['file_name']))
        pred = result.pred_instances
        keep = pred.scores >= args.score_thr
        pm = pred.masks[keep].bool().cpu()
        for j in range(len(anns)):
            cands = kind_masks(masks, j, args.dilation)
            best = max(((iou(m, c), k) for m in pm for k, c in enumerate(cands)),
                       default=(0.0, None))
            if best[1] is None or best[0] < 0.5:
                counts['missed'] += 1
                continue
            counts[KIND_OF[best[1]]] += 1
            ious.append(max(iou(m, cands[0]) for m in pm))
    total = sum(counts.values())
    print(f'{total} objects; closest (IoU >= 0.5) to: ' + ', '.join(
        f'{k} {v / total:.3f}' for k, v in counts.items()))
    print(f'mean IoU of the best mask with the object, where found: {np.mean(ious):.3f}')


if __name__ == '__main__':
    main()
