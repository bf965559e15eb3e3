"""What the demo prints at the end: mask AP per class, the run's COCO figures beside the
committed reference (fully supervised Mask2Former trained the same way, with the command
that made it), the ratio, and the time each stage took.

    python tools/demo_report.py data/shapes/annotations/instances_val.json \
        WORK/test/results.segm.json WORK/test/TIMESTAMP/TIMESTAMP.json \
        --reference demo_masks --same-config demo_hetero --times WORK/stage_times.txt
"""
import argparse
import contextlib
import io
import json
import os.path as osp
import statistics
import sys
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))
import quality  # noqa: E402  (the records' reader: one weak path, never mixed)

RECORDS = osp.join(REPO, quality.RECORDS)


def per_class_ap(gt: dict, results: List[dict]) -> Dict[str, Dict[str, float]]:
    """COCO mask AP, AP50 and the instance count of each category, by pycocotools'
    COCOeval (area 'all', 100 detections), as mmdet's ``CocoMetric(classwise=True)``
    reports them; a category without predictions scores 0, one without instances nan."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = gt
        coco.createIndex()
        # as mmdet's CocoMetric: no box, so areas come from the masks; copies, because
        # loadRes writes into what it is given
        dt = coco.loadRes([{k: v for k, v in r.items() if k != 'bbox'} for r in results]) \
            if results else COCO()
        ev = COCOeval(coco, dt, 'segm')
        ev.evaluate()
        ev.accumulate()
    precision = ev.eval['precision']  # (IoU thresholds, recall, category, area, max dets)
    out = {}
    for k, cat_id in enumerate(ev.params.catIds):
        name = coco.cats[cat_id]['name']
        p, p50 = precision[:, :, k, 0, -1], precision[0, :, k, 0, -1]
        out[name] = dict(
            ap=float(p[p > -1].mean()) if (p > -1).any() else float('nan'),
            ap50=float(p50[p50 > -1].mean()) if (p50 > -1).any() else float('nan'),
            instances=len(coco.getAnnIds(catIds=[cat_id], iscrowd=False)))
    return out


def reference(row: str, folder: str = RECORDS) -> Optional[dict]:
    """Mean and sample std of a quality row's committed records (mask AP) of the current
    weak path, its seeds and the command that reproduces them; None when there is none."""
    records = [r for r in quality.load_records(folder) if r.get('row') == row]
    if not records:
        return None
    aps = [r['mask_ap'] for r in records]
    seeds = sorted(r['seed'] for r in records)
    return dict(mean=statistics.mean(aps), std=statistics.stdev(aps) if len(aps) > 1 else None,
                seeds=seeds, what=records[0].get('what', row), date=records[-1].get('date'),
                command=f'python benchmarks/quality.py --rows {row} --seeds '
                        + ','.join(map(str, seeds)))


def fmt(ref: dict) -> str:
    spread = '' if ref['std'] is None else f' +- {ref["std"]:.3f}'
    return f'{ref["mean"]:.3f}{spread} ({len(ref["seeds"])} seeds)'


def report(gt: dict, results: List[dict], metrics: dict, ref: Optional[dict],
           same: Optional[dict] = None, times: Optional[List[str]] = None) -> List[str]:
    lines = ['[demo] mask AP per class on the validation images:',
             f'    {"class":<10} {"AP":>6} {"AP50":>6} {"objects":>8}']
    for name, v in per_class_ap(gt, results).items():
        lines.append(f'    {name:<10} {v["ap"]:>6.3f} {v["ap50"]:>6.3f} {v["instances"]:>8d}')
    ap = metrics['coco/segm_mAP']
    lines.append(f'[demo] this run: mask AP {ap:.3f} (AP50 {metrics["coco/segm_mAP_50"]:.3f}, '
                 f'AP75 {metrics["coco/segm_mAP_75"]:.3f}), box AP {metrics["coco/bbox_mAP"]:.3f}')
    if ref is None:
        lines.append('[demo] no committed reference (benchmarks/results/quality/); make one with '
                     'python benchmarks/quality.py --rows demo_masks --seeds 0,1,2')
    else:
        lines.append(f'[demo] reference, {ref["what"]}: mask AP {fmt(ref)}, committed in '
                     f'benchmarks/results/quality/ by: {ref["command"]}')
        lines.append(f'[demo] this run reaches {ap / ref["mean"]:.2f} of full supervision')
    if same is not None:
        lines.append(f'[demo] the same demo in the table ({same["command"]}): mask AP '
                     f'{fmt(same)}, {same["mean"] / ref["mean"]:.2f} of full supervision'
                     if ref else f'[demo] the same demo in the table: mask AP {fmt(same)}')
    if times:
        lines.append('[demo] time per stage: ' + ', '.join(times))
    return lines


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('ann_file', help='COCO ground truth of the evaluated images')
    p.add_argument('results', help='the segmentation results tools/test.py wrote (*.segm.json)')
    p.add_argument('metrics', help="tools/test.py's metrics file (WORK/test/*/*.json)")
    p.add_argument('--reference', default='demo_masks', help='quality row of the reference')
    p.add_argument('--same-config', help='quality row of this very configuration')
    p.add_argument('--times', help='file of "stage: seconds" lines')
    args = p.parse_args(argv)
    for path in (args.ann_file, args.results, args.metrics):
        if not osp.isfile(path):
            raise SystemExit(f'error: {path} does not exist')
    with open(args.ann_file) as f:
        gt = json.load(f)
    with open(args.results) as f:
        results = json.load(f)
    with open(args.metrics) as f:
        metrics = json.load(f)
    times = None
    if args.times and osp.isfile(args.times):
        with open(args.times) as f:
            times = [_duration(line) for line in f if line.strip()]
    same = reference(args.same_config) if args.same_config else None
    print('\n'.join(report(gt, results, metrics, reference(args.reference), same, times)))


def _duration(line: str) -> str:
    name, seconds = line.rsplit(':', 1)
    s = int(seconds)
    return f'{name.strip()} {s // 60} min {s % 60:02d} s' if s >= 60 else f'{name.strip()} {s} s'


if __name__ == '__main__':
    main()
