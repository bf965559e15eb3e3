"""The real-photo rows (docs/benchmarks.md, "Real photos"): fully supervised Mask2Former
and WISH taught by the oracle teacher, with EfficientNet-Lite0's ImageNet features, on
three photo sets, each run kept as a record under ``benchmarks/results/photos/``.

    python benchmarks/photo_quality.py [--set feral_cat|tools] --rows masks,oracle_box \
        --seeds 0,1,2 [--iters 500]
    python benchmarks/photo_quality.py [--set feral_cat|tools] --summarise-only [--write-docs]

The sets (``SETS``): ``coco128`` (coco128-seg, COCO's 12 supercategories, 94 training
and 32 validation photos; ``data/coco128_seg``), ``feral_cat`` (995 photos of feral
cats, one class, 795 training and 200 validation photos; ``data/feral_cat``) and
``tools`` (1,101 photos of hand tools, 6 classes, 901 training and 200 validation
photos; ``data/tools``), all made by ``tools/dataset_converters/photo_benchmark.py``.
Within a set every row trains the same model, schedule and images (320 px) with
``tools/train.py`` and tests COCO mask AP on the same validation photos with
``tools/test.py``; only the training label file (or one switch) differs. A finished
run is reused (its ``iter_<ITERS>.pth``).
``--write-docs`` regenerates the set's table between its markers in docs/benchmarks.md
from the records alone.
"""
import argparse
import datetime
import glob
import json
import os
import os.path as osp
import platform
import statistics
import sys
import time
from collections import namedtuple

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

from quality import MARGIN, final_losses, git_commit, mean_std, run_name, schedule_options, sh  # noqa: E402

M2F = 'configs/mask2former/mask2former_effnet-lite0_tiny_coco128.py'
WISH = 'configs/wish/wish_effnet-lite0_tiny_coco128_hetero_oracle.py'
SMALL_SAM = 'configs/wish/wish_effnet-lite0_tiny_coco128_box_small-sam.py'
CAT_M2F = 'configs/mask2former/mask2former_effnet-lite0_tiny_feralcat.py'
CAT_WISH = 'configs/wish/wish_effnet-lite0_tiny_feralcat_box_oracle.py'
CAT_SMALL_SAM = 'configs/wish/wish_effnet-lite0_tiny_feralcat_box_small-sam.py'
DOCS = osp.join('docs', 'benchmarks.md')
ITERS = 500  # the photo schedule; another is named in its run's folder and record

# teacher: None (Mask2Former), 'oracle' or 'small SAM'; options: extra cfg-options
Row = namedtuple('Row', 'config ann what teacher options', defaults=((), ))
PhotoSet = namedtuple('PhotoSet', 'data source records rows')
SETS = {
    'coco128': PhotoSet(
        osp.join('data', 'coco128_seg'),
        'coco128-seg as committed in Goodccccl/yolov8_python at 0f2dcc3 (126 matched '
        'pairs), split by tools/dataset_converters/photo_benchmark.py --seed 0 --num-val 32',
        osp.join('benchmarks', 'results', 'photos'), {
            'masks': Row(M2F, 'instances_train.json',
                         'Mask2Former, masks (full supervision)', None),
            'oracle_box': Row(WISH, 'instances_train_box.json',
                              'WISH + oracle teacher, boxes', 'oracle'),
            'oracle_point': Row(WISH, 'instances_train_point.json',
                                'WISH + oracle teacher, points', 'oracle'),
            'oracle_tag': Row(WISH, 'instances_train_tag.json',
                              'WISH + oracle teacher, tags', 'oracle'),
            'oracle_hetero': Row(WISH, 'instances_train_hetero.json',
                                 'WISH + oracle teacher, a third each (32 tag, 31 point, '
                                 '31 box)', 'oracle'),
            'small_sam_box': Row(SMALL_SAM, 'instances_train_box.json',
                                 "WISH + the shapes' small SAM (never saw a photo), boxes",
                                 'small SAM'),
        }),
    # one class, so no tag rows: every image would carry the same tag
    'feral_cat': PhotoSet(
        osp.join('data', 'feral_cat'),
        'feral-cat-segmentation.v1i.yolov8 as committed in '
        'pcashman21/feral-cat-segmentation-dataset-and-model at c7cdfa4 (Public Domain): '
        'the first copy of each of its 996 photos, less one without a cat, split by '
        'tools/dataset_converters/photo_benchmark.py --split all --seed 0 --num-val 200',
        osp.join('benchmarks', 'results', 'photos', 'feral_cat'), {
            'masks': Row(CAT_M2F, 'instances_train.json',
                         'Mask2Former, masks (full supervision)', None),
            'oracle_box': Row(CAT_WISH, 'instances_train_box.json',
                              'WISH + oracle teacher, boxes', 'oracle'),
            'oracle_box_iou_margin': Row(
                CAT_WISH, 'instances_train_box.json', 'WISH + oracle teacher, boxes, '
                'minimum over candidates within 0.1 of the best IoU score', 'oracle', [MARGIN]),
            'oracle_point': Row(CAT_WISH, 'instances_train_point.json',
                                'WISH + oracle teacher, points', 'oracle'),
            'oracle_point_iou_margin': Row(
                CAT_WISH, 'instances_train_point.json', 'WISH + oracle teacher, points, '
                'minimum over candidates within 0.1 of the best IoU score', 'oracle', [MARGIN]),
            'small_sam_box': Row(CAT_SMALL_SAM, 'instances_train_box.json',
                                 "WISH + the shapes' small SAM (never saw a photo), boxes",
                                 'small SAM'),
        }),
}
TOOLS_M2F = 'configs/mask2former/mask2former_effnet-lite0_tiny_tools.py'
TOOLS_WISH = 'configs/wish/wish_effnet-lite0_tiny_tools_hetero_oracle.py'
TOOLS_SMALL_SAM = 'configs/wish/wish_effnet-lite0_tiny_tools_box_small-sam.py'
# the R50 configs' default (docs/method.md) on every WISH row: the plain minimum's failure
# on touching objects is shown on the cats
SETS['tools'] = PhotoSet(
    osp.join('data', 'tools'),
    '"Tools segmentation 2" v4 (Roboflow, CC BY 4.0) as committed in congtongc/Rokey at '
    '7ca2b02 (Calibration&Yolo_v11/Ultralytics/tools_data1): the first copy of each of its '
    '1,101 distinct photo names, its 17 classes grouped into 6 (class_groups/'
    'tools_segmentation_2.json), split by tools/dataset_converters/photo_benchmark.py '
    '--split all --seed 0 --num-val 200',
    osp.join('benchmarks', 'results', 'photos', 'tools'), {
        'masks': Row(TOOLS_M2F, 'instances_train.json',
                     'Mask2Former, masks (full supervision)', None),
        **{f'oracle_{kind}_iou_margin': Row(
            TOOLS_WISH, f'instances_train_{kind}.json',
            f'WISH + oracle teacher, {what}, minimum over candidates within 0.1 of the '
            'best IoU score', 'oracle', [MARGIN])
           for kind, what in (('box', 'boxes'), ('point', 'points'), ('tag', 'tags'),
                              ('hetero', 'a third each (301 tag, 300 point, 300 box)'))},
        # the shapes' two mends for tags: L_cam pooled by LSE, one pseudo target per object
        'oracle_tag_lse_nms_iou_margin': Row(
            TOOLS_WISH, 'instances_train_tag.json', 'WISH + oracle teacher, tags, L_cam with '
            'LSE pooling, pseudo instances de-duplicated (NMS 0.5), IoU margin 0.1', 'oracle',
            [MARGIN, 'model.cam_neck.pool=lse', 'model.pseudo_nms_iou=0.5']),
        'small_sam_box_iou_margin': Row(
            TOOLS_SMALL_SAM, 'instances_train_box.json', "WISH + the shapes' small SAM (never "
            'saw a photo), boxes, IoU margin 0.1', 'small SAM', [MARGIN]),
    })
ROWS = SETS['coco128'].rows


def markers(photo_set: str):
    """The docs' markers around one set's table."""
    return (f'<!-- photo table ({photo_set}): made by `python benchmarks/photo_quality.py '
            f'--set {photo_set} --summarise-only --write-docs` from the records; do not edit '
            '-->', f'<!-- end of the photo table ({photo_set}) -->')


def teacher_checkpoint(config: str):
    """The checkpoint of the teacher a config builds, relative to the repository (the
    oracle's too: its latents come from that SAM's prompt encoder); None without one."""
    from mmengine import Config
    return Config.fromfile(config).model.get('teacher', {}).get('checkpoint')


def warmup_options(row: Row, iters: int) -> list:
    """WISH's warm-ups keep their share of the shapes' 1,500-iteration schedule: pseudo
    points after 1/5, self-enhancement after 1/3 (none for Mask2Former)."""
    return [] if row.teacher is None else [
        f'model.pseudo_point_warmup={iters // 5}',
        f'model.self_enhancement.warmup_iters={iters // 3}']


def run(photo_set: str, name: str, seed: int, args) -> dict:
    from mmwish.teachers.sam_builder import file_sha256
    data, source, records, rows = SETS[photo_set]
    row = rows[name]
    stem = run_name(name, seed, args.iters, ITERS)
    work = osp.join(args.out, photo_set, stem)
    os.makedirs(work, exist_ok=True)
    log = osp.join(work, 'run.log')
    common = ['train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=False',
              'val_dataloader.num_workers=1', 'test_dataloader.num_workers=1',
              f'randomness.seed={seed}']
    it = args.iters
    train_opts = common + warmup_options(row, it) + list(row.options) + [
        f'train_dataloader.dataset.ann_file=annotations/{row.ann}'] + schedule_options(it)
    commit = git_commit()
    ckpt = osp.join(work, f'iter_{it}.pth')
    # wall minutes of this call's steps; None for a training done by an earlier call (a
    # resumed one counts its remainder only)
    minutes = dict(train=None, test=None)
    start = time.monotonic()
    if not osp.isfile(ckpt):
        sh([sys.executable, 'tools/train.py', row.config, '--work-dir', work, '--resume',
            '--cfg-options'] + train_opts, log)
        minutes['train'] = round((time.monotonic() - start) / 60, 1)
    start = time.monotonic()
    sh([sys.executable, 'tools/test.py', row.config, ckpt, '--work-dir',
        osp.join(work, 'test'), '--cfg-options'] + common + list(row.options), log)
    minutes['test'] = round((time.monotonic() - start) / 60, 1)
    latest = max(glob.glob(osp.join(work, 'test', '*', '*.json')), key=osp.getmtime)
    with open(latest) as f:
        m = json.load(f)
    ann_dir = osp.join(REPO, data, 'annotations')
    with open(osp.join(ann_dir, row.ann)) as f:
        labels = json.load(f)
    set_flag = '' if photo_set == 'coco128' else f' --set {photo_set}'
    teacher_ckpt = teacher_checkpoint(osp.join(REPO, row.config))
    record = dict(
        row=name, seed=seed, mask_ap=m['coco/segm_mAP'], mask_ap50=m['coco/segm_mAP_50'],
        mask_ap75=m['coco/segm_mAP_75'], box_ap=m['coco/bbox_mAP'], what=row.what,
        photo_set=photo_set, config=row.config, train_ann=row.ann, teacher=row.teacher,
        teacher_checkpoint=teacher_ckpt,
        teacher_sha256=teacher_ckpt and file_sha256(osp.join(REPO, teacher_ckpt)),
        num_train=len(labels['images']), labelled_instances=len(labels['annotations']),
        data=source, train_ann_sha256=file_sha256(osp.join(ann_dir, row.ann)),
        val_ann_sha256=file_sha256(osp.join(ann_dir, 'instances_val.json')),
        iters=it, final_losses=final_losses(work),
        command=f'python benchmarks/photo_quality.py{set_flag} --rows {name} --seeds {seed} '
                f'--iters {it}',
        train_options=train_opts, commit=commit, minutes=minutes,
        machine=f'{platform.machine()}, {os.cpu_count()} cores, '
                f"{os.environ.get('OMP_NUM_THREADS', 'default')} threads",
        date=datetime.date.today().isoformat())
    os.makedirs(osp.join(REPO, records), exist_ok=True)
    with open(osp.join(REPO, records, stem + '.json'), 'w') as f:
        json.dump(record, f, indent=1)
    return record


def load_records(folder: str) -> list:
    out = []
    for path in sorted(glob.glob(osp.join(folder, '*.json'))):
        with open(path) as f:
            out.append(json.load(f))
    return out


def summarise(records, rows=ROWS) -> str:
    """The table of one set's ``rows``: per row, mask AP mean +- sample std over seeds
    (each seed listed), AP50 and box AP means, and the ratio of the mean to full
    supervision's mean (with the ratio's spread from the two rows' std, to first order)."""
    by_row = {}
    for r in sorted(records, key=lambda r: r['seed']):
        by_row.setdefault((r['row'], r['iters']), []).append(r)
    lines = ['| row | labels | iters | seeds | mask AP | each seed | AP50 | box AP | '
             'of full supervision |', '|---|---|---:|---:|---|---|---:|---:|---|']
    for name in rows:
        for (row, iters), runs in sorted(by_row.items(), key=lambda kv: kv[0][1]):
            if row != name:
                continue
            aps = [r['mask_ap'] for r in runs]
            base = by_row.get(('masks', iters))
            ratio = ''
            if base and name != 'masks':
                b = [r['mask_ap'] for r in base]
                mean, bmean = statistics.mean(aps), statistics.mean(b)
                ratio = f'{mean / bmean:.2f}' if bmean else ''
                if ratio and len(aps) > 1 and len(b) > 1:
                    rel = ((statistics.stdev(aps) / mean) ** 2
                           + (statistics.stdev(b) / bmean) ** 2) ** 0.5 if mean else 0
                    ratio += f' +- {rel * mean / bmean:.2f}'
            lines.append(
                f"| {name} | {rows[name].what} | {iters} | {len(runs)} | {mean_std(aps)} | "
                f"{', '.join(f'{a:.3f}' for a in aps)} | "
                f"{statistics.mean(r['mask_ap50'] for r in runs):.3f} | "
                f"{statistics.mean(r['box_ap'] for r in runs):.3f} | {ratio} |")
    return '\n'.join(lines)


def write_docs(table: str, photo_set: str = 'coco128') -> None:
    begin, end = markers(photo_set)
    path = osp.join(REPO, DOCS)
    with open(path) as f:
        text = f.read()
    if begin not in text or end not in text:
        raise SystemExit(f'{DOCS} has no markers for the {photo_set} photo table')
    head, rest = text.split(begin, 1)
    tail = rest.split(end, 1)[1]
    with open(path, 'w') as f:
        f.write(head + begin + '\n\n' + table + '\n\n' + end + tail)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--set', default='coco128', choices=sorted(SETS), dest='photo_set')
    p.add_argument('--rows', default='masks,oracle_box')
    p.add_argument('--seeds', default='0')
    p.add_argument('--iters', type=int, default=ITERS)
    p.add_argument('--out', default=osp.join(REPO, 'work_dirs', 'photos'))
    p.add_argument('--summarise-only', action='store_true')
    p.add_argument('--write-docs', action='store_true')
    args = p.parse_args(argv)
    data, _, records, rows = SETS[args.photo_set]
    if not args.summarise_only:
        if not osp.isfile(osp.join(REPO, data, 'annotations', 'instances_val.json')):
            raise SystemExit(f'error: {data} is missing; make it with '
                             'tools/dataset_converters/photo_benchmark.py (docs/benchmarks.md)')
        names = args.rows.split(',')
        unknown = [r for r in names if r not in rows]
        if unknown:
            raise SystemExit(f'error: unknown rows {unknown} of the {args.photo_set} set; '
                             f'choose from {", ".join(rows)}')
        for name in names:
            for seed in map(int, args.seeds.split(',')):
                r = run(args.photo_set, name, seed, args)
                print(f"{name} seed {seed}: mask AP {r['mask_ap']:.3f}", flush=True)
    table = summarise(load_records(osp.join(REPO, records)), rows)
    print(table)
    if args.write_docs:
        write_docs(table, args.photo_set)


if __name__ == '__main__':
    main()
