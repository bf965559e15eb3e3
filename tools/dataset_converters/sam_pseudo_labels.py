"""Label point and box images with SAM's masks, offline (mmwish.teachers.pseudo_labels).

    python tools/dataset_converters/sam_pseudo_labels.py CONFIG WEAK_JSON OUT_JSON \
        [--checkpoint sam_vit_h_4b8939.pth --variant vit_h] [--device cuda]

Each point or box becomes a mask annotation: of SAM's 3 candidates for it, the one with
the highest predicted IoU. The output is a plain COCO instance file, so that
MMDetection's Mask2Former (or any model) trains on it as on ground truth: the
"label with SAM, then train" baseline that WISH is compared with. The images are found
through the config's ``train_dataloader.dataset`` (data root and prefix), the teacher
is its ``model.teacher`` unless ``--checkpoint`` names another.
"""
import argparse
import json
import os.path as osp
import sys
import time

try:  # importing mmwish checks versions and registers its components
    import mmwish  # noqa: F401
except ImportError as e:
    sys.exit(f'error: {e}')

from mmdet.registry import DATASETS, MODELS  # noqa: E402
from mmengine.config import Config, DictAction  # noqa: E402
from mmengine.registry import init_default_scope  # noqa: E402

from mmwish.datasets.weak_coco import WeakLabelError  # noqa: E402
from mmwish.teachers.pseudo_labels import PseudoLabelError, sam_label_file  # noqa: E402
from mmwish.teachers.sam_builder import SAMCheckpointError, teacher_config  # noqa: E402


def parse_args(argv=None):
    p = argparse.ArgumentParser(description="Write SAM's masks for a weak file's points and "
                                            'boxes as a COCO instance file.')
    p.add_argument('config', help='a WISH config: its model.teacher and training dataset')
    p.add_argument('weak', help='the weak-label JSON file to label')
    p.add_argument('out', help='the COCO instance JSON file to write')
    p.add_argument('--checkpoint', help='SAM checkpoint (default: model.teacher.checkpoint)')
    p.add_argument('--variant', help='vit_b, vit_l, vit_h, mobile_sam (alias vit_t) or custom')
    p.add_argument('--arch', type=json.loads, help='JSON dict of SAM arch overrides')
    p.add_argument('--device', default='cpu', help='cpu or cuda')
    p.add_argument('--drop-tag-images', action='store_true',
                   help='leave tag images out (SAM needs a point or a box)')
    p.add_argument('--overwrite', action='store_true', help='replace an existing OUT')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    if osp.exists(args.out) and not args.overwrite:
        sys.exit(f'error: {args.out} exists; pass --overwrite to replace it')
    if osp.abspath(args.out) == osp.abspath(args.weak):
        sys.exit('error: OUT must differ from WEAK_JSON (the weak labels are kept)')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    init_default_scope(cfg.get('default_scope', 'mmdet'))
    try:
        teacher = MODELS.build(teacher_config(cfg, args.checkpoint, args.variant, args.arch))
        dataset = DATASETS.build(dict(cfg.train_dataloader.dataset, pipeline=[],
                                      ann_file=osp.abspath(args.weak)))
        infos = [dataset.get_data_info(i) for i in range(len(dataset))]
        with open(args.weak, encoding='utf-8-sig') as f:
            weak = json.load(f)
        import mmcv
        start = time.perf_counter()
        coco, report = sam_label_file(
            weak, infos, teacher, lambda p: mmcv.imread(p, channel_order='rgb'),
            device=args.device, drop_tag_images=args.drop_tag_images)
    except (SAMCheckpointError, WeakLabelError, PseudoLabelError) as e:
        sys.exit(f'error: {e}')
    coco.setdefault('info', {})
    coco['info'] = dict(coco['info'], sam_pseudo_labels=dict(
        weak=args.weak, checkpoint=teacher.checkpoint, checkpoint_sha256=teacher.checkpoint_hash,
        rule='highest predicted IoU of 3', empty_masks_left_out=report['empty'],
        tag_images_left_out=len(report['dropped_tag_images'])))
    with open(args.out, 'w') as f:
        json.dump(coco, f)
    print(f'{len(coco["annotations"])} annotations on {len(coco["images"])} images in '
          f'{time.perf_counter() - start:.0f} s -> {args.out}; left out: '
          f'{len(report["empty"])} empty masks {report["empty"][:10]}, '
          f'{len(report["dropped_tag_images"])} tag images')


if __name__ == '__main__':
    main()
