"""The real-photo rows (docs/benchmarks.md, "Real photos"): fully supervised Mask2Former
and WISH taught by the oracle teacher on coco128-seg, with EfficientNet-Lite0's ImageNet
features, each run kept as a record under ``benchmarks/results/photos/``.

    python benchmarks/photo_quality.py --rows masks,oracle_box --seeds 0,1,2 [--iters 500]
    python benchmarks/photo_quality.py --summarise-only [--write-docs]

Needs ``data/coco128_seg`` made by ``tools/dataset_converters/photo_benchmark.py``. Every
row trains the same model, schedule and images (94 training photos, 320 px) with
``tools/train.py`` and tests COCO mask AP on the same 32 validation photos with
``tools/test.py``; only the training label file differs. A finished run is reused (its
``iter_<ITERS>.pth``). ``--write-docs`` regenerates the table between the markers in
docs/benchmarks.md from the records alone.
"""
import argparse
import datetime
import glob
import hashlib
import json
import os
import os.path as osp
import platform
import statistics
import sys

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
sys.path.insert(0, osp.join(REPO, 'benchmarks'))

from quality import final_losses, git_commit, mean_std, sh  # noqa: E402

M2F = 'configs/mask2former/mask2former_effnet-lite0_tiny_coco128.py'
WISH = 'configs/wish/wish_effnet-lite0_tiny_coco128_hetero_oracle.py'
SMALL_SAM = 'configs/wish/wish_effnet-lite0_tiny_coco128_box_small-sam.py'
DATA = osp.join('data', 'coco128_seg')
RECORDS = osp.join('benchmarks', 'results', 'photos')
DOCS = osp.join('docs', 'benchmarks.md')
BEGIN = ('<!-- photo table: made by `python benchmarks/photo_quality.py --summarise-only '
         '--write-docs` from the records; do not edit -->')
END = '<!-- end of the photo table -->'
SOURCE = ('coco128-seg as committed in Goodccccl/yolov8_python at 0f2dcc3 (126 matched '
          'pairs), split by tools/dataset_converters/photo_benchmark.py --seed 0 --num-val 32')
# name -> (config, training label file, what)
ROWS = {
    'masks': (M2F, 'instances_train.json', 'Mask2Former, masks (full supervision)'),
    'oracle_box': (WISH, 'instances_train_box.json', 'WISH + oracle teacher, boxes'),
    'oracle_point': (WISH, 'instances_train_point.json', 'WISH + oracle teacher, points'),
    'oracle_tag': (WISH, 'instances_train_tag.json', 'WISH + oracle teacher, tags'),
    'oracle_hetero': (WISH, 'instances_train_hetero.json',
                      'WISH + oracle teacher, a third each (32 tag, 31 point, 31 box)'),
    'small_sam_box': (SMALL_SAM, 'instances_train_box.json',
                      "WISH + the shapes' small SAM (never saw a photo), boxes"),
}


def sha256(path: str) -> str:
    with open(path, 'rb') as f:
        return hashlib.sha256(f.read()).hexdigest()


def run(name: str, seed: int, args) -> dict:
    config, ann, what = ROWS[name]
    work = osp.join(args.out, f'{name}_seed{seed}')
    os.makedirs(work, exist_ok=True)
    log = osp.join(work, 'run.log')
    common = ['train_dataloader.num_workers=1', 'train_dataloader.persistent_workers=False',
              'val_dataloader.num_workers=1', 'test_dataloader.num_workers=1',
              f'randomness.seed={seed}']
    it = args.iters
    # WISH's warm-ups keep their share of the shapes' 1,500-iteration schedule (pseudo
    # points after 1/5, self-enhancement after 1/3)
    warmups = [] if config == M2F else [f'model.pseudo_point_warmup={it // 5}',
                                        f'model.self_enhancement.warmup_iters={it // 3}']
    train_opts = common + warmups + [
        f'train_dataloader.dataset.ann_file=annotations/{ann}',
        f'train_cfg.max_iters={it}', f'train_cfg.val_interval={it}',
        f'param_scheduler.end={it}', f'param_scheduler.milestones=[{it * 8 // 10}]',
        f'default_hooks.checkpoint.interval={it}']
    commit = git_commit()
    ckpt = osp.join(work, f'iter_{it}.pth')
    if not osp.isfile(ckpt):
        sh([sys.executable, 'tools/train.py', config, '--work-dir', work, '--resume',
            '--cfg-options'] + train_opts, log)
    sh([sys.executable, 'tools/test.py', config, ckpt, '--work-dir', osp.join(work, 'test'),
        '--cfg-options'] + common, log)
    latest = max(glob.glob(osp.join(work, 'test', '*', '*.json')), key=osp.getmtime)
    with open(latest) as f:
        m = json.load(f)
    with open(osp.join(REPO, DATA, 'annotations', ann)) as f:
        labels = json.load(f)
    record = dict(
        row=name, seed=seed, mask_ap=m['coco/segm_mAP'], mask_ap50=m['coco/segm_mAP_50'],
        mask_ap75=m['coco/segm_mAP_75'], box_ap=m['coco/bbox_mAP'], what=what,
        config=config, train_ann=ann,
        teacher={WISH: 'oracle', SMALL_SAM: 'small SAM'}.get(config),
        num_train=len(labels['images']), labelled_instances=len(labels['annotations']),
        data=SOURCE, train_ann_sha256=sha256(osp.join(REPO, DATA, 'annotations', ann)),
        val_ann_sha256=sha256(osp.join(REPO, DATA, 'annotations', 'instances_val.json')),
        iters=it, final_losses=final_losses(work),
        command=f'python benchmarks/photo_quality.py --rows {name} --seeds {seed} '
                f'--iters {it}',
        train_options=train_opts, commit=commit,
        machine=f'{platform.machine()}, {os.cpu_count()} cores, '
                f"{os.environ.get('OMP_NUM_THREADS', 'default')} threads",
        date=datetime.date.today().isoformat())
    os.makedirs(osp.join(REPO, RECORDS), exist_ok=True)
    with open(osp.join(REPO, RECORDS, f'{name}_seed{seed}.json'), 'w') as f:
        json.dump(record, f, indent=1)
    return record


def load_records(folder=None) -> list:
    out = []
    for path in sorted(glob.glob(osp.join(folder or osp.join(REPO, RECORDS), '*.json'))):
        with open(path) as f:
            out.append(json.load(f))
    return out


def summarise(records) -> str:
    """The table: per row, mask AP mean +- sample std over seeds (each seed listed),
    AP50 and box AP means, and the ratio of the mean to full supervision's mean (with
    the ratio's spread from the two rows' std, to first order)."""
    by_row = {}
    for r in sorted(records, key=lambda r: r['seed']):
        by_row.setdefault((r['row'], r['iters']), []).append(r)
    lines = ['| row | labels | iters | seeds | mask AP | each seed | AP50 | box AP | '
             'of full supervision |', '|---|---|---:|---:|---|---|---:|---:|---|']
    for name in ROWS:
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
                f"| {name} | {ROWS[name][2]} | {iters} | {len(runs)} | {mean_std(aps)} | "
                f"{', '.join(f'{a:.3f}' for a in aps)} | "
                f"{statistics.mean(r['mask_ap50'] for r in runs):.3f} | "
                f"{statistics.mean(r['box_ap'] for r in runs):.3f} | {ratio} |")
    return '\n'.join(lines)


def write_docs(table: str) -> None:
    path = osp.join(REPO, DOCS)
    with open(path) as f:
        text = f.read()
    if BEGIN not in text or END not in text:
        raise SystemExit(f'{DOCS} has no photo table markers')
    head, rest = text.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(path, 'w') as f:
        f.write(head + BEGIN + '\n\n' + table + '\n\n' + END + tail)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', default='masks,oracle_box')
    p.add_argument('--seeds', default='0')
    p.add_argument('--iters', type=int, default=500)
    p.add_argument('--out', default=osp.join(REPO, 'work_dirs', 'photos'))
    p.add_argument('--summarise-only', action='store_true')
    p.add_argument('--write-docs', action='store_true')
    args = p.parse_args(argv)
    if not args.summarise_only:
        if not osp.isfile(osp.join(REPO, DATA, 'annotations', 'instances_val.json')):
            raise SystemExit(f'error: {DATA} is missing; make it with '
                             'tools/dataset_converters/photo_benchmark.py (docs/benchmarks.md)')
        rows = args.rows.split(',')
        unknown = [r for r in rows if r not in ROWS]
        if unknown:
            raise SystemExit(f'error: unknown rows {unknown}; choose from {", ".join(ROWS)}')
        for name in rows:
            for seed in map(int, args.seeds.split(',')):
                r = run(name, seed, args)
                print(f"{name} seed {seed}: mask AP {r['mask_ap']:.3f}", flush=True)
    table = summarise(load_records())
    print(table)
    if args.write_docs:
        write_docs(table)


if __name__ == '__main__':
    main()
