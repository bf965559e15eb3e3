"""PNG overlays, ground truth beside prediction, from a COCO file and the segmentation
results tools/test.py writes with --cfg-options test_evaluator.outfile_prefix=PREFIX.

    python tools/overlay_results.py data/shapes/annotations/instances_val.json \
        PREFIX.segm.json data/shapes/images/ --out work_dirs/overlays --num 12 \
        --sheet work_dirs/overview.png
"""
import argparse
import json
import os.path as osp

from mmwish.visualization import coco_overlays


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('ann_file', help='COCO ground truth')
    p.add_argument('results', help='COCO-format segmentation results (*.segm.json)')
    p.add_argument('image_dir', help='folder the file names of ann_file are relative to')
    p.add_argument('--out', required=True, help='folder for the PNGs')
    p.add_argument('--num', type=int, default=6, help='the first NUM images of ann_file')
    p.add_argument('--score-thr', type=float, default=0.5,
                   help='predictions shown (mmdet scores: class probability x mask '
                        'confidence; 0.5 shows about one per object)')
    p.add_argument('--scale', type=int, default=3, help='enlargement of each image')
    p.add_argument('--sheet', help='also write one PNG of all NUM pairs on a grid')
    p.add_argument('--cols', type=int, default=3, help="the sheet's columns")
    args = p.parse_args(argv)
    for path in (args.ann_file, args.results):
        if not osp.isfile(path):
            raise SystemExit(f'error: {path} does not exist')
    with open(args.ann_file) as f:
        gt = json.load(f)
    with open(args.results) as f:
        results = json.load(f)
    for path in coco_overlays(gt, results, args.image_dir, args.out, args.num, args.score_thr,
                              args.scale, args.sheet, args.cols):
        print(path)
    if args.sheet:
        print(args.sheet)


if __name__ == '__main__':
    main()
