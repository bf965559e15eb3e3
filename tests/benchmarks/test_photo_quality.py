"""The real-photo rows' summary, on records written by hand."""
import copy
import hashlib
import importlib.util
import json
import os.path as osp

import pytest

from tests.conftest import merge_cfg_options

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location(
    'photo_quality', osp.join(REPO, 'benchmarks', 'photo_quality.py'))
photo_quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(photo_quality)


def record(row, seed, ap, iters=500):
    return dict(row=row, seed=seed, mask_ap=ap, mask_ap50=2 * ap, box_ap=ap + 0.01, iters=iters)


def test_table_means_spreads_and_ratios(tmp_path):
    records = [record('masks', 0, 0.20), record('masks', 1, 0.30), record('masks', 2, 0.25),
               record('oracle_box', 0, 0.20), record('oracle_box', 1, 0.20),
               record('small_sam_box', 0, 0.05), record('masks', 0, 0.5, iters=100)]
    for r in records:
        (tmp_path / f"{r['row']}_{r['seed']}_{r['iters']}.json").write_text(json.dumps(r))
    lines = photo_quality.summarise(photo_quality.load_records(str(tmp_path))).splitlines()
    rows = {(line.split(' | ')[0][2:], line.split(' | ')[2]): line for line in lines[2:]}
    # masks: mean 0.25, sample std sqrt((0.05^2 + 0 + 0.05^2) / 2) = 0.05
    assert '| 3 | 0.250 +- 0.050 | 0.200, 0.300, 0.250 | 0.500 | 0.260 |  |' in \
        rows[('masks', '500')]
    # 0.20 / 0.25 = 0.80; spread: 0.80 * sqrt((0 / 0.2)^2 + (0.05 / 0.25)^2) = 0.16
    assert rows[('oracle_box', '500')].endswith('| 2 | 0.200 +- 0.000 | 0.200, 0.200 | 0.400 | '
                                                 '0.210 | 0.80 +- 0.16 |')
    assert rows[('small_sam_box', '500')].endswith('| 0.20 |')  # one seed: no spread
    # a run of another schedule is its own row, never mixed in
    assert rows[('masks', '100')].split(' | ')[4] == '0.500'


def test_each_set_has_its_own_rows_and_records():
    sets = photo_quality.SETS
    # one class: no tag rows on the cats
    assert not any('tag' in r.ann or 'hetero' in r.ann for r in sets['feral_cat'].rows.values())
    assert sets['feral_cat'].records != sets['coco128'].records
    for name in ('oracle_box_iou_margin', 'oracle_point_iou_margin'):
        margin, plain = sets['feral_cat'].rows[name], sets['feral_cat'].rows[name[:-11]]
        assert margin.options == [photo_quality.MARGIN] and margin.ann == plain.ann
    # the set with tags to learn from: every label kind, each with the R50 default
    assert {r.ann for r in sets['tools'].rows.values()} == {
        f'instances_train{k}.json' for k in ('', '_box', '_point', '_tag', '_hetero')}
    assert all(r.options[:1] == [photo_quality.MARGIN] for r in sets['tools'].rows.values()
               if r.teacher)
    mended = sets['tools'].rows['oracle_tag_lse_nms_iou_margin']
    assert mended.ann == sets['tools'].rows['oracle_tag_iou_margin'].ann
    assert mended.options[1:] == ['model.cam_neck.pool=lse', 'model.pseudo_nms_iou=0.5']
    # the wrong teacher's row differs from the oracle's box row in its teacher alone
    wrong, box = sets['tools'].rows['small_sam_box_iou_margin'], sets['tools'].rows[
        'oracle_box_iou_margin']
    assert (wrong.ann, wrong.options, wrong.teacher) == (box.ann, box.options, 'small SAM')
    assert 'small-sam' in wrong.config and box.config == photo_quality.TOOLS_WISH
    assert len({s.records for s in sets.values()}) == len(sets)
    for photo_set in sets.values():
        for row in photo_set.rows.values():
            assert osp.isfile(osp.join(REPO, row.config)), row.config
            assert (row.teacher is None) == (row.config.startswith('configs/mask2former'))


def test_docs_table_is_replaced_between_the_markers(tmp_path, monkeypatch):
    docs = tmp_path / 'docs' / 'benchmarks.md'
    docs.parent.mkdir()
    coco, cats = photo_quality.markers('coco128'), photo_quality.markers('feral_cat')
    docs.write_text(f'before\n{coco[0]}\nold\n{coco[1]}\n{cats[0]}\nold\n{cats[1]}\n')
    monkeypatch.setattr(photo_quality, 'REPO', str(tmp_path))
    photo_quality.write_docs('| new |', 'feral_cat')
    assert docs.read_text() == (f'before\n{coco[0]}\nold\n{coco[1]}\n'
                                f'{cats[0]}\n\n| new |\n\n{cats[1]}\n')
    with pytest.raises(SystemExit, match='no markers for the other photo table'):
        photo_quality.write_docs('| new |', 'other')


def test_a_run_of_another_schedule_has_its_own_folder_and_record():
    # the default schedule keeps the names of the records already committed
    assert photo_quality.run_name('masks', 2, 500, 500) == 'masks_seed2'
    assert photo_quality.run_name('masks', 2, 1000, 500) == 'masks_seed2_iters1000'
    assert photo_quality.run_name('masks', 2, 1500, 500) == 'masks_seed2_iters1500'


def test_a_row_trains_and_tests_with_its_options(tmp_path, monkeypatch):
    """``run`` with the trainer and tester stubbed: the row's options reach both steps, the
    schedule reaches training, and the record is named by its schedule."""
    import argparse
    ann = tmp_path / 'data' / 'tools' / 'annotations'
    ann.mkdir(parents=True)
    for name in ('instances_train_box.json', 'instances_val.json'):
        (ann / name).write_text(json.dumps(dict(images=[{}, {}], annotations=[{}])))
    calls = []

    def sh(cmd, log):
        calls.append(cmd)
        if 'tools/test.py' in cmd:
            out = tmp_path / 'work' / 'tools' / 'oracle_box_iou_margin_seed1_iters20' / 'test'
            (out / 'run').mkdir(parents=True)
            (out / 'run' / 'm.json').write_text(json.dumps(
                {'coco/segm_mAP': 0.1, 'coco/segm_mAP_50': 0.2, 'coco/segm_mAP_75': 0.05,
                 'coco/bbox_mAP': 0.12}))

    monkeypatch.setattr(photo_quality, 'REPO', str(tmp_path))
    monkeypatch.setattr(photo_quality, 'sh', sh)
    monkeypatch.setattr(photo_quality, 'git_commit', lambda: 'abc')
    (tmp_path / 'sam.pth').write_bytes(b'weights')
    monkeypatch.setattr(photo_quality, 'teacher_checkpoint', lambda config: 'sam.pth')
    args = argparse.Namespace(out=str(tmp_path / 'work'), iters=20)
    record = photo_quality.run('tools', 'oracle_box_iou_margin', 1, args)
    train, test = calls
    assert 'tools/train.py' in train and 'tools/test.py' in test
    for cmd in (train, test):
        assert photo_quality.MARGIN in cmd and 'randomness.seed=1' in cmd
    assert 'train_cfg.max_iters=20' in train and 'param_scheduler.milestones=[16]' in train
    assert 'model.pseudo_point_warmup=4' in train
    assert record['mask_ap'] == 0.1 and record['num_train'] == 2 and record['iters'] == 20
    assert record['teacher_checkpoint'] == 'sam.pth'
    assert set(record['minutes']) == {'train', 'test'} and record['minutes']['train'] >= 0
    assert record['teacher_sha256'] == hashlib.sha256(b'weights').hexdigest()
    saved = tmp_path / 'benchmarks' / 'results' / 'photos' / 'tools'
    assert json.loads((saved / 'oracle_box_iou_margin_seed1_iters20.json').read_text()) == record


def test_a_record_names_the_teacher_its_config_builds():
    """Read from the real configs: the small SAM's and the oracle's (whose latents come from
    the same SAM's prompt encoder) name the committed checkpoint; Mask2Former has none."""
    tools = photo_quality.SETS['tools'].rows
    for name in ('small_sam_box_iou_margin', 'oracle_box_iou_margin'):
        assert photo_quality.teacher_checkpoint(
            osp.join(REPO, tools[name].config)) == 'checkpoints/sam_tiny_shapes.pth'
    assert photo_quality.teacher_checkpoint(osp.join(REPO, tools['masks'].config)) is None


# each set's schedule: the iterations its rows are run for (docs/benchmarks.md)
SCHEDULES = dict(coco128=500, feral_cat=500, tools=1000)


@pytest.mark.parametrize('photo_set', sorted(SCHEDULES))
def test_a_config_alone_trains_its_rows_schedule(photo_set):
    """The options ``run`` passes for the set's schedule change nothing in the row's config
    (on the tools, the IoU margin of every WISH row too), so ``tools/train.py CONFIG``
    trains what the table reports; only a row's own options (the labels' file, LSE, ...)
    are left to the command line."""
    from mmengine import Config
    iters, loaded = SCHEDULES[photo_set], {}
    for name, row in photo_quality.SETS[photo_set].rows.items():
        if row.config not in loaded:
            loaded[row.config] = Config.fromfile(osp.join(REPO, row.config))
        cfg = loaded[row.config]
        opts = photo_quality.schedule_options(iters) + photo_quality.warmup_options(row, iters)
        if photo_set == 'tools' and row.teacher is not None:
            opts.append(photo_quality.MARGIN)
        merged = copy.deepcopy(cfg)
        merge_cfg_options(merged, opts)
        assert merged.to_dict() == cfg.to_dict(), name
