"""PNG overlays, ground truth beside prediction, from a COCO file and the segmentation
results tools/test.py writes with --cfg-options test_evaluator.outfile_prefix=PREFIX.

    python tools/overlay_results.py data/shapes/annotations/instances_val.json \
        PREFIX.segm.json data/shapes/images/ --out work_dirs/overlays --num 12 \
        --sheet work_dirs/overview.png

Several results files (with ``--titles``) are drawn side by side after the ground truth,
e.g. fully supervised Mask2Former | WISH from boxes.
"""
import argparse
import json
import os.path as osp

from mmwish.visualization import coco_overlays


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('ann_file', help='COCO ground truth')
    p.add_argument('results', nargs='+',
                   help='COCO-format segmentation results (*.segm.json), one per model')
    p.add_argument('image_dir', help='folder the file names of ann_file are relative to')
    p.add_argument('--out', required=True, help='folder for the PNGs')
    p.add_argument('--num', type=int, default=6, help='the first NUM images of ann_file')
    p.add_argument('--score-thr', type=float, default=0.5,
                   help='predictions shown (mmdet scores: class probability x mask '
                        'confidence; 0.5 shows about one per object)')
    p.add_argument('--scale', type=int, default=3, help='enlargement of each image')
    p.add_argument('--sheet', help='also write one PNG of all NUM panels on a grid')
    p.add_argument('--cols', type=int, default=3, help="the sheet's columns")
    p.add_argument('--titles', nargs='+', help="the results files' titles, one each "
                                               "(default: 'prediction' for one file)")
    args = p.parse_args(argv)
    titles = args.titles or (
        ['prediction'] if len(args.results) == 1 else
        [osp.basename(r).split('.')[0] for r in args.results])
    if len(titles) != len(args.results) or len(set(titles)) != len(titles):
        raise SystemExit(f'error: --titles needs {len(args.results)} distinct titles, one per '
                         f'results file; got {titles}')
    for path in [args.ann_file] + args.results:
        if not osp.isfile(path):
            raise SystemExit(f'error: {path} does not exist')
    with open(args.ann_file) as f:
        gt = json.load(f)
    results = {}
    for title, path in zip(titles, args.results):
        with open(path) as f:
            results[title] = json.load(f)
    for path in coco_overlays(gt, results, args.image_dir, args.out, args.num, args.score_thr,
                              args.scale, args.sheet, args.cols):
        print(path)
    if args.sheet:
        print(args.sheet)


if __name__ == '__main__':
    main()
