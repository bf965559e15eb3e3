"""tools/demo_report.py: AP per class and the committed reference, checked by hand."""
import importlib.util
import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

from ..conftest import REPO

spec = importlib.util.spec_from_file_location('demo_report', f'{REPO}/tools/demo_report.py')
demo_report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(demo_report)


def _rle(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode()
    return rle


def _gt():
    masks, anns = [], []
    for i, (cat, y) in enumerate([(1, 0), (1, 10), (2, 20)]):
        m = np.zeros((32, 32), np.uint8)
        m[y:y + 8, 4:12] = 1
        masks.append(m)
        anns.append(dict(id=i + 1, image_id=1, category_id=cat, segmentation=_rle(m),
                         area=64, bbox=[4, y, 8, 8], iscrowd=0))
    gt = dict(images=[dict(id=1, width=32, height=32, file_name='a.png')], annotations=anns,
              categories=[dict(id=1, name='circle'), dict(id=2, name='star'),
                          dict(id=3, name='cross')])
    return gt, masks


def test_per_class_ap_by_hand():
    gt, masks = _gt()
    # both circles found exactly; the star predicted as a circle (a false positive that
    # scores below both true ones, so the circles' AP stays 1); no star, no cross
    results = [dict(image_id=1, category_id=1, segmentation=_rle(m), score=s)
               for m, s in ((masks[0], 0.9), (masks[1], 0.8), (masks[2], 0.7))]
    ap = demo_report.per_class_ap(gt, results)
    assert ap['circle'] == dict(ap=pytest.approx(1.0), ap50=pytest.approx(1.0), instances=2)
    assert ap['star']['ap'] == 0 and ap['star']['instances'] == 1
    assert np.isnan(ap['cross']['ap']) and ap['cross']['instances'] == 0
    assert demo_report.per_class_ap(gt, [])['circle']['ap'] == 0
    # the false positive ranked first: precision 1/2 at recall 1/2, 2/3 at recall 1, so
    # the interpolated precision is 2/3 at every recall level (101 points)
    results[2]['score'] = 0.95
    assert demo_report.per_class_ap(gt, results)['circle']['ap'] == pytest.approx(2 / 3)


def test_reference_reads_the_rows_records(tmp_path):
    for seed, ap in ((0, 0.30), (1, 0.32), (2, 0.34)):
        (tmp_path / f'demo_masks_seed{seed}.json').write_text(json.dumps(
            dict(row='demo_masks', seed=seed, mask_ap=ap, what='masks', date='2026-12-04',
                 iters=1500, weak_path=2)))
    # a run of the old weak path never mixes into the reference
    (tmp_path / 'demo_masks_seed3.json').write_text(json.dumps(
        dict(row='demo_masks', seed=3, mask_ap=0.9, what='masks', weak_path=1, iters=1500)))
    ref = demo_report.reference('demo_masks', str(tmp_path))
    assert ref['mean'] == pytest.approx(0.32) and ref['std'] == pytest.approx(0.02)
    assert ref['seeds'] == [0, 1, 2]
    assert ref['command'] == 'python benchmarks/quality.py --rows demo_masks --seeds 0,1,2'
    assert demo_report.reference('nothing', str(tmp_path)) is None
    lines = demo_report.report(
        *_report_inputs(), ref=ref, times=['data 3 s', 'training 9 min 02 s'])
    assert '[demo] this run reaches 0.50 of full supervision' in lines
    assert lines[-1] == '[demo] time per stage: data 3 s, training 9 min 02 s'


def _report_inputs():
    gt, masks = _gt()
    results = [dict(image_id=1, category_id=1, segmentation=_rle(masks[0]), score=0.9)]
    metrics = {'coco/segm_mAP': 0.16, 'coco/segm_mAP_50': 0.2, 'coco/segm_mAP_75': 0.1,
               'coco/bbox_mAP': 0.1}
    return gt, results, metrics
