import argparse
import importlib.util
import os.path as osp

import pytest
import torch
from mmdet.registry import MODELS
from mmengine.config import Config
from mmengine.registry import init_default_scope

from tests.conftest import merge_cfg_options

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
spec = importlib.util.spec_from_file_location('quality', osp.join(REPO, 'benchmarks', 'quality.py'))
quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quality)


def test_equal_budget_rows_spend_the_tag_budget():
    rows = quality.rows_table()
    budget = quality.BUDGET
    assert quality.budget_of(rows['tag'][1]) == budget == 400
    # boxes cost 12: as many as the budget buys, never more
    assert budget - 12 < quality.budget_of(rows['budget_boxes'][1]) <= budget
    mix = rows['budget_mix'][1]
    assert mix['tag'] == budget // 2 and mix['box'] == budget // 2 // 12
    assert quality.budget_of(rows['budget_mix_half'][1]) <= budget // 2
    # the oracle's equal-budget rows label the same images as their small-SAM twins
    for name in ('budget_boxes', 'budget_mix'):
        assert rows[f'oracle_{name}'].counts == rows[name].counts
        assert rows[f'oracle_{name}'].config == quality.ORACLE != rows[name].config


def test_a_run_of_another_schedule_has_its_own_folder_and_record():
    assert quality.run_name('hetero', 1, quality.ITERS) == 'hetero_seed1'
    assert quality.run_name('hetero', 1, 500) == 'hetero_seed1_iters500'


def test_the_budget_plot_draws_the_oracle_beside_the_small_sam(tmp_path, monkeypatch):
    import matplotlib
    matplotlib.use('Agg')
    import matplotlib.pyplot as plt
    drawn = {}
    save = plt.Figure.savefig

    def keep(fig, path, **kw):
        for bars in fig.axes[0].containers:
            line = bars.lines[0]
            drawn[bars.get_label()] = (list(line.get_xdata()), list(line.get_ydata()))
        return save(fig, path, **kw)

    records = [dict(row=row, seed=seed, mask_ap=ap) for row, seed, ap in (
        ('tag', 0, 0.1), ('tag', 1, 0.2), ('budget_boxes', 0, 0.11), ('box', 0, 0.3),
        ('oracle_tag_iou_margin', 0, 0.12), ('oracle_box_iou_margin', 0, 0.4),
        ('oracle_budget_mix', 0, 0.2))]
    monkeypatch.setattr(plt.Figure, 'savefig', keep)
    assert quality.plot(records, str(tmp_path / 'budget.png'))
    assert drawn['tags'] == ([400], [pytest.approx(0.15)])
    assert drawn['boxes'] == ([396, 4800], [0.11, 0.3])
    assert drawn['tags, oracle'] == ([400], [0.12]) and drawn['mix, oracle'] == ([392], [0.2])
    # the oracle's boxes have no equal-budget point yet: a lone full-label point is no series
    assert 'boxes, oracle' not in drawn and 'mix' not in drawn


def test_summary_ratios_come_from_the_runs():
    results = [dict(row='baseline', seed=0, mask_ap=0.4), dict(row='baseline', seed=1, mask_ap=0.2),
               dict(row='box', seed=0, mask_ap=0.27)]
    text = quality.summarise(results, None)
    box = [line for line in text.splitlines() if line.startswith('| WISH, boxes')][0]
    assert '| 1 | 0.270 | 0.270 | - | - | 0.900 | - |' in box
    base = [line for line in text.splitlines() if line.startswith('| Mask2Former')][0]
    # mean 0.3, sample std sqrt(((0.1)^2 + (0.1)^2) / 1) = 0.141
    assert '| 2 | 0.300 +- 0.141 | 0.400, 0.200 |' in base


def test_records_accumulate_and_old_weak_paths_stay_apart(tmp_path):
    """Records written by hand: the summary of the current weak path takes its three
    seeds (mean, sample std, AP50/AP75 means, ratio, loss_prompt) and leaves the old
    weak path's record out; the old one is readable on its own."""
    import json

    def record(row, seed, ap, weak_path=quality.WEAK_PATH, iters=quality.ITERS, **kw):
        rec = dict(row=row, seed=seed, mask_ap=ap, mask_ap50=ap + 0.2, mask_ap75=ap - 0.1,
                   weak_path=weak_path, iters=iters, **kw)
        (tmp_path / f'{row}_seed{seed}_{weak_path}.json').write_text(json.dumps(rec))

    for seed, ap in enumerate((0.30, 0.32, 0.34)):
        record('baseline', seed, ap)
    for seed, ap in enumerate((0.27, 0.30, 0.30)):
        record('oracle_box', seed, ap, final_losses=dict(loss_prompt=0.01 * (seed + 1)))
    record('oracle_box', 3, 0.05, weak_path=1)
    # another schedule's run is kept apart as an older weak path's is; ceilings train nothing
    record('oracle_box', 4, 0.05, iters=quality.ITERS // 3)
    record('ceiling_box', 0, 0.6, iters=0)
    records = quality.load_records(str(tmp_path))
    assert sorted(r['row'] for r in records) == ['baseline'] * 3 + ['ceiling_box'] + [
        'oracle_box'] * 3
    assert all(r['weak_path'] == quality.WEAK_PATH for r in records)
    records = [r for r in records if r['row'] != 'ceiling_box']
    text = quality.summarise(records)
    row = [line for line in text.splitlines() if line.startswith('| WISH + oracle teacher, boxes')]
    # mean 0.29; deviations -0.02, 0.01, 0.01: std sqrt(0.0006 / 2) = 0.0173; 0.29 / 0.32
    assert row == ['| WISH + oracle teacher, boxes | box 400 | 4800 | 3 | 0.290 +- 0.017 | '
                   '0.270, 0.300, 0.300 | 0.490 | 0.190 | 0.906 | 0.020 +- 0.010 |']
    assert len(quality.load_records(str(tmp_path), weak_path=1)) == 1
    assert [r['seed'] for r in quality.load_records(str(tmp_path), iters=quality.ITERS // 3)
            if r['row'] == 'oracle_box'] == [4]
    # the summary of another schedule is printed, never written over the docs' table
    with pytest.raises(SystemExit):
        quality.main(['--summarise-only', '--write-docs', '--iters', str(quality.ITERS // 3),
                      '--out', str(tmp_path / 'out')])


def test_pretrained_backbone_options_load_into_the_tiny_config(tmp_path):
    init_default_scope('mmdet')
    cfg = Config.fromfile(osp.join(REPO, quality.WISH))
    torch.manual_seed(0)
    backbone = MODELS.build(cfg.model.backbone)
    path = str(tmp_path / 'r18.pth')
    torch.save(backbone.state_dict(), path)
    assert quality.backbone_options(argparse.Namespace(backbone='scratch')) == []
    options = quality.backbone_options(argparse.Namespace(backbone=path))
    merge_cfg_options(cfg, options)
    assert cfg.model.backbone.init_cfg == dict(type='Pretrained', checkpoint=path)
    assert cfg.optim_wrapper.paramwise_cfg.custom_keys.backbone.lr_mult == 0.1
    torch.manual_seed(1)
    fresh = MODELS.build(cfg.model.backbone)
    fresh.init_weights()
    for k, v in backbone.state_dict().items():
        assert torch.equal(fresh.state_dict()[k], v), k


def test_missing_backbone_other_than_the_default_is_refused(tmp_path):
    missing = str(tmp_path / 'nowhere.pth')
    with pytest.raises(SystemExit, match='nowhere.pth does not exist'):
        quality.ensure_backbone(argparse.Namespace(backbone=missing, out=str(tmp_path)))
    quality.ensure_backbone(argparse.Namespace(backbone='scratch', out=str(tmp_path)))


def test_decoder_ablation_rows_reuse_their_trained_rows_checkpoints():
    rows = quality.rows_table()
    assert quality.INFERENCE_ONLY['oracle_sam_decoder_inference'] == 'oracle_hetero_iou_margin'
    for name, trained in quality.INFERENCE_ONLY.items():
        # the checkpoint's labels, config and training options, plus the decoder switch
        assert rows[name].counts == rows[trained].counts == rows['hetero'].counts
        assert rows[name].config == rows[trained].config
        assert set(rows[trained].options) < set(rows[name].options)
        assert 'model.sam_decoder_inference=box' in rows[name].options
    assert 'model.restore_latent_means=False' in rows['sam_decoder_inference_raw'][2]


def test_prompt_latent_error_table(tiny_ckpt):
    """Noise raises L_prompt monotonically; the point's padding token never varies."""
    from mmwish.teachers import SAMTeacher
    from tests.conftest import TINY
    spec = importlib.util.spec_from_file_location(
        'prompt_latent_error', osp.join(REPO, 'benchmarks', 'prompt_latent_error.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    teacher = SAMTeacher(checkpoint=tiny_ckpt, variant='custom', arch=TINY)
    rows = dict((name, (spread, kl)) for name, spread, kl in
                module.latent_error_table(teacher, n=200))
    assert rows['point'][0][1] < 1e-6 < rows['point'][0][0]
    assert min(rows['box'][0]) > 0
    for _, kl in rows.values():
        values = [kl[s] for s in module.NOISE_STDS]
        assert values == sorted(values) and values[0] > 0


def test_the_docs_table_is_the_committed_records_summary():
    """docs/benchmarks.md's quality table is regenerated byte for byte by
    ``--summarise-only --write-docs`` from benchmarks/results/quality/."""
    with open(osp.join(REPO, quality.DOCS), encoding='utf-8') as f:
        docs = f.read()
    block = docs.split(quality.BEGIN)[1].split(quality.END)[0]
    assert block == '\n' + quality.docs_block(quality.load_records()) + '\n', (
        'run: python benchmarks/quality.py --summarise-only --write-docs')


def test_write_docs_replaces_the_table_and_keeps_the_prose(tmp_path):
    docs = tmp_path / 'docs' / 'benchmarks.md'
    docs.parent.mkdir()
    docs.write_text(f'intro\n{quality.BEGIN}\nold table\n{quality.END}\nwhat it says\n')
    records = [dict(row='baseline', seed=0, mask_ap=0.3), dict(row='box', seed=0, mask_ap=0.27)]
    quality.write_docs(records, str(docs))
    assert docs.read_text() == (f'intro\n{quality.BEGIN}\n{quality.summarise(records)}\n'
                                f'{quality.END}\nwhat it says\n')
    docs.write_text('no markers\n')
    with pytest.raises(SystemExit, match='markers'):
        quality.write_docs(records, str(docs))
    assert docs.read_text() == 'no markers\n'


def test_seeds_from_another_remade_backbone_are_marked():
    """The shared backbone is re-made per machine; a seed trained from a re-make after
    the first is marked, and the legend names both."""
    def rec(row, seed, ap, sha, date='2026-12-01'):
        return dict(row=row, seed=seed, mask_ap=ap, backbone=quality.BACKBONE,
                    backbone_sha256=sha, date=date)

    old, new = 'a' * 64, 'c' * 64
    records = [rec('baseline', 0, 0.3, old), rec('baseline', 1, 0.3, old),
               rec('hetero', 0, 0.2, old), rec('hetero', 2, 0.25, new, '2026-12-04')]
    lines = quality.summarise(records).splitlines()
    hetero = [line for line in lines if line.startswith('| WISH, a third each')][0]
    assert '| 0.200, 0.250 (b) |' in hetero
    assert lines[-1] == ('(b): a seed trained from the backbone as re-made on 2026-12-04 '
                         f'(sha256 {new[:12]}); unmarked: sha256 {old[:12]}')
    # once the re-make has trained more seeds than the first, the marks stay where they were
    more = records + [rec('baseline', s, 0.3, new, '2026-12-05') for s in (2, 3, 4)]
    lines = quality.summarise(more).splitlines()
    assert '| 0.200, 0.250 (b) |' in [line for line in lines
                                      if line.startswith('| WISH, a third each')][0]
    assert lines[-1].endswith(f'(sha256 {new[:12]}); unmarked: sha256 {old[:12]}')
    # one backbone: no marks and no legend
    assert quality.summarise(records[:3]).splitlines()[-1].startswith('| WISH, a third each')
