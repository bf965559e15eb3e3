"""The importers' shared rules (tool_labels.py) on hand-made ToolImage records."""
import json
import re

import numpy as np
import pytest
from PIL import Image

from mmwish.datasets.converters.tool_labels import (
    LabelImportError,
    ToolImage,
    category_ids,
    label_type_of,
    main,
    read_class_list,
    read_export,
    rotation_degrees,
    summary,
    to_weak,
    unlabelled,
    write_weak,
)

SQUARE = [[2.0, 2.0, 6.0, 2.0, 6.0, 6.0, 2.0, 6.0]]  # a 4x4 square: area 16


def image(name='a.jpg', w=40, h=30, **labels):
    return ToolImage(file_name=name, width=w, height=h, where='export', **labels)


@pytest.mark.parametrize('labels, expected', [
    (dict(), None),
    (dict(tags=['cat']), 'tag'),
    (dict(points=[('cat', 1, 1)], tags=['cat']), 'point'),
    (dict(boxes=[('cat', 1, 1, 5, 5)]), 'box'),
    (dict(masks=[('cat', SQUARE)]), 'mask'),
])
def test_label_type_rule(labels, expected):
    assert label_type_of(image(**labels)) == expected


def test_mixed_images_are_refused_unless_masks_become_boxes():
    mixed = image(boxes=[('cat', 1, 1, 5, 5)], masks=[('dog', SQUARE)])
    with pytest.raises(LabelImportError, match=r'export: image a\.jpg holds 1 boxes, 1 masks; a '
                                               r'weak-label image carries one label type.*'
                                               r'--mixed-to-box'):
        label_type_of(mixed)
    assert label_type_of(mixed, mixed_to_box=True) == 'box'
    weak = to_weak([mixed], ['cat', 'dog'], mixed_to_box=True)
    assert weak['images'][0]['label_type'] == 'box'
    # the mask's box is its polygon's extent
    assert [(a['category_id'], a['bbox']) for a in weak['annotations']] == [
        (1, [1.0, 1.0, 4.0, 4.0]), (2, [2.0, 2.0, 4.0, 4.0])]
    assert all(set(a) == {'id', 'image_id', 'category_id', 'bbox'} for a in weak['annotations'])
    points_and_boxes = image(points=[('cat', 1, 1)], boxes=[('cat', 1, 1, 5, 5)])
    with pytest.raises(LabelImportError, match=r'holds 1 points, 1 boxes;.*split it$'):
        label_type_of(points_and_boxes, mixed_to_box=True)


def test_mixed_to_box_keeps_one_box_per_grouped_object():
    """A tool group of one label is one object: its drawn box is its box, and its masks
    add none; masks of a group with no drawn box give one box, their joint extent."""
    img = image(boxes=[('cat', 1, 1, 9, 9), ('dog', 20, 20, 30, 25)],
                masks=[('cat', SQUARE),                                  # cat of group 4
                       ('dog', SQUARE),                                  # dog of group 4
                       ('cat', [[10, 10, 14, 10, 14, 14]]),              # ungrouped
                       ('cat', [[30, 2, 34, 2, 34, 6]]), ('cat', [[20, 1, 24, 1, 24, 3]])],
                groups={('box', 0): 4, ('mask', 0): 4, ('mask', 1): 4, ('mask', 3): 'g',
                        ('mask', 4): 'g'})
    weak = to_weak([img], ['cat', 'dog'], mixed_to_box=True)
    assert [(a['category_id'], a['bbox']) for a in weak['annotations']] == [
        (1, [1.0, 1.0, 8.0, 8.0]), (2, [20.0, 20.0, 10.0, 5.0]), (2, [2.0, 2.0, 4.0, 4.0]),
        (1, [10.0, 10.0, 4.0, 4.0]), (1, [20.0, 1.0, 14.0, 5.0])]
    two = image(boxes=[('cat', 1, 1, 9, 9), ('cat', 2, 2, 5, 5)], groups={('box', 0): 4,
                                                                           ('box', 1): 4})
    with pytest.raises(LabelImportError, match=r"^export: image a\.jpg: two 'cat' boxes share the "
                                               r'group 4, but one object has one box'):
        to_weak([two], ['cat'])


def test_rotations():
    assert rotation_degrees(None, 'x') == rotation_degrees('', 'x') == 0.0
    assert rotation_degrees('0.00', 'x') == rotation_degrees(360, 'x') == 0.0
    assert rotation_degrees(359.9999999, 'x') == rotation_degrees(-1e-9, 'x') == 0.0
    assert rotation_degrees('30.00', 'x') == 30.0 and rotation_degrees(-90, 'x') == 270.0
    for bad in ('abc', [1], float('nan'), 'inf'):
        with pytest.raises(LabelImportError, match=rf'^the box has the rotation '
                                                   rf'{re.escape(repr(bad))}, not a number of '
                                                   'degrees'):
            rotation_degrees(bad, 'the box')


def test_extra_tags_are_refused_or_dropped():
    img = image(boxes=[('cat', 1, 1, 5, 5)], tags=['cat', 'dog'])
    with pytest.raises(LabelImportError, match=r"is a box image tagged \['dog'\] with no 'dog' "
                                               r"box;.*--drop-extra-tags"):
        to_weak([img], ['cat', 'dog'])
    weak = to_weak([img], ['cat', 'dog'], extra_tags='drop')
    assert 'tags' not in weak['images'][0] and len(weak['annotations']) == 1
    with pytest.raises(ValueError, match="extra_tags is 'refuse' or 'drop'"):
        to_weak([img], ['cat', 'dog'], extra_tags='keep')


def test_duplicate_file_names_are_refused():
    a = ToolImage('x/a.jpg', 40, 30, tags=['cat'], where='export: task 1')
    b = ToolImage('x/a.jpg', 40, 30, where='export: task 9')
    with pytest.raises(LabelImportError, match=r'export: task 9: image x/a\.jpg and export: '
                                               r'task 1: image x/a\.jpg name the same file'):
        to_weak([a, b], ['cat'])


def test_points_on_and_beyond_the_border():
    weak = to_weak([image(points=[('cat', 40.0, 30.0), ('cat', 0.0, 0.0), ('cat', 40.7, -0.5)])],
                   ['cat'])
    # on the border kept; overrunning by at most 1 px clipped onto it
    assert [a['point'] for a in weak['annotations']] == [[40.0, 30.0], [0.0, 0.0], [40.0, 0.0]]
    with pytest.raises(LabelImportError, match=r"export: image a\.jpg: the 'cat' point "
                                               r'\(41\.5, 3\) lies outside the 40x30 image'):
        to_weak([image(points=[('cat', 41.5, 3.0)])], ['cat'])


def test_boxes_on_and_beyond_the_border():
    weak = to_weak([image(boxes=[('cat', 0, 0, 40, 30), ('cat', -0.5, 29, 20, 30.8),
                                 ('cat', 10, 12, 4, 2)])], ['cat'])
    # whole image; clipped; corners given in any order
    assert [a['bbox'] for a in weak['annotations']] == [
        [0.0, 0.0, 40.0, 30.0], [0.0, 29.0, 20.0, 1.0], [4.0, 2.0, 6.0, 10.0]]
    # each refusal says which rule the box breaks
    for box, problem in [
            ((5, 5, 42, 10), r'\(5, 5, 42, 10\) leaves the 40x30 image by 2 pixels \(at most 1 '
                             r'is clipped\)'),
            ((41, 5, 45, 10), r'leaves the 40x30 image by 5 pixels \(at most 1 is clipped\)'),
            ((5, 5, 5, 10), r'\(5, 5, 5, 10\) is empty \(its width is 0\)'),
            ((5, 7, 9, 7), r'is empty \(its height is 0\)'),
            ((40, 5, 40.5, 10), r'lies on the border of the 40x30 image, with no area inside it')]:
        with pytest.raises(LabelImportError, match=rf"^export: image a\.jpg: the 'cat' box "
                                                   rf'.*{problem}; fix it in the tool$'):
            to_weak([image(boxes=[('cat', *box)])], ['cat'])


def test_masks_polygons_and_arrays():
    pixels = np.zeros((30, 40), bool)
    pixels[29, 37:40] = True  # on the bottom-right border
    weak = to_weak([image(masks=[('cat', SQUARE), ('cat', pixels)])], ['cat'])
    poly, arr = weak['annotations']
    assert (poly['segmentation'], poly['bbox'], poly['area'], poly['iscrowd']) == (
        SQUARE, [2.0, 2.0, 4.0, 4.0], 16, 0)
    assert (arr['bbox'], arr['area'], arr['segmentation']['size']) == (
        [37.0, 29.0, 3.0, 1.0], 3, [30, 40])
    with pytest.raises(LabelImportError, match=r"the 'cat' mask is 40x20 but the image is 40x30"):
        to_weak([image(masks=[('cat', np.ones((20, 40), bool))])], ['cat'])
    with pytest.raises(LabelImportError, match=r"the 'cat' mask is empty; delete it"):
        to_weak([image(masks=[('cat', np.zeros((30, 40), bool))])], ['cat'])
    with pytest.raises(LabelImportError, match='fewer than 3 points'):
        to_weak([image(masks=[('cat', [[1, 1, 5, 5]])])], ['cat'])
    with pytest.raises(LabelImportError, match=r"the 'cat' point \(45, 2\) lies outside"):
        to_weak([image(masks=[('cat', [[1, 1, 45, 2, 5, 5]])])], ['cat'])


def test_class_mapping_and_unknown_names():
    images = [image('a.jpg', tags=['zebra', 'cat']), image('b.jpg', points=[('ant', 1, 1)])]
    with pytest.raises(LabelImportError, match=r"2 label name\(s\) that are not classes: 'ant' "
                                               r"in export: image b\.jpg; 'zebra' in export: "
                                               r'image a\.jpg\..*--add-unknown'):
        category_ids(images, ['cat', 'dog'])
    assert category_ids(images, ['dog', 'cat'], add_unknown=True) == dict(
        dog=1, cat=2, ant=3, zebra=4)
    assert category_ids(images, add_unknown=True) == dict(ant=1, cat=2, zebra=3)
    with pytest.raises(LabelImportError, match=r"^the class list names \['cat'\] more than once; "
                                               'give each class once$'):
        category_ids(images, ['cat', 'dog', 'cat'])
    weak = to_weak(images, ['dog', 'cat'], add_unknown=True)
    assert weak['categories'] == [dict(id=1, name='dog'), dict(id=2, name='cat'),
                                  dict(id=3, name='ant'), dict(id=4, name='zebra')]
    assert weak['images'][0]['tags'] == [2, 4]


def test_empty_images_are_negative_tag_images_or_skipped():
    images = [image('a.jpg'), image('b.jpg', tags=['cat'])]
    weak = to_weak(images, ['cat'])
    assert [(i['id'], i['label_type'], i['tags']) for i in weak['images']] == [
        (1, 'tag', []), (2, 'tag', [1])]
    weak = to_weak(images, ['cat'], skip_empty=True)
    assert [(i['id'], i['file_name']) for i in weak['images']] == [(1, 'b.jpg')]


def test_images_with_no_label_are_counted():
    images = [image('a.jpg'), image('b.jpg', tags=['cat']), image('c.jpg')]
    weak = to_weak(images, ['cat'])
    assert unlabelled(weak, images) == unlabelled(weak) == (['a.jpg', 'c.jpg'], [])
    assert summary(weak, images) == ('3 images (3 tag), 0 annotations, 1 classes; 2 image(s) '
                                     'with no label at all made negatives')
    weak = to_weak(images, ['cat'], skip_empty=True)
    assert unlabelled(weak, images) == ([], ['a.jpg', 'c.jpg'])
    assert summary(weak, images) == ('1 images (1 tag), 0 annotations, 1 classes; 2 image(s) '
                                     'with no label at all left out (--skip-empty)')


def test_an_image_file_that_is_no_image_is_refused_by_name(tmp_path):
    (tmp_path / 'c.jpg').write_text('<!DOCTYPE html><html><body>Not found</body></html>')
    with pytest.raises(LabelImportError, match=r'^export: image c\.jpg: .*c\.jpg cannot be read '
                                               r'as an image \(UnidentifiedImageError: .*\); '
                                               r'replace it with the image file'):
        to_weak([ToolImage('c.jpg', tags=['cat'], where='export')], ['cat'],
                image_dir=str(tmp_path))


def test_sizes_from_the_image_files(tmp_path):
    (tmp_path / 'sub').mkdir()
    Image.new('RGB', (24, 18)).save(tmp_path / 'sub' / 'a.png')
    img = ToolImage('sub/a.png', tags=['cat'], where='export')
    weak = to_weak([img], ['cat'], image_dir=str(tmp_path))
    assert (weak['images'][0]['width'], weak['images'][0]['height']) == (24, 18)
    with pytest.raises(LabelImportError, match=r'the export gives no image size; pass the image '
                                               r'folder \(--image-dir\)'):
        to_weak([img], ['cat'])
    with pytest.raises(LabelImportError, match=r'sub/a\.png does not exist; --image-dir must be'):
        to_weak([img], ['cat'], image_dir=str(tmp_path / 'elsewhere'))


def test_writing_and_the_overwrite_refusal(tmp_path):
    weak = to_weak([image(tags=['cat'])], ['cat'])
    out = tmp_path / 'new' / 'weak.json'
    write_weak(weak, str(out))
    assert json.loads(out.read_text()) == weak
    with pytest.raises(FileExistsError, match='already exists; choose another output file or '
                                              'pass --overwrite'):
        write_weak(dict(weak, images=[]), str(out))
    assert json.loads(out.read_text()) == weak  # untouched
    write_weak(dict(weak, images=[]), str(out), overwrite=True)
    assert json.loads(out.read_text())['images'] == []
    assert summary(weak) == '1 images (1 tag), 0 annotations, 1 classes'


def test_class_lists_formats_and_cli_errors(tmp_path, capsys):
    classes = tmp_path / 'classes.txt'
    classes.write_text('\ufeffcat\n\ndog \n')  # a BOM and blank lines, as editors leave them
    assert read_class_list(str(classes)) == ['cat', 'dog']
    assert read_class_list(' cat, dog ,') == ['cat', 'dog']
    assert read_class_list(None) is None
    with pytest.raises(LabelImportError, match="unknown format 'voc'"):
        read_export('voc', 'x')
    with pytest.raises(SystemExit, match=r'^error: .*missing\.xml: cannot be read'):
        main(['cvat', str(tmp_path / 'missing.xml'), str(tmp_path / 'out.json')])
    assert not (tmp_path / 'out.json').exists()
