"""Where a trained WISH model's CAM pseudo points land, and how well its CAMs classify.

For each image of a COCO file with masks (the shapes' validation set by default),
rescaled as the config's test pipeline does, the model's CAM branch is given the
image's true tags, exactly as a tag image is at training; each pseudo point is then
counted as on an object of its class, on an object of another class, or on the
background, and by whether the oracle teacher would answer it with an object of its
class (the object under it, or the nearest). The CAMs' class scores (``cam_scores`` with
the model's pooling, and the maximum) are compared for tagged and untagged classes by
their mean and AUC.

    python benchmarks/pseudo_point_accuracy.py work_dirs/quality/hetero_seed0
    python benchmarks/pseudo_point_accuracy.py WORK \
        --ann data/tools/annotations/instances_val.json --img-dir data/tools/images \
        --peak threshold=0.8 max_per_class=2
"""
import argparse
import glob
import os.path as osp

import mmcv
import numpy as np
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope
from mmengine.runner import load_checkpoint
from pycocotools.coco import COCO
from scipy.stats import rankdata

import mmwish  # noqa: F401
from mmwish.models.necks.cam_neck import cam_scores
from mmwish.teachers.oracle_teacher import OracleTeacher


def auc(pos, neg) -> float:
    """P(a tagged class scores above an untagged one) (Mann-Whitney)."""
    ranks = rankdata(np.r_[pos, neg])
    return float((ranks[:len(pos)].sum() - len(pos) * (len(pos) + 1) / 2)
                 / (len(pos) * len(neg)))


def where_points_land(points, point_labels, masks, labels):
    """Per point (x-y in the masks' pixels), ``'right_class'``, ``'other_class'`` or
    ``'background'`` by the masks under it; and the indices of the objects that a point
    of their own class hit."""
    kinds, hit = [], set()
    for (px, py), c in zip(points.tolist(), point_labels.tolist()):
        col = min(max(int(px), 0), masks.shape[2] - 1)
        row = min(max(int(py), 0), masks.shape[1] - 1)
        under = [j for j in range(len(masks)) if masks[j, row, col]]
        right = [j for j in under if labels[j] == c]
        kinds.append('right_class' if right else 'other_class' if under else 'background')
        hit.update(right)
    return kinds, hit


def tested_scale(cfg):
    """The keep-ratio ``Resize`` scale of the config's test pipeline (None: none)."""
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] == 'Resize' and t.get('keep_ratio', False):
            return tuple(t['scale'])
    return None


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('work_dir', help='a training work dir (its config and checkpoint)')
    p.add_argument('--checkpoint', default=None, help='default: the work dir\'s last')
    p.add_argument('--ann', default='data/shapes/annotations/instances_val.json')
    p.add_argument('--img-dir', default='data/shapes/images')
    p.add_argument('--peak', nargs='+', default=[], metavar='KEY=VALUE',
                   help="override the CAM neck's peak options, e.g. threshold=0.7")
    args = p.parse_args(argv)
    init_default_scope('mmdet')
    cfg = Config.fromfile(sorted(glob.glob(osp.join(args.work_dir, '*.py')))[0])
    ckpt = args.checkpoint or open(osp.join(args.work_dir, 'last_checkpoint')).read().strip()
    model = MODELS.build(cfg.model)
    load_checkpoint(model, ckpt, map_location='cpu', logger='silent')
    model.eval()
    neck = model.cam_neck
    for kv in args.peak:
        key, value = kv.split('=', 1)
        if key not in neck.peak:
            raise SystemExit(f'error: --peak {kv}: the peak options are {sorted(neck.peak)}')
        neck.peak[key] = None if value == 'None' else type(neck.peak[key] or 0.0)(value)
    pre = cfg.model.data_preprocessor
    mean, std = (torch.tensor(pre[k]).view(3, 1, 1) for k in ('mean', 'std'))
    scale = tested_scale(cfg)
    coco = COCO(args.ann)
    label_of = {c: i for i, c in enumerate(sorted(coco.getCatIds()))}
    counts = dict(points=0, right_class=0, other_class=0, background=0, objects=0,
                  objects_hit=0, oracle_right=0)
    tagged, untagged = [], []
    for img_id in coco.getImgIds():
        info = coco.loadImgs(img_id)[0]
        img = mmcv.imread(osp.join(args.img_dir, info['file_name']), channel_order='rgb')
        # the CAMs see the image at the scale the model was tested at; points go back
        factor = 1.0
        if scale is not None:
            img, factor = mmcv.imrescale(img, scale, return_scale=True)
        x = ((torch.from_numpy(img).permute(2, 0, 1).float() - mean) / std)[None]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=img_id))
        masks = np.stack([coco.annToMask(a) for a in anns])
        labels = [label_of[a['category_id']] for a in anns]
        tags = torch.tensor(sorted(set(labels)))
        with torch.no_grad():
            cams = neck(model.backbone(x))
            points, point_labels = neck.pseudo_points(cams, [tags])[0]
        points = points / factor
        kinds, hit = where_points_land(points, point_labels, masks, labels)
        for key in kinds:
            counts[key] += 1
        # the oracle teacher answers a point with the object under it, or the nearest
        answers = OracleTeacher.objects_at(torch.from_numpy(masks).bool(), points)
        counts['oracle_right'] += sum(o is not None and labels[o] == c
                                      for o, c in zip(answers, point_labels.tolist()))
        counts['points'] += len(points)
        counts['objects'] += len(anns)
        counts['objects_hit'] += len(hit)
        pooled = cam_scores(cams[0], neck.pool, neck.lse_r).sigmoid()
        peak = cams[0].amax(dim=(1, 2)).sigmoid()
        for k in range(len(pooled)):
            (tagged if k in labels else untagged).append((pooled[k].item(), peak[k].item()))
    n = max(counts['points'], 1)
    print(f"{args.work_dir}: {counts['points']} pseudo points on {len(coco.getImgIds())} "
          f"images: {counts['right_class'] / n:.3f} on an object of their class, "
          f"{counts['other_class'] / n:.3f} on another class's, "
          f"{counts['background'] / n:.3f} on the background; "
          f"{counts['objects_hit']}/{counts['objects']} objects hit; "
          f"{counts['oracle_right'] / n:.3f} answered by the oracle with an object of "
          'their class')
    t, u = np.array(tagged), np.array(untagged)
    print(f'CAM class score ({neck.pool}): tagged {t[:, 0].mean():.3f}, untagged '
          f'{u[:, 0].mean():.3f}, AUC {auc(t[:, 0], u[:, 0]):.3f}; max: tagged '
          f'{t[:, 1].mean():.3f}, untagged {u[:, 1].mean():.3f}, AUC {auc(t[:, 1], u[:, 1]):.3f}')


if __name__ == '__main__':
    main()
