"""Class grouping of the real-photo benchmarks (photo_split)."""
import json
import os.path as osp

import pytest

from mmwish.datasets.converters.photo_split import (
    group_classes,
    read_class_groups,
    to_supercategories,
)
from tests.conftest import REPO


def _coco(names, labels):
    return dict(images=[dict(id=1)], categories=[dict(id=i + 1, name=n) for i, n in
                                                 enumerate(names)],
                annotations=[dict(id=j + 1, image_id=1, category_id=c)
                             for j, c in enumerate(labels)])


def test_groups_become_the_categories_in_their_order():
    coco = _coco(['Wrench', 'Hammer', 'Ratchet'], [1, 2, 3, 3])
    out = group_classes(coco, {'hammer': ['Hammer'], 'wrench': ['Ratchet', 'Wrench']})
    assert [(c['id'], c['name']) for c in out['categories']] == [(1, 'hammer'), (2, 'wrench')]
    assert [a['category_id'] for a in out['annotations']] == [2, 1, 2, 2]
    assert [a['id'] for a in out['annotations']] == [1, 2, 3, 4]
    assert coco['categories'][0]['name'] == 'Wrench'  # the input is not changed


def test_a_class_in_no_group_or_in_two_is_refused_by_name():
    coco = _coco(['Wrench', 'Hand'], [1, 2])
    with pytest.raises(ValueError, match=r"\['Hand'\] are in no group of g.json"):
        group_classes(coco, {'wrench': ['Wrench']}, 'g.json')
    with pytest.raises(ValueError, match="'Wrench' is in two groups"):
        group_classes(coco, {'a': ['Wrench', 'Hand'], 'b': ['Wrench']})
    with pytest.raises(ValueError, match='need COCO labels'):
        to_supercategories(coco)


def test_coco_supercategories_and_the_tools_groups_file(tmp_path):
    coco = _coco(['person', 'car', 'cup'], [1, 2, 3])
    out = to_supercategories(coco)
    assert len(out['categories']) == 12
    assert [a['category_id'] for a in out['annotations']] == [1, 2, 7]
    groups = read_class_groups(osp.join(REPO, 'tools', 'dataset_converters', 'class_groups',
                                        'tools_segmentation_2.json'))
    members = [c for m in groups.values() for c in m]
    assert len(groups) == 6 and len(members) == len(set(members)) == 17
    bad = tmp_path / 'bad.json'
    bad.write_text(json.dumps(['Wrench']))
    with pytest.raises(ValueError, match='bad.json: a class-groups file is a JSON object'):
        read_class_groups(str(bad))
