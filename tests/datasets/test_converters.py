import json
import shutil

import numpy as np
import pytest
import scipy.io
from PIL import Image
from pycocotools import mask as mask_utils
from pycocotools.coco import COCO

from mmwish.datasets.converters import voc_sbd, weak_budget
from mmwish.datasets.converters.voc_sbd import VOC_CLASSES, convert, majority_class
from mmwish.datasets.converters.weak_budget import (
    DEFAULT_COSTS,
    allocate,
    ann_to_mask,
    center_point,
    convert_to_weak,
    plan,
    random_point,
)
from mmwish.datasets.weak_coco import check_annotation, check_image, check_unique_ids

# ---------------------------------------------------------------- VOC + SBD -> COCO

PALETTE = [v for i in range(256) for v in (i, (i * 7) % 256, (i * 13) % 256)]


def write_png(path, indices):
    img = Image.fromarray(indices.astype(np.uint8))
    img.putpalette(PALETTE)  # makes it a palette (P) image, as VOC's are
    img.save(path)


def write_inst_mat(path, seg, categories):
    """An SBD ``dataset/inst`` file: a 1x1 struct GTinst as MATLAB writes it."""
    n = len(categories)
    boundaries = np.empty((n, 1), dtype=object)
    for k in range(n):
        boundaries[k, 0] = np.zeros(seg.shape, bool)
    scipy.io.savemat(path, {'GTinst': {
        'Segmentation': seg.astype(np.uint8), 'Boundaries': boundaries,
        'Categories': np.array(categories, np.uint8).reshape(n, 1)}})


def rect(shape, rows, cols):
    m = np.zeros(shape, bool)
    m[rows[0]:rows[1], cols[0]:cols[1]] = True
    return m


VOC_SHAPE, SBD_SHAPE = (8, 10), (6, 7)


def voc_a():
    """Image a: void borders, a mixed-class instance, an all-void one and a class tie."""
    obj = np.zeros(VOC_SHAPE, np.uint8)
    cls = np.zeros(VOC_SHAPE, np.uint8)
    obj[1:4, 1:5], cls[1:4, 1:5] = 1, 15  # person
    obj[0, 0:6] = obj[4, 0:6] = cls[0, 0:6] = cls[4, 0:6] = 255  # void border
    obj[5:8, 5:10], cls[5:8, 5:10] = 2, 12  # dog ...
    cls[5, 5:7] = 8  # ... with two cat pixels
    cls[7, 9] = 255  # and one pixel void in the class map
    obj[6, 0], cls[6, 0] = 3, 255  # nothing left once void is removed
    obj[6, 1:3], cls[6, 1], cls[6, 2] = 4, 9, 4  # chair vs boat tie -> boat (4)
    return obj, cls


def make_voc_sbd(root):
    """Tiny VOC2012 + SBD trees. VOC seg: train a, e; val b, d. SBD: train c, e, g; val d, f."""
    voc, sbd = root / 'VOC2012', root / 'SBD'
    for d in ('JPEGImages', 'SegmentationObject', 'SegmentationClass',
              'ImageSets/Segmentation'):
        (voc / d).mkdir(parents=True)
    (sbd / 'dataset' / 'inst').mkdir(parents=True)
    (sbd / 'dataset' / 'cls').mkdir()
    voc_anns = {'a': voc_a()}
    for name, rows, cols, label in (('b', (2, 6), (3, 7), 1), ('d', (0, 2), (0, 2), 20),
                                    ('e', (3, 5), (3, 5), 19)):
        m = rect(VOC_SHAPE, rows, cols).astype(np.uint8)
        voc_anns[name] = (m, m * label)
    for name, (obj, cls) in voc_anns.items():
        write_png(voc / 'SegmentationObject' / f'{name}.png', obj)
        write_png(voc / 'SegmentationClass' / f'{name}.png', cls)
    c = np.zeros(SBD_SHAPE, np.uint8)
    c[0:2, 0:3], c[3:6, 4:7] = 1, 2
    f = rect(SBD_SHAPE, (1, 3), (2, 5)).astype(np.uint8)
    sbd_anns = {'c': (c, [3, 7]), 'f': (f, [11]), 'g': (np.zeros(SBD_SHAPE, np.uint8), []),
                # d and e are in VOC's segmentation set: these must be ignored.
                'd': (np.ones(VOC_SHAPE, np.uint8), [5]), 'e': (np.ones(VOC_SHAPE, np.uint8), [2])}
    for name, (seg, cats) in sbd_anns.items():
        write_inst_mat(str(sbd / 'dataset' / 'inst' / f'{name}.mat'), seg, cats)
    for name in 'abcdefg':
        h, w = VOC_SHAPE if name in voc_anns else SBD_SHAPE
        Image.new('RGB', (w, h)).save(voc / 'JPEGImages' / f'{name}.jpg')
    lists = {voc / 'ImageSets/Segmentation/train.txt': 'a\ne\n',
             voc / 'ImageSets/Segmentation/val.txt': 'b\nd\n',
             sbd / 'dataset/train.txt': 'c\ne\ng\n', sbd / 'dataset/val.txt': 'd\nf\n'}
    for path, text in lists.items():
        path.write_text(text)
    return voc, sbd


@pytest.fixture(scope='module')
def voc_coco(tmp_path_factory):
    root = tmp_path_factory.mktemp('voc')
    voc, sbd = make_voc_sbd(root)
    outputs = convert(str(voc), str(sbd), str(root / 'out'))
    return {split: json.loads(open(p).read()) for split, p in outputs.items()}


def instances_of(coco, name):
    img = next(i for i in coco['images'] if i['file_name'] == f'{name}.jpg')
    anns = [a for a in coco['annotations'] if a['image_id'] == img['id']]
    return img, [(a['category_id'], mask_utils.decode(a['segmentation']).astype(bool), a)
                 for a in anns]


def test_voc_sbd_split_membership(voc_coco):
    names = {s: [i['file_name'] for i in c['images']] for s, c in voc_coco.items()}
    assert names == {'train_aug': ['a.jpg', 'c.jpg', 'e.jpg', 'f.jpg', 'g.jpg'],
                     'val': ['b.jpg', 'd.jpg']}
    for coco in voc_coco.values():
        assert [i['id'] for i in coco['images']] == list(range(1, len(coco['images']) + 1))


def test_voc_instances_exclude_void_and_take_majority_class(voc_coco):
    img, inst = instances_of(voc_coco['train_aug'], 'a')
    assert (img['width'], img['height']) == (10, 8)
    assert [c for c, _, _ in inst] == [15, 12, 4]
    assert np.array_equal(inst[0][1], rect(VOC_SHAPE, (1, 4), (1, 5)))
    dog = rect(VOC_SHAPE, (5, 8), (5, 10))
    dog[7, 9] = False  # void in the class map
    assert np.array_equal(inst[1][1], dog)
    assert np.array_equal(inst[2][1], rect(VOC_SHAPE, (6, 7), (1, 3)))
    assert [a['bbox'] for _, _, a in inst] == [[1, 1, 4, 3], [5, 5, 5, 3], [1, 6, 2, 1]]
    assert [a['area'] for _, _, a in inst] == [12, 14, 2]
    for _, mask, _ in inst:
        assert not (mask & (voc_a()[0] == 255)).any()


def test_sbd_instances_and_voc_precedence(voc_coco):
    train, val = voc_coco['train_aug'], voc_coco['val']
    img, inst = instances_of(train, 'c')
    assert (img['width'], img['height']) == (7, 6)
    assert [c for c, _, _ in inst] == [3, 7]
    assert np.array_equal(inst[0][1], rect(SBD_SHAPE, (0, 2), (0, 3)))
    assert np.array_equal(inst[1][1], rect(SBD_SHAPE, (3, 6), (4, 7)))
    assert [a['bbox'] for _, _, a in inst] == [[0, 0, 3, 2], [4, 3, 3, 3]]
    _, inst = instances_of(train, 'f')  # a single instance: loadmat squeezes it to a scalar
    assert [(c, a['bbox']) for c, _, a in inst] == [(11, [2, 1, 3, 2])]
    assert instances_of(train, 'g')[1] == []
    # e and d are in VOC's segmentation set, so their SBD files are ignored.
    _, inst = instances_of(train, 'e')
    assert [(c, a['bbox']) for c, _, a in inst] == [(19, [3, 3, 2, 2])]
    _, inst = instances_of(val, 'd')
    assert [(c, a['bbox']) for c, _, a in inst] == [(20, [0, 0, 2, 2])]


def test_voc_sbd_json_is_coco(voc_coco, tmp_path):
    for split, coco in voc_coco.items():
        assert [(c['id'], c['name']) for c in coco['categories']] == \
            list(enumerate(VOC_CLASSES, start=1))
        assert VOC_CLASSES[:3] == ('aeroplane', 'bicycle', 'bird') and \
            VOC_CLASSES[-1] == 'tvmonitor' and len(VOC_CLASSES) == 20
        ids = [a['id'] for a in coco['annotations']]
        assert ids == list(range(1, len(ids) + 1))
        for a in coco['annotations']:
            assert isinstance(a['segmentation']['counts'], str) and a['iscrowd'] == 0
        path = tmp_path / f'{split}.json'
        path.write_text(json.dumps(coco))
        assert len(COCO(str(path)).getAnnIds()) == len(ids)


def test_sbd_mat_layout_round_trip(tmp_path):
    seg = np.zeros((4, 5), np.uint8)
    seg[0, :2], seg[3, 4] = 1, 2
    path = str(tmp_path / 'x.mat')
    write_inst_mat(path, seg, [9, 14])
    raw = scipy.io.loadmat(path)['GTinst']  # the real files' layout: a 1x1 struct
    assert raw.shape == (1, 1)
    assert set(raw.dtype.names) == {'Segmentation', 'Boundaries', 'Categories'}
    assert raw[0, 0]['Categories'].shape == (2, 1)
    assert raw[0, 0]['Segmentation'].dtype == np.uint8
    got_seg, got_cats = voc_sbd.load_sbd_inst(path)
    assert np.array_equal(got_seg, seg) and got_cats.tolist() == [9, 14]
    write_inst_mat(path, seg == 1, [6])
    assert voc_sbd.load_sbd_inst(path)[1].tolist() == [6]


def test_majority_class_is_deterministic():
    assert majority_class(np.array([8, 8, 12, 12, 12, 0, 255])) == 12
    assert majority_class(np.array([9, 4])) == 4
    assert majority_class(np.array([0, 255])) is None


@pytest.mark.parametrize('remove, message', [
    ('VOC2012/SegmentationObject', 'missing folder'),
    ('VOC2012/ImageSets/Segmentation/val.txt', 'missing list file'),
    ('SBD/dataset/train.txt', 'missing list file'),
    ('SBD/dataset/inst/c.mat', 'image c is listed'),
    ('VOC2012/SegmentationClass/e.png', 'image e is listed'),
    ('VOC2012/JPEGImages/f.jpg', 'image f is listed'),
])
def test_voc_sbd_missing_files(tmp_path, remove, message):
    voc, sbd = make_voc_sbd(tmp_path)
    target = tmp_path / remove
    shutil.rmtree(target) if target.is_dir() else target.unlink()
    with pytest.raises(FileNotFoundError, match=message) as info:
        convert(str(voc), str(sbd), str(tmp_path / 'out'))
    assert str(target) in str(info.value)
    assert not (tmp_path / 'out').exists()


def test_voc_sbd_cli(tmp_path, capsys):
    voc, sbd = make_voc_sbd(tmp_path)
    out = tmp_path / 'out'
    argv = ['--voc', str(voc), '--sbd', str(sbd / 'dataset'), '--out', str(out)]
    voc_sbd.main(argv)
    printed = capsys.readouterr().out
    assert 'train_aug: 5 images, 7 instances' in printed
    assert 'val: 2 images, 2 instances' in printed
    assert sorted(p.name for p in out.iterdir()) == ['voc_2012_train_aug.json',
                                                     'voc_2012_val.json']
    with pytest.raises(SystemExit, match='already exists'):
        voc_sbd.main(argv)
    voc_sbd.main(argv + ['--overwrite'])
    with pytest.raises(SystemExit, match='--voc folder'):
        voc_sbd.main(['--voc', str(tmp_path / 'nope'), '--sbd', str(sbd), '--out', str(out)])


# ---------------------------------------------------------------- COCO -> weak labels

SIZE = 12
NUM_IMAGES = 30


def l_shape(rows=10):
    """Column 0 of rows 0..rows-1 plus the last row: the centroid lies outside."""
    m = np.zeros((SIZE, SIZE), bool)
    m[:rows, 0] = True
    m[rows - 1, :rows] = True
    return m


def rle_of(mask):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    rle['counts'] = rle['counts'].decode('ascii')
    return rle


def uncompressed_rle(mask):
    flat = mask.astype(np.uint8).flatten(order='F')
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [2]])))  # run starts + end
    counts = np.diff(np.concatenate([[0], changes])).tolist()
    return {'size': list(mask.shape), 'counts': counts}


def ann(ann_id, img_id, cat, mask, segmentation=None, iscrowd=0):
    rle = mask_utils.encode(np.asfortranarray(mask.astype(np.uint8)))
    return dict(id=ann_id, image_id=img_id, category_id=cat,
                segmentation=segmentation if segmentation is not None else rle_of(mask),
                area=float(mask.sum()), bbox=[float(v) for v in mask_utils.toBbox(rle)],
                iscrowd=iscrowd)


BOX2 = rect((SIZE, SIZE), (2, 5), (2, 6))


def make_coco():
    """30 images of 12x12. Image 1: an L (RLE) and a polygon rectangle; image 2: an
    uncompressed RLE and a crowd region; image 3: nothing; the others: one rectangle."""
    images = [dict(id=i, file_name=f'{i:03d}.jpg', width=SIZE, height=SIZE)
              for i in range(1, NUM_IMAGES + 1)]
    anns = [ann(1, 1, 3, l_shape()),
            ann(2, 1, 1, rect((SIZE, SIZE), (1, 5), (6, 11)), [[6, 1, 11, 1, 11, 5, 6, 5]]),
            ann(3, 2, 2, BOX2, uncompressed_rle(BOX2)),
            ann(4, 2, 1, rect((SIZE, SIZE), (6, 9), (6, 10)), iscrowd=1)]
    for i in range(4, NUM_IMAGES + 1):
        anns.append(ann(100 + i, i, i % 3 + 1, rect((SIZE, SIZE), (i % 5, i % 5 + 4),
                                                    (i % 7, i % 7 + 3))))
    cats = [dict(id=1, name='circle'), dict(id=2, name='square'), dict(id=3, name='star')]
    return dict(info=dict(description='tiny'), licenses=[dict(id=1, name='x')],
                images=images, annotations=anns, categories=cats)


@pytest.fixture
def coco_file(tmp_path):
    path = tmp_path / 'in.json'
    path.write_text(json.dumps(make_coco()))
    return path


def assert_weak_format(weak):
    """The rules of docs/weak_labels.md, and the checks the dataset runs when it loads."""
    images = {i['id']: i for i in weak['images']}
    cat_ids = {c['id'] for c in weak['categories']}
    cat2label = {c: i for i, c in enumerate(sorted(cat_ids))}
    check_unique_ids('weak.json', weak['images'], 'images')
    check_unique_ids('weak.json', weak['annotations'], 'annotations')
    for a in weak['annotations']:
        img = images[a['image_id']]
        check_annotation('weak.json', img, a, check_image('weak.json', img, cat2label),
                         cat2label)
    for img in images.values():
        assert img['label_type'] in ('tag', 'point', 'box', 'mask')
        if img['label_type'] == 'tag':
            assert img['tags'] == sorted(set(img['tags'])) and set(img['tags']) <= cat_ids
        else:
            assert 'tags' not in img
    for a in weak['annotations']:
        img = images[a['image_id']]
        kind = img['label_type']
        assert kind != 'tag' and a['category_id'] in cat_ids
        if kind == 'point':
            assert set(a) == {'id', 'image_id', 'category_id', 'point'}
            x, y = a['point']
            assert 0 <= x <= img['width'] and 0 <= y <= img['height']
        elif kind == 'box':
            assert set(a) == {'id', 'image_id', 'category_id', 'bbox'}
            x, y, w, h = a['bbox']
            assert w > 0 and h > 0 and x >= 0 and y >= 0
            assert x + w <= img['width'] + 1 and y + h <= img['height'] + 1
        else:
            assert 'point' not in a and 'segmentation' in a and 'bbox' in a


def test_table3_allocation():
    costs = DEFAULT_COSTS
    assert allocate(10582, {'box': 1.0}, costs)['box'] == 882
    assert allocate(10582, {'tag': 1.0}, costs)['tag'] == 10582
    counts = allocate(10582, {'tag': 0.5, 'box': 0.5}, costs)
    assert counts == {'tag': 5290, 'point': 0, 'box': 441, 'mask': 0}
    assert weak_budget.spent_budget(counts, costs) == 10582
    assert weak_budget.spent_budget(allocate(10582, {'box': 1.0}, costs), costs) == 10584
    # The cheapest type is floor-divided: 5290 / 6 -> 881 points.
    assert allocate(10582, {'point': 0.5, 'box': 0.5}, costs) == \
        {'tag': 0, 'point': 881, 'box': 441, 'mask': 0}


def test_plan_rows(capsys):
    rows = {name: (counts, spent) for name, counts, spent in plan(10582, DEFAULT_COSTS)}
    assert list(rows) == ['tags only', 'points only', 'boxes only', 'tags + boxes (half/half)',
                          'tags + points (half/half)', 'points + boxes (half/half)']
    assert rows['tags only'] == ({'tag': 10582, 'point': 0, 'box': 0, 'mask': 0}, 10582)
    assert rows['boxes only'] == ({'tag': 0, 'point': 0, 'box': 882, 'mask': 0}, 10584)
    assert rows['tags + boxes (half/half)'][0] == {'tag': 5290, 'point': 0, 'box': 441,
                                                   'mask': 0}
    with_mask = [name for name, _, _ in plan(10582, dict(DEFAULT_COSTS, mask=40))]
    assert 'masks only' in with_mask and 'boxes + masks (half/half)' in with_mask
    weak_budget.main(['--plan', '10582'])
    out = capsys.readouterr().out
    assert 'tags + boxes (half/half)' in out and '5290' in out and '882' in out


def plan_table(args, capsys):
    weak_budget.main([str(a) for a in args])
    out = capsys.readouterr().out
    rows = {line[:32].strip(): line[32:].split() for line in out.splitlines()[2:-1]}
    return out, rows


def test_plan_with_file_says_whether_it_fits(coco_file, capsys):
    out, rows = plan_table([coco_file, '--plan', 20], capsys)
    assert f'has {NUM_IMAGES} images' in out
    assert rows['tags only'] == ['20', '0', '0', '20', '20', 'yes']
    assert rows['boxes only'] == ['0', '0', '2', '24', '2', 'yes']
    _, rows = plan_table([coco_file, '--plan', 40], capsys)
    assert rows['tags only'][-1] == 'no' and rows['points only'][-1] == 'yes'


def run_cli(args, capsys):
    weak_budget.main([str(a) for a in args])
    return capsys.readouterr().out


def test_budget_mix_counts_and_spent(coco_file, tmp_path, capsys):
    out_path = tmp_path / 'weak.json'
    printed = run_cli([coco_file, out_path, '--budget', 40, '--mix', 'tag=0.5,box=0.5'],
                      capsys)
    weak = json.loads(out_path.read_text())
    types = [i['label_type'] for i in weak['images']]
    # box: round(20 / 12) = 2 images (24 spent), tag: the remaining 16.
    assert types.count('box') == 2 and types.count('tag') == 16 and len(types) == 18
    assert 'budget spent: 40 of 40' in printed
    assert f'left out: 12 of {NUM_IMAGES} images' in printed
    assert weak['info'] == {'description': 'tiny'} and weak['licenses'] == [{'id': 1,
                                                                             'name': 'x'}]
    assert weak['categories'] == make_coco()['categories']
    assert_weak_format(weak)


def test_exact_counts_with_mask(coco_file, tmp_path, capsys):
    out_path = tmp_path / 'weak.json'
    printed = run_cli([coco_file, out_path, '--counts', 'tag=5,point=4,box=3,mask=2',
                       '--costs', 'mask=40', '--point-mode', 'center'], capsys)
    weak = json.loads(out_path.read_text())
    types = [i['label_type'] for i in weak['images']]
    assert [types.count(t) for t in ('tag', 'point', 'box', 'mask')] == [5, 4, 3, 2]
    assert f'budget spent: {5 + 4 * 6 + 3 * 12 + 2 * 40}' in printed
    assert_weak_format(weak)


def test_same_seed_same_bytes_other_seed_other_assignment(coco_file, tmp_path, capsys):
    args = ['--counts', 'tag=8,point=8,box=8']
    paths = [tmp_path / f'{n}.json' for n in ('a', 'b', 'c')]
    for path, seed in zip(paths, (3, 3, 4)):
        run_cli([coco_file, path, *args, '--seed', seed], capsys)
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assignment = [{i['id']: i['label_type'] for i in json.loads(p.read_text())['images']}
                  for p in paths]
    assert assignment[0] != assignment[2]


def all_of_type(kind, point_mode='random', seed=0):
    counts = {t: 0 for t in weak_budget.LABEL_TYPES}
    counts[kind] = NUM_IMAGES
    weak, report = convert_to_weak(make_coco(), counts, point_mode, seed)
    assert_weak_format(weak)
    return weak, report


def by_image(weak):
    out = {}
    for a in weak['annotations']:
        out.setdefault(a['image_id'], []).append(a)
    return out


def test_tag_images():
    weak, report = all_of_type('tag')
    tags = {i['id']: i['tags'] for i in weak['images']}
    assert tags[1] == [1, 3] and tags[2] == [2] and tags[3] == []  # crowd gives no tag
    assert weak['annotations'] == [] and report['dropped_crowd'] == 1


def test_box_images():
    weak, report = all_of_type('box')
    anns = by_image(weak)
    assert [a['bbox'] for a in anns[1]] == [[0, 0, 10, 10], [6, 1, 5, 4]]
    assert anns[2] == [dict(id=3, image_id=2, category_id=2, bbox=[2, 2, 4, 3])]
    assert 3 not in anns and report['dropped_crowd'] == 1


def test_mask_images_keep_annotations_untouched():
    weak, report = all_of_type('mask')
    assert weak['annotations'] == make_coco()['annotations']  # the crowd one included
    assert all(i['label_type'] == 'mask' for i in weak['images'])


def test_point_modes():
    points = {mode: {a['id']: a['point'] for a in all_of_type('point', mode)[0]['annotations']}
              for mode in weak_budget.POINT_MODES}
    # L: centroid (2.87, 7.13) lies outside; the nearest pixel is row 7, column 0.
    assert points['center'][1] == [0.5, 7.5]
    assert points['center'][2] == [8.5, 3.0]  # polygon rectangle: columns 6..10, rows 1..4
    assert points['center'][3] == [4.0, 3.5]  # uncompressed RLE: columns 2..5, rows 2..4
    assert points['box-center'][1] == [5.0, 5.0] and points['box-center'][2] == [8.5, 3.0]
    assert 4 not in points['random']  # crowd
    masks = {a['id']: ann_to_mask(a['segmentation'], SIZE, SIZE)
             for a in make_coco()['annotations']}
    for ann_id, (x, y) in points['random'].items():
        assert x % 1 == 0.5 and y % 1 == 0.5 and masks[ann_id][int(y), int(x)]


def test_center_point_by_hand():
    assert center_point(l_shape(5)) == (0.5, 3.5)  # tie with (1.5, 4.5): smaller row wins
    m = np.zeros((SIZE, SIZE), bool)
    m[0:6, 0], m[5, 1:3] = True, True
    assert center_point(m) == (0.875, 3.625)  # the centroid itself lies in the mask


def test_random_point_is_a_mask_pixel_centre():
    mask = l_shape()
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(200):
        x, y = random_point(mask, rng)
        assert mask[int(y), int(x)] and x % 1 == 0.5 and y % 1 == 0.5
        seen.add((x, y))
    assert len(seen) > 10


def test_polygon_and_rle_decoding():
    expected = rect((SIZE, SIZE), (1, 5), (6, 11))
    assert np.array_equal(ann_to_mask([[6, 1, 11, 1, 11, 5, 6, 5]], SIZE, SIZE), expected)
    assert np.array_equal(ann_to_mask(uncompressed_rle(BOX2), SIZE, SIZE), BOX2)
    assert np.array_equal(ann_to_mask(rle_of(BOX2), SIZE, SIZE), BOX2)


def test_refuses_weak_input():
    coco = make_coco()
    coco['images'][0]['label_type'] = 'box'
    with pytest.raises(ValueError, match="already a 'box' image"):
        convert_to_weak(coco, {'tag': 1})


@pytest.mark.parametrize('args, message', [
    (['--budget', '40', '--mix', 'tag=0.5,bx=0.5'], "unknown label type 'bx'"),
    (['--counts', 'tags=3'], "unknown label type 'tags'"),
    (['--budget', '40', '--mix', 'tag=0.5,box=0.4'], 'sum to 0.9; they must sum to 1'),
    (['--budget', '40', '--mix', 'tag=1.5,box=-0.5'], 'negative'),
    (['--counts', 'tag=-1'], 'negative'),
    (['--budget', '-5', '--mix', 'tag=1'], 'negative'),
    (['--counts', 'tag=1', '--costs', 'box=-2'], 'negative'),
    (['--counts', 'tag=1', '--seed', '-1'], 'negative'),
    (['--counts', 'tag=2.5'], 'not a whole number'),
    (['--counts', 'mask=1'], 'mask has cost 0'),
    (['--budget', '40', '--mix', 'mask=1'], 'mask has cost 0'),
    (['--counts', 'box=1', '--costs', 'box=0'], 'box has cost 0'),
    (['--counts', 'tag=20,box=20'], 'needs 40 images but the file has only 30'),
    (['--budget', '400', '--mix', 'tag=1'], 'needs 400 images but the file has only 30'),
    (['--mix', 'tag=1'], '--mix needs --budget'),
    (['--counts', 'tag=1', '--budget', '5'], '--budget goes with --mix'),
    (['--counts', 'tag=1', '--mix', 'tag=1'], 'either'),
    ([], 'either'),
])
def test_cli_errors(coco_file, tmp_path, capsys, args, message):
    out_path = tmp_path / 'weak.json'
    with pytest.raises(SystemExit) as info:
        weak_budget.main([str(coco_file), str(out_path), *args])
    printed = str(info.value.code) + capsys.readouterr().err
    assert message in printed
    assert not out_path.exists()


def test_cli_file_errors(coco_file, tmp_path, capsys):
    out_path = tmp_path / 'weak.json'
    with pytest.raises(SystemExit, match='OUT_JSON is IN_JSON'):
        weak_budget.main([str(coco_file), str(coco_file), '--counts', 'tag=1', '--overwrite'])
    out_path.write_text('{}')
    with pytest.raises(SystemExit, match='already exists'):
        weak_budget.main([str(coco_file), str(out_path), '--counts', 'tag=1'])
    weak_budget.main([str(coco_file), str(out_path), '--counts', 'tag=1', '--overwrite'])
    assert len(json.loads(out_path.read_text())['images']) == 1
    with pytest.raises(SystemExit, match='does not exist'):
        weak_budget.main([str(tmp_path / 'nope.json'), str(tmp_path / 'o.json'),
                          '--counts', 'tag=1'])
    with pytest.raises(SystemExit):
        weak_budget.main([str(coco_file), str(out_path), '--plan', '10'])
    assert '--plan prints a table' in capsys.readouterr().err
