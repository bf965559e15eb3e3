"""Write a static HTML page showing what WISH is taught, per training image: label
type, points/boxes/tags, SAM's 3 candidates per prompt with their scores, the selected
candidate and the CAM peaks (those two with --checkpoint, a trained WISH model).

    python tools/browse_weak_labels.py configs/wish/wish_r18-half_tiny_shapes_hetero.py \
        --out work_dirs/browse [--num 20] [--checkpoint work_dirs/demo_wish_seed0/iter_1500.pth]
"""
import argparse
import os.path as osp

from mmengine.config import Config, DictAction

import mmwish  # noqa: F401
from mmwish.visualization.weak_label_browser import browse


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('config')
    p.add_argument('--out', required=True, help='folder for index.html and its images')
    p.add_argument('--num', type=int, default=20)
    p.add_argument('--start', type=int, default=0, help='first dataset index')
    p.add_argument('--checkpoint', help='a trained WISH checkpoint (selection and CAM peaks)')
    p.add_argument('--device', default='cpu')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    args = p.parse_args(argv)
    for path in [args.config] + ([args.checkpoint] if args.checkpoint else []):
        if not osp.isfile(path):
            raise SystemExit(f'error: {path} does not exist')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    print(browse(cfg, args.out, args.num, args.checkpoint, args.device, args.start))


if __name__ == '__main__':
    main()
