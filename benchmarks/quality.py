"""The quality table on the synthetic shapes: WISH from tags, points, boxes and
equal-budget mixes, and the paper's ablations, as ratios to fully supervised Mask2Former.

    python benchmarks/quality.py [--rows baseline,box,point,tag,...] [--seeds 0,1]
        [--iters 1500] [--jobs 1] [--out work_dirs/quality]

Every row trains the same tiny model (ResNet-18, 128 px, the same schedule, images
and seed) with ``tools/train.py`` and evaluates COCO mask AP with
``tools/test.py`` on the same 100 validation images; only the training labels (or
one switch) differ. Nothing is a constant: the table and the plot are made from the
runs' own metric files. Finished runs are reused (their ``iter_<ITERS>.pth``), so
the command resumes after an interruption. Writes ``table.md``, ``results.json`` and
``budget.png`` (mask AP against annotation budget) in ``--out``.

The backbone starts from ``--backbone`` (default: a ResNet-18 pretrained on shape
crops of 12 classes by ``tools/pretrain_backbone_shapes.py``, made first if missing,
as Mask2Former starts from ImageNet; it then learns at 0.1x, Mask2Former's recipe), or
from scratch with ``--backbone scratch`` (the tiny configs' default, used by the demo).
"""
import argparse
import glob
import json
import os
import os.path as osp
import statistics
import subprocess
import sys
from collections import namedtuple
from concurrent.futures import ThreadPoolExecutor

REPO = osp.dirname(osp.dirname(osp.abspath(__file__)))
M2F = 'configs/mask2former/mask2former_r18_tiny_shapes.py'
WISH = 'configs/wish/wish_r18_tiny_shapes_hetero.py'
ORACLE = 'configs/wish/wish_r18_tiny_shapes_hetero_oracle.py'
# The demo's configs carry their own backbone (ResNet-18 at half width, pretrained on
# shape crops, shipped in checkpoints/); their ratios are to the demo's Mask2Former.
DEMO_M2F = 'configs/mask2former/mask2former_r18-half_tiny_shapes.py'
DEMO_WISH = 'configs/wish/wish_r18-half_tiny_shapes_hetero.py'
DEMO_BACKBONE = osp.join('checkpoints', 'resnet18_half_shapes.pth')
OWN_BACKBONE = (DEMO_M2F, DEMO_WISH)
# Records of finished runs, committed so that tables add up across sessions and
# machines. WEAK_PATH 2: latents in the batch frame, full-resolution SAM targets
# (earlier runs, WEAK_PATH 1, are never mixed into a table with these).
RECORDS = osp.join('benchmarks', 'results', 'quality')
WEAK_PATH = 2
COSTS = dict(tag=1, point=6, box=12)
NUM_TRAIN = 400
BUDGET = NUM_TRAIN * COSTS['tag']  # the paper's Table 3: every image tagged
# inference-only rows -> the trained row whose checkpoints they test
INFERENCE_ONLY = dict(sam_decoder_inference='hetero', sam_decoder_inference_raw='hetero',
                      oracle_sam_decoder_inference='oracle_hetero_iou_margin')
ITERS = 1500  # the schedule every committed table row uses
# the adaptive minimum over the candidates within 0.1 of the best IoU score (the R50 default)
MARGIN = 'model.panoptic_head.candidate_iou_margin=0.1'
THREADS = '2'
BACKBONE = osp.join('work_dirs', 'backbone', 'resnet18_shapes.pth')
SAM = osp.join('checkpoints', 'sam_tiny_shapes.pth')
NUM_VAL = 100
# kind: 'train' (a model trained on the row's labels), 'sam_labels' (Mask2Former trained
# on the small SAM's masks for the labels: the offline labeller), 'ceiling' (no training:
# the small SAM's masks for the validation objects, prompted by their true boxes or points)
Row = namedtuple('Row', 'config counts options what kind', defaults=('train',))


def rows_table():
    """name -> Row(config, label counts or None for the mask file, extra cfg-options, what,
    kind)."""
    half = BUDGET // 2
    hetero = dict(tag=134, point=133, box=133)  # the demo's mix; the ablations' labels
    rows = {
        'baseline': (M2F, None, [], 'Mask2Former, masks (full supervision)'),
        'box': (WISH, dict(box=NUM_TRAIN), [], 'WISH, boxes'),
        'point': (WISH, dict(point=NUM_TRAIN), [], 'WISH, points'),
        'tag': (WISH, dict(tag=NUM_TRAIN), [], 'WISH, tags'),
        'hetero': (WISH, hetero, [], 'WISH, a third each'),
        'budget_boxes': (WISH, dict(box=BUDGET // COSTS['box']), [],
                         f'budget {BUDGET}: boxes only'),
        'budget_mix': (WISH, dict(tag=half, box=half // COSTS['box']), [],
                       f'budget {BUDGET}: half tags, half boxes'),
        'budget_tags_half': (WISH, dict(tag=BUDGET // 2), [], f'budget {BUDGET // 2}: tags only'),
        'budget_boxes_half': (WISH, dict(box=BUDGET // 2 // COSTS['box']), [],
                              f'budget {BUDGET // 2}: boxes only'),
        'budget_mix_half': (WISH, dict(tag=BUDGET // 4, box=BUDGET // 4 // COSTS['box']), [],
                            f'budget {BUDGET // 2}: half tags, half boxes'),
        'no_prompt_head': (WISH, hetero,
                           ['model.panoptic_head.loss_prompt=None'],
                           'ablation: no prompt head (hetero labels)'),
        'fixed_candidate': (WISH, hetero,
                            # the small SAM's most often best candidate (see docs)
                            ['model.panoptic_head.fixed_candidate=1'],
                            'ablation: fixed SAM candidate (hetero labels)'),
        'no_self_enhancement': (WISH, hetero,
                                ['model.self_enhancement=None'],
                                'ablation: no self-enhancement (hetero labels)'),
        'sam_decoder_inference': (WISH, hetero,
                                  ['model.sam_decoder_inference=box'],
                                  'ablation (b): SAM-decoder inference (hetero labels)'),
        'sam_decoder_inference_raw': (WISH, hetero,
                                      ['model.sam_decoder_inference=box',
                                       'model.restore_latent_means=False'],
                                      'ablation (b), Z_hat decoded without its level restored'),
        'ceiling_box': Row(WISH, dict(box=NUM_VAL), [],
                           "the small SAM's masks of the val objects from their true boxes",
                           'ceiling'),
        'ceiling_point': Row(WISH, dict(point=NUM_VAL), [],
                             "the small SAM's masks of the val objects from a point in each",
                             'ceiling'),
        'sam_labels_box': Row(M2F, dict(box=NUM_TRAIN), [],
                              "Mask2Former on the small SAM's masks for the boxes", 'sam_labels'),
        'sam_labels_point': Row(M2F, dict(point=NUM_TRAIN), [],
                                "Mask2Former on the small SAM's masks for the points",
                                'sam_labels'),
        'oracle_box': (ORACLE, dict(box=NUM_TRAIN), [], 'WISH + oracle teacher, boxes'),
        'oracle_point': (ORACLE, dict(point=NUM_TRAIN), [], 'WISH + oracle teacher, points'),
        'oracle_tag': (ORACLE, dict(tag=NUM_TRAIN), [], 'WISH + oracle teacher, tags'),
        'oracle_hetero': (ORACLE, hetero, [], 'WISH + oracle teacher, a third each'),
        'oracle_no_prompt_head': (ORACLE, hetero, ['model.panoptic_head.loss_prompt=None'],
                                  'oracle, ablation: no prompt head (hetero labels)'),
        'oracle_fixed_candidate': (ORACLE, hetero, ['model.panoptic_head.fixed_candidate=0'],
                                   'oracle, ablation: fixed candidate 0 (hetero labels)'),
        'oracle_no_self_enhancement': (ORACLE, hetero, ['model.self_enhancement=None'],
                                       'oracle, ablation: no self-enhancement (hetero labels)'),
        # the oracle's budget rows and its margin ablations choose among the trusted
        # candidates: its plain minimum's spread (0.046 on the mix) decides nothing
        'oracle_budget_boxes': (ORACLE, dict(box=BUDGET // COSTS['box']), [MARGIN],
                                f'oracle, trusted candidates, budget {BUDGET}: boxes only'),
        'oracle_budget_mix': (ORACLE, dict(tag=half, box=half // COSTS['box']), [MARGIN],
                              f'oracle, trusted candidates, budget {BUDGET}: half tags, '
                              'half boxes'),
        'oracle_tag_iou_margin': (ORACLE, dict(tag=NUM_TRAIN), [MARGIN],
                                  'WISH + oracle teacher, tags, minimum over candidates within '
                                  '0.1 of the best IoU score'),
        'oracle_tag_lse_nms_iou_margin': (
            ORACLE, dict(tag=NUM_TRAIN),
            [MARGIN, 'model.cam_neck.pool=lse', 'model.pseudo_nms_iou=0.5'],
            'WISH + oracle teacher, tags, trusted candidates, LSE pooling, pseudo instances '
            'de-duplicated (NMS 0.5)'),
        'oracle_point_iou_margin': (ORACLE, dict(point=NUM_TRAIN), [MARGIN],
                                    'WISH + oracle teacher, points, minimum over candidates '
                                    'within 0.1 of the best IoU score'),
        'oracle_no_prompt_head_iou_margin': (
            ORACLE, hetero, [MARGIN, 'model.panoptic_head.loss_prompt=None'],
            'oracle, trusted candidates, ablation: no prompt head (hetero labels)'),
        # the student taught by the oracle, its predicted latents decoded by the small
        # SAM whose prompt encoder made its targets (the oracle has no decoder)
        'oracle_sam_decoder_inference': (
            ORACLE, hetero, [MARGIN, 'model.sam_decoder_inference=box'],
            'oracle, trusted candidates, ablation: SAM-decoder inference (hetero labels)'),
        'oracle_no_self_enhancement_iou_margin': (
            ORACLE, hetero, [MARGIN, 'model.self_enhancement=None'],
            'oracle, trusted candidates, ablation: no self-enhancement (hetero labels)'),
        'oracle_plain_box': (ORACLE, dict(box=NUM_TRAIN), ['model.teacher.ambiguity=False'],
                             'WISH + oracle without ambiguity (the true mask 3 times), boxes'),
        'oracle_plain_point': (ORACLE, dict(point=NUM_TRAIN), ['model.teacher.ambiguity=False'],
                               'WISH + oracle without ambiguity, points'),
        'oracle_box_prompt_pos': (ORACLE, dict(box=NUM_TRAIN),
                                  ['model.panoptic_head.prompt_position=mask_pooled'],
                                  'WISH + oracle teacher, boxes, prompt head told where '
                                  'its mask is'),
        'oracle_box_iou_margin': (ORACLE, dict(box=NUM_TRAIN),
                                  [MARGIN],
                                  'WISH + oracle teacher, boxes, minimum over candidates '
                                  'within 0.1 of the best IoU score'),
        'oracle_hetero_iou_margin': (ORACLE, hetero,
                                     [MARGIN],
                                     'WISH + oracle teacher, a third each, minimum over '
                                     'candidates within 0.1 of the best IoU score'),
        'box_iou_margin': (WISH, dict(box=NUM_TRAIN),
                           [MARGIN],
                           'WISH, boxes, minimum over candidates within 0.1 of the best '
                           'IoU score'),
        'hetero_prompt_box': (WISH, hetero, ['model.panoptic_head.prompt_position=mask_box'],
                              "WISH, a third each, prompt head told its mask's box"),
        'tag_cam_lse': (WISH, dict(tag=NUM_TRAIN), ['model.cam_neck.pool=lse'],
                        'WISH, tags, L_cam with LSE pooling'),
        'oracle_tag_cam_lse': (ORACLE, dict(tag=NUM_TRAIN), ['model.cam_neck.pool=lse'],
                               'WISH + oracle teacher, tags, L_cam with LSE pooling'),
        'hetero_cam_lse': (WISH, hetero, ['model.cam_neck.pool=lse'],
                           'WISH, a third each, L_cam with LSE pooling'),
        'oracle_hetero_cam_lse': (ORACLE, hetero, ['model.cam_neck.pool=lse'],
                                  'WISH + oracle teacher, a third each, L_cam with LSE pooling'),
        'tag_cam_lse_up4': (WISH, dict(tag=NUM_TRAIN),
                            ['model.cam_neck.pool=lse', 'model.cam_neck.peak.upsample=4'],
                            'WISH, tags, LSE pooling, peaks at stride 4'),
        'oracle_tag_cam_lse_up4': (ORACLE, dict(tag=NUM_TRAIN),
                                   ['model.cam_neck.pool=lse', 'model.cam_neck.peak.upsample=4'],
                                   'WISH + oracle teacher, tags, LSE pooling, peaks at stride 4'),
        'point_iou_margin': (WISH, dict(point=NUM_TRAIN),
                             [MARGIN],
                             'WISH, points, minimum over candidates within 0.1 of the best '
                             'IoU score'),
        'hetero_iou_margin': (WISH, hetero,
                              [MARGIN],
                              'WISH, a third each, minimum over candidates within 0.1 of '
                              'the best IoU score'),
        'box_iou_margin_clip': (WISH, dict(box=NUM_TRAIN),
                                [MARGIN,
                                 'model.teacher.clip_box_candidates=True'],
                                'WISH, boxes, trusted candidates, clipped to their box'),
        'tag_cam_lse_thr': (WISH, dict(tag=NUM_TRAIN),
                            ['model.cam_neck.pool=lse', 'model.cam_neck.peak.class_score_thr=0.5'],
                            'WISH, tags, LSE pooling, no peak for a class scored below 0.5'),
        'tag_nms': (WISH, dict(tag=NUM_TRAIN), ['model.pseudo_nms_iou=0.5'],
                    'WISH, tags, pseudo instances de-duplicated (NMS 0.5)'),
        'tag_cam_lse_nms': (WISH, dict(tag=NUM_TRAIN),
                            ['model.cam_neck.pool=lse', 'model.pseudo_nms_iou=0.5'],
                            'WISH, tags, LSE pooling, pseudo instances de-duplicated (NMS 0.5)'),
        'demo_masks': (DEMO_M2F, None, [],
                       "the demo's Mask2Former, masks (full supervision; half-width ResNet-18)"),
        'demo_hetero': (DEMO_WISH, hetero, [],
                        'the demo: WISH, a third each (half-width ResNet-18)'),
        'oracle_box_prompt_x5': (ORACLE, dict(box=NUM_TRAIN),
                                 ['model.panoptic_head.loss_prompt.loss_weight=5.0'],
                                 'WISH + oracle teacher, boxes, l_prompt = 5'),
    }
    return {name: Row(*row) for name, row in rows.items()}


def budget_of(counts):
    return sum(COSTS[t] * n for t, n in (counts or {}).items())


def ann_name(counts, split='train', seed=None):
    """The weak-label file of ``counts`` (val files of points also name their seed)."""
    name = f'instances_{split}_' + '_'.join(f'{t}{n}' for t, n in sorted(counts.items()))
    return name + (f'_seed{seed}' if seed is not None else '') + '.json'


def sam_label_name(weak_name):
    """The small SAM's labels of a weak file, named by the SAM's checkpoint."""
    from mmwish.teachers.sam_builder import file_sha256
    return weak_name[:-len('.json')] + f'_samlabels_{file_sha256(osp.join(REPO, SAM))[:8]}.json'


def sam_labels(weak_name, out_name, log):
    """Label a weak file's points and boxes with the small SAM (sam_pseudo_labels.py)."""
    ann = osp.join(REPO, 'data', 'shapes', 'annotations')
    if not osp.isfile(osp.join(ann, out_name)):
        sh([sys.executable, 'tools/dataset_converters/sam_pseudo_labels.py', WISH,
            osp.join(ann, weak_name), osp.join(ann, out_name)], log)
    return osp.join(ann, out_name)


def sh(cmd, log):
    with open(log, 'a') as f:
        f.write('$ ' + ' '.join(cmd) + '\n')
        f.flush()
        env = dict(os.environ, OMP_NUM_THREADS=os.environ.get('OMP_NUM_THREADS', THREADS))
        proc = subprocess.run(cmd, cwd=REPO, stdout=f, stderr=subprocess.STDOUT, env=env)
    if proc.returncode:
        raise RuntimeError(f'{" ".join(cmd)} failed; see {log}')


def prepare(args):
    data = osp.join(REPO, 'data', 'shapes')
    if not osp.isfile(osp.join(data, 'annotations', 'instances_val.json')):
        sh([sys.executable, 'tools/dataset_converters/make_shapes.py', data, '--seed', '0',
            '--num-train', str(NUM_TRAIN), '--num-val', str(NUM_VAL)],
           osp.join(args.out, 'data.log'))
    for name in args.rows:
        row = rows_table()[name]
        if row.kind == 'ceiling' or not row.counts:
            continue
        if not osp.isfile(osp.join(data, 'annotations', ann_name(row.counts))):
            sh([sys.executable, 'tools/dataset_converters/coco_to_weak.py',
                osp.join(data, 'annotations', 'instances_train.json'),
                osp.join(data, 'annotations', ann_name(row.counts)), '--counts',
                ','.join(f'{t}={n}' for t, n in row.counts.items()), '--seed', '0'],
               osp.join(args.out, 'data.log'))
        if row.kind == 'sam_labels':
            sam_labels(ann_name(row.counts), sam_label_name(ann_name(row.counts)),
                       osp.join(args.out, 'data.log'))


def ensure_backbone(args):
    """Pretrain the default backbone when it is missing; refuse any other missing file."""
    if args.backbone == 'scratch' or osp.isfile(args.backbone):
        return
    if osp.abspath(args.backbone) != osp.join(REPO, BACKBONE):
        raise SystemExit(f'error: --backbone {args.backbone} does not exist; give a state dict '
                         f'made by tools/pretrain_backbone_shapes.py, or "scratch"')
    print(f'pretraining the backbone on shape crops into {BACKBONE} (about 10 min on 2 cores)')
    sh([sys.executable, 'tools/pretrain_backbone_shapes.py', '--out', args.backbone],
       osp.join(args.out, 'backbone.log'))


def backbone_options(args, config=None):
    """cfg-options that start the backbone from ``args.backbone`` (none for scratch, or
    for a config that names its own)."""
    if args.backbone == 'scratch' or config in OWN_BACKBONE:
        return []
    return ['model.backbone.init_cfg._delete_=True', 'model.backbone.init_cfg.type=Pretrained',
            f'model.backbone.init_cfg.checkpoint={args.backbone}',
            'optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult=0.1']


def run_name(name: str, seed: int, iters: int, default: int = ITERS) -> str:
    """A run's folder and record name; a schedule other than ``default`` is named, so
    that runs of two schedules never overwrite or resume each other."""
    return f'{name}_seed{seed}' + ('' if iters == default else f'_iters{iters}')


def schedule_options(iters: int) -> list:
    """``--cfg-options`` that train for ``iters`` iterations, the step down at 80 %, one
    validation and one checkpoint at the end."""
    return [f'train_cfg.max_iters={iters}', f'train_cfg.val_interval={iters}',
            f'param_scheduler.end={iters}', f'param_scheduler.milestones=[{iters * 8 // 10}]',
            f'default_hooks.checkpoint.interval={iters}']


def run_row(name, seed, args):
    config, counts, options, _, kind = rows_table()[name]
    if kind == 'ceiling':
        return run_ceiling(name, seed, args)
    work = osp.join(args.out, run_name(name, seed, args.iters))
    # an inference-only switch tests its trained row's checkpoint
    trained = (osp.join(args.out, run_name(INFERENCE_ONLY[name], seed, args.iters))
               if name in INFERENCE_ONLY else work)
    os.makedirs(work, exist_ok=True)
    log = osp.join(work, 'run.log')
    common = ['train_dataloader.num_workers=1', 'val_dataloader.num_workers=1',
              'test_dataloader.num_workers=1', f'randomness.seed={seed}']
    train_opts = (list(options) + common + backbone_options(args, config)
                  + schedule_options(args.iters))
    if counts:
        ann = ann_name(counts) if kind == 'train' else sam_label_name(ann_name(counts))
        train_opts.append(f'train_dataloader.dataset.ann_file=annotations/{ann}')
    ckpt = osp.join(trained, f'iter_{args.iters}.pth')
    commit = git_commit()  # of the code that trains (the record is written after the test)
    if not osp.isfile(ckpt):
        if name in INFERENCE_ONLY:
            raise RuntimeError(f'{name} needs the {INFERENCE_ONLY[name]} row trained first '
                               f'({ckpt})')
        sh([sys.executable, 'tools/train.py', config, '--work-dir', work, '--resume',
            '--cfg-options'] + train_opts, log)
    sh([sys.executable, 'tools/test.py', config, ckpt, '--work-dir', osp.join(work, 'test'),
        '--cfg-options'] + list(options) + common, log)
    result = tested(name, seed, args)
    write_record(result, args, train_opts, counts, work, commit)
    return result


def run_ceiling(name, seed, args):
    """The teacher's ceiling (no training): the small SAM's best-scored mask for each
    validation object, prompted by its true box or a random point inside it (drawn by
    ``seed``), given the true class and score 1, scored by COCO mask AP."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    from mmwish.datasets.converters.weak_budget import convert_to_weak
    counts = rows_table()[name].counts
    ann = osp.join(REPO, 'data', 'shapes', 'annotations')
    work = osp.join(args.out, f'{name}_seed{seed}')
    os.makedirs(work, exist_ok=True)
    weak_name = ann_name(counts, 'val', seed)
    if not osp.isfile(osp.join(ann, weak_name)):
        with open(osp.join(ann, 'instances_val.json')) as f:
            weak, _ = convert_to_weak(json.load(f), counts, seed=seed)
        with open(osp.join(ann, weak_name), 'w') as f:
            json.dump(weak, f)
    commit = git_commit()
    labelled = sam_labels(weak_name, sam_label_name(weak_name), osp.join(work, 'run.log'))
    with open(labelled) as f:
        dets = [dict(image_id=a['image_id'], category_id=a['category_id'], score=1.0,
                     segmentation=a['segmentation'], bbox=a['bbox'])
                for a in json.load(f)['annotations']]
    gt = COCO(osp.join(ann, 'instances_val.json'))
    stats = {}
    for iou_type in ('segm', 'bbox'):
        ev = COCOeval(gt, gt.loadRes(dets), iou_type)
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
        stats[iou_type] = ev.stats
    result = dict(row=name, seed=seed, mask_ap=round(float(stats['segm'][0]), 3),
                  mask_ap50=round(float(stats['segm'][1]), 3),
                  mask_ap75=round(float(stats['segm'][2]), 3),
                  box_ap=round(float(stats['bbox'][0]), 3))
    write_record(result, args, [], counts, work, commit)
    return result


def tested(name, seed, args):
    """The row's test metrics, or None when it was not tested yet."""
    found = glob.glob(osp.join(args.out, run_name(name, seed, args.iters), 'test', '*',
                               '*.json'))
    if not found:
        return None
    latest = max(found, key=osp.getmtime)
    with open(latest) as f:
        metrics = json.load(f)
    return dict(row=name, seed=seed, mask_ap=metrics['coco/segm_mAP'],
                mask_ap50=metrics['coco/segm_mAP_50'], mask_ap75=metrics['coco/segm_mAP_75'],
                box_ap=metrics['coco/bbox_mAP'],
                metrics_file=osp.relpath(latest, REPO))


def git_commit() -> str:
    out = subprocess.run(['git', 'rev-parse', 'HEAD'], cwd=REPO, capture_output=True, text=True)
    dirty = subprocess.run(['git', 'status', '--porcelain', '--untracked-files=no'], cwd=REPO,
                           capture_output=True, text=True).stdout.strip()
    return out.stdout.strip() + ('+dirty' if dirty else '')


def final_losses(work: str, last: int = 5) -> dict:
    """The training losses of a run's end: the mean of its ``last`` logged entries
    (mmengine's scalars.json, each already a mean over its log interval)."""
    found = sorted(glob.glob(osp.join(work, '*', 'vis_data', 'scalars.json')), key=osp.getmtime)
    entries = []
    for path in found[-1:]:
        with open(path) as f:
            entries = [e for e in map(json.loads, f) if 'loss' in e]
    entries = entries[-last:]
    if not entries:
        return {}
    keys = [k for k in entries[-1] if k.startswith('loss')]
    out = {k: round(statistics.mean(e[k] for e in entries if k in e), 5) for k in keys}
    out['iters'] = [entries[0]['iter'], entries[-1]['iter']]
    return out


def write_record(result, args, train_opts, counts, work, commit):
    """One JSON record per finished run under benchmarks/results/quality/."""
    import datetime
    import platform

    from mmwish.teachers.sam_builder import file_sha256
    config, _, options, what, kind = rows_table()[result['row']]
    if kind != 'train':
        teacher = 'small SAM'
    else:
        teacher = {ORACLE: 'oracle', M2F: None, DEMO_M2F: None}.get(config, 'small SAM')
    if 'model.teacher.ambiguity=False' in options:
        teacher += ' (no ambiguity)'
    backbone = DEMO_BACKBONE if config in OWN_BACKBONE else (
        'scratch' if args.backbone == 'scratch' else osp.relpath(args.backbone, REPO))
    record = dict(result, weak_path=WEAK_PATH, what=what, kind=kind, config=config,
                  teacher=teacher, sam_sha256=file_sha256(osp.join(REPO, SAM)),
                  labels=counts or dict(mask=NUM_TRAIN), budget=budget_of(counts),
                  num_train=NUM_TRAIN if kind != 'ceiling' else 0, num_val=NUM_VAL,
                  iters=args.iters if kind != 'ceiling' else 0,
                  backbone=backbone, backbone_sha256=None if backbone == 'scratch'
                  else file_sha256(osp.join(REPO, backbone)), final_losses=final_losses(work),
                  command=' '.join(['python benchmarks/quality.py', '--rows', result['row'],
                                    '--seeds', str(result['seed']), '--iters', str(args.iters)]),
                  train_options=train_opts, commit=commit,
                  machine=f'{platform.machine()}, {os.cpu_count()} cores, '
                          f"{os.environ.get('OMP_NUM_THREADS', THREADS)} threads, "
                          f'{platform.python_version()}',
                  date=datetime.date.today().isoformat())
    record.pop('metrics_file', None)
    folder = osp.join(REPO, RECORDS)
    os.makedirs(folder, exist_ok=True)
    path = osp.join(folder, run_name(result['row'], result['seed'], record['iters'] or ITERS)
                    + '.json')
    with open(path, 'w') as f:
        json.dump(record, f, indent=1)
    return path


def load_records(folder=None, weak_path=WEAK_PATH, iters=ITERS):
    """The committed records of one weak path and one schedule (runs of an older weak
    path or of another ``--iters`` never mix in; ceilings train nothing and always do)."""
    out = []
    for path in sorted(glob.glob(osp.join(folder or osp.join(REPO, RECORDS), '*.json'))):
        with open(path) as f:
            record = json.load(f)
        if record.get('weak_path') == weak_path and record.get('iters') in (iters, 0):
            out.append(record)
    return out


def mean_std(values) -> str:
    """``mean +- sample std`` (the mean alone for one value)."""
    if len(values) == 1:
        return f'{values[0]:.3f}'
    return f'{statistics.mean(values):.3f} +- {statistics.stdev(values):.3f}'


def summarise(results, args=None):
    """The table of the rows in ``results`` (records or results of this invocation), in
    ``rows_table`` order: mask AP mean +- sample std over seeds, each seed's, AP50 and
    AP75 means, the ratio of the mean to the baseline's mean, and ``loss_prompt`` at
    the end of training where logged."""
    table = rows_table()
    by_row = {}
    for r in sorted(results, key=lambda r: r['seed']):
        by_row.setdefault(r['row'], []).append(r)
    marks, legend = backbone_marks(results)
    means = {n: statistics.mean(r['mask_ap'] for r in runs) for n, runs in by_row.items()}
    lines = ['| row | labels | budget | seeds | mask AP (mean +- std) | each seed | AP50 | AP75 '
             '| ratio to masks | loss_prompt at the end |',
             '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |']
    for name in table:
        if name not in by_row:
            continue
        runs = by_row[name]
        aps = [r['mask_ap'] for r in runs]
        counts = table[name].counts
        labels = 'masks 400' if counts is None else ', '.join(
            f'{t} {n}' for t, n in counts.items())
        ceiling = table[name].kind == 'ceiling'
        if ceiling:
            labels = f'val: {labels} (true)'
        base = means.get('demo_masks' if table[name].config in OWN_BACKBONE else 'baseline')
        ratio = f'{statistics.mean(aps) / base:.3f}' if base else 'n/a'
        budget = '-' if ceiling else str(budget_of(counts) or '-')
        each = [f'{r["mask_ap"]:.3f}' + (f' ({marks[r["backbone_sha256"]]})'
                                         if r.get('backbone_sha256') in marks else '')
                for r in runs]
        cells = [table[name].what, labels, budget, str(len(runs)), mean_std(aps),
                 ', '.join(each)]
        for key in ('mask_ap50', 'mask_ap75'):
            vals = [r[key] for r in runs if key in r]
            cells.append(f'{statistics.mean(vals):.3f}' if vals else '-')
        prompt = [r['final_losses']['loss_prompt'] for r in runs
                  if 'loss_prompt' in r.get('final_losses', {})]
        cells += [ratio, mean_std(prompt) if prompt else '-']
        lines.append('| ' + ' | '.join(cells) + ' |')
    if legend:
        lines += [''] + legend
    return '\n'.join(lines)


def backbone_marks(records):
    """A letter for each seed trained from another re-make of the shared pretrained
    backbone, and the legend under the table. The backbone is re-made on each new
    machine and its bits differ between CPUs; the first one used goes unmarked, so that
    a seed keeps its mark however the records accumulate."""
    dates = {}
    for r in records:
        if r.get('backbone_sha256') and r.get('backbone') != DEMO_BACKBONE:
            dates.setdefault(r['backbone_sha256'], []).append(r.get('date', ''))
    ordered = sorted(dates, key=lambda sha: (min(dates[sha]), sha))
    if len(ordered) < 2:
        return {}, []
    marks = {sha: chr(ord('b') + i) for i, sha in enumerate(ordered[1:])}
    legend = [f'({marks[sha]}): a seed trained from the backbone as re-made on {min(dates[sha])} '
              f'(sha256 {sha[:12]}); unmarked: sha256 {ordered[0][:12]}' for sha in ordered[1:]]
    return marks, legend


DOCS = osp.join('docs', 'benchmarks.md')
DOCS_PLOT = osp.join('docs', 'images', 'quality_budget.png')
BEGIN = ('<!-- quality table: made by `python benchmarks/quality.py --summarise-only '
         '--write-docs` from the records; do not edit -->')
END = '<!-- end of the quality table -->'


def docs_block(records) -> str:
    """What ``--write-docs`` puts between the markers of docs/benchmarks.md."""
    text = summarise(records)
    if any(r['row'] in BUDGET_ROWS for r in records):
        text += f'\n\n![mask AP against annotation budget]({osp.relpath(DOCS_PLOT, "docs")})'
    return text


def write_docs(records, docs=None) -> str:
    """Replace the table between ``BEGIN`` and ``END`` in docs/benchmarks.md (and the
    budget plot) by the summary of ``records``; the prose around it stays."""
    docs = docs or osp.join(REPO, DOCS)
    with open(docs, encoding='utf-8') as f:
        text = f.read()
    if text.count(BEGIN) != 1 or text.count(END) != 1:
        raise SystemExit(f'error: {docs} must hold the markers {BEGIN!r} and {END!r} once each')
    head, rest = text.split(BEGIN)
    _, tail = rest.split(END)
    with open(docs, 'w', encoding='utf-8') as f:
        f.write(head + BEGIN + '\n' + docs_block(records) + '\n' + END + tail)
    if any(r['row'] in BUDGET_ROWS for r in records):
        plot(records, osp.join(osp.dirname(osp.dirname(docs)), DOCS_PLOT))
    return docs


BUDGET_SERIES = dict(tags=('tag', 'budget_tags_half'),
                     boxes=('budget_boxes', 'budget_boxes_half', 'box'),
                     mix=('budget_mix', 'budget_mix_half'))
# the oracle's series (the equal budget, and every image labelled), dashed in its small-SAM
# twin's colour
ORACLE_SERIES = dict(tags=('oracle_tag_iou_margin',),
                     boxes=('oracle_budget_boxes', 'oracle_box_iou_margin'),
                     mix=('oracle_budget_mix',))


def budget_rows() -> set:
    """The series' rows that leave images unlabelled (not those with every image
    labelled)."""
    table = rows_table()
    return {n for series in (BUDGET_SERIES, ORACLE_SERIES) for names in series.values()
            for n in names if sum(table[n].counts.values()) < NUM_TRAIN}


BUDGET_ROWS = budget_rows()


def plot(results, path):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    from matplotlib.transforms import offset_copy
    table = rows_table()
    fig, ax = plt.subplots(figsize=(5, 3.5))
    drawn = False
    for i, label in enumerate(BUDGET_SERIES):
        for series, fmt, name in ((BUDGET_SERIES, 'o-', label),
                                  (ORACLE_SERIES, 's--', f'{label}, oracle')):
            pts = []
            for n in series[label]:
                aps = [r['mask_ap'] for r in results if r['row'] == n]
                if aps:
                    std = statistics.stdev(aps) if len(aps) > 1 else 0.0
                    pts.append((budget_of(table[n][1]), statistics.mean(aps), std))
            # an oracle series is drawn once it has a point at an equal budget
            if pts and (series is BUDGET_SERIES or min(pts)[0] <= BUDGET):
                pts.sort()
                # error bars: the sample std over seeds (none for a single seed); each
                # series is nudged sideways on screen (not in its data) so the points at
                # 392-400 do not hide each other
                nudge = offset_copy(ax.transData, fig=fig, units='points',
                                    x=4 * (2 * i + (series is ORACLE_SERIES) - 2.5))
                ax.errorbar([p[0] for p in pts], [p[1] for p in pts],
                            yerr=[p[2] for p in pts], fmt=fmt, capsize=3, label=name,
                            color=f'C{i}', transform=nudge)
                # a line drawn in a nudged frame leaves the axes' limits alone: set them
                ax.update_datalim([(x, y + s * d) for x, y, d in pts for s in (-1, 1)])
                drawn = True
    if not drawn:
        return None
    ax.autoscale_view()
    ax.set_xscale('log')
    # equal-budget rows spend a little less than the budget: label the round figures
    budgets = sorted({round(x, -2) for line in ax.get_lines() for x in line.get_xdata()})
    ax.set_xticks(budgets, [str(int(b)) for b in budgets])
    ax.set_title('solid: small SAM, minimum over its 3 candidates; dashed: oracle, '
                 'minimum over\nthe candidates within 0.1 of the best IoU score; '
                 'bars: sample std over seeds', fontsize=7)
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.set_xlabel('annotation budget (tag 1, point 6, box 12)')
    ax.set_ylabel('mask AP (synthetic shapes val)')
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    return path


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--rows', default='baseline,box,point,tag,budget_boxes,budget_mix',
                   help=f'comma-separated, or "all": {", ".join(rows_table())}')
    p.add_argument('--seeds', default='0')
    p.add_argument('--iters', type=int, default=1500)
    p.add_argument('--jobs', type=int, default=1, help='runs at a time')
    p.add_argument('--backbone', default=osp.join(REPO, BACKBONE),
                   help='pretrained backbone state dict (made if missing), or "scratch"')
    p.add_argument('--out', default=None,
                   help='default: work_dirs/quality (pretrained) or work_dirs/quality_scratch')
    p.add_argument('--summarise-only', action='store_true',
                   help=f'no runs: the table of the committed records in {RECORDS} '
                        f'(weak path {WEAK_PATH})')
    p.add_argument('--write-docs', action='store_true',
                   help=f'with --summarise-only: also rewrite the table in {DOCS} (and '
                        f'{DOCS_PLOT})')
    args = p.parse_args(argv)
    args.rows = list(rows_table()) if args.rows == 'all' else args.rows.split(',')
    unknown = set(args.rows) - set(rows_table())
    if unknown:
        p.error(f'unknown rows {sorted(unknown)}')
    if args.out is None:
        args.out = osp.join(REPO, 'work_dirs',
                            'quality_scratch' if args.backbone == 'scratch' else 'quality')
    args.out = osp.abspath(args.out)
    if args.backbone != 'scratch':
        args.backbone = osp.abspath(args.backbone)
    os.makedirs(args.out, exist_ok=True)
    if args.summarise_only:
        # the docs hold the table of the default schedule; another is summarised apart
        if args.write_docs and args.iters != ITERS:
            p.error(f'--write-docs writes the table of --iters {ITERS} only')
        records = load_records(iters=args.iters)
        if args.write_docs:
            print(f'rewrote the table in {write_docs(records)}')
        return report(records, args)
    prepare(args)
    if any(rows_table()[r].kind != 'ceiling' and rows_table()[r].config not in OWN_BACKBONE
           for r in args.rows):
        ensure_backbone(args)
    global THREADS
    THREADS = str(max(1, (os.cpu_count() or 1) // args.jobs))
    seeds = [int(s) for s in args.seeds.split(',')]
    train_first = [r for r in args.rows if r not in INFERENCE_ONLY]
    with ThreadPoolExecutor(args.jobs) as pool:
        results = list(pool.map(lambda j: run_row(*j, args),
                                [(r, s) for s in seeds for r in train_first]))
        results += [run_row(r, s, args) for s in seeds for r in args.rows
                    if r in INFERENCE_ONLY]
    report(results, args)


def report(results, args):
    with open(osp.join(args.out, 'results.json'), 'w') as f:
        json.dump(results, f, indent=1)
    text = summarise(results, args)
    with open(osp.join(args.out, 'table.md'), 'w') as f:
        f.write(text + '\n')
    print(text)
    png = plot(results, osp.join(args.out, 'budget.png'))
    if png:
        print(f'plot: {png}')


if __name__ == '__main__':
    main()
