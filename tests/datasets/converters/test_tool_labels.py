"""The importers' shared rules (tool_labels.py) on hand-made ToolImage records."""
import json

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
    summary,
    to_weak,
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
    for box in [('cat', 5, 5, 42, 10), ('cat', 5, 5, 5, 10), ('cat', 41, 5, 45, 10)]:
        with pytest.raises(LabelImportError, match=r"the 'cat' box .* is empty or leaves the "
                                                   r'40x30 image by more than 1 pixel'):
            to_weak([image(boxes=[box])], ['cat'])


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
    with pytest.raises(LabelImportError, match=r"the class list names \['cat'\] more than once"):
        category_ids(images, ['cat', 'cat'])
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
