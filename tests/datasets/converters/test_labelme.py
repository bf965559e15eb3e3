"""LabelMe JSON files -> ToolImage records -> the weak-label file, by hand-made files."""
import base64
import io
import json

import numpy as np
import pytest
from PIL import Image

from mmwish.datasets.converters.labelme import read_labelme
from mmwish.datasets.converters.tool_labels import LabelImportError, main, to_weak


def write_image(path, w, h):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (w, h), (90, 120, 30)).save(path)


def labelme(path, image_path, shapes=(), flags=None, size=(40, 30)):
    """A LabelMe file as LabelMe 5 writes it (imageData left out: null)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    data = dict(version='5.5.0', flags=flags or {}, shapes=list(shapes), imagePath=image_path,
                imageData=None, imageHeight=size[1] if size else None,
                imageWidth=size[0] if size else None)
    path.write_text(json.dumps(data))


def shape(label, kind, points, group_id=None, **extra):
    return dict(label=label, points=points, group_id=group_id, description='',
                shape_type=kind, flags={}, **extra)


def png_b64(array):
    buf = io.BytesIO()
    Image.fromarray(array.astype(np.uint8)).save(buf, format='PNG')
    return base64.b64encode(buf.getvalue()).decode()


@pytest.fixture
def folder(tmp_path):
    """Three 40x30 images with their LabelMe files beside them."""
    for name in ('a', 'b', 'c'):
        write_image(tmp_path / f'{name}.png', 40, 30)
    return tmp_path


def test_points_on_the_border_and_flags_as_tags(folder):
    labelme(folder / 'a.json', 'a.png', flags={'cat': True, 'dog': False},
            shapes=[shape('cat', 'point', [[40.0, 30.0]]), shape('cat', 'point', [[3.5, 7.25]])])
    (img,) = read_labelme(str(folder / 'a.json'))
    assert (img.file_name, img.width, img.height) == ('a.png', 40, 30)
    assert img.tags == ['cat'] and img.points == [('cat', 40.0, 30.0), ('cat', 3.5, 7.25)]
    weak = to_weak([img], ['cat', 'dog'])
    assert weak['images'] == [dict(id=1, file_name='a.png', width=40, height=30,
                                   label_type='point')]
    assert [a['point'] for a in weak['annotations']] == [[40.0, 30.0], [3.5, 7.25]]
    assert {a['category_id'] for a in weak['annotations']} == {1}


def test_flags_alone_are_a_tag_image_and_an_empty_file_is_empty(folder):
    labelme(folder / 'a.json', 'a.png', flags={'dog': True, 'cat': True, 'bird': False})
    labelme(folder / 'b.json', 'b.png')
    images = read_labelme(str(folder))
    weak = to_weak(images, ['cat', 'dog', 'bird'])
    assert [(i['file_name'], i['label_type'], i['tags']) for i in weak['images']] == [
        ('a.png', 'tag', [1, 2]), ('b.png', 'tag', [])]
    assert weak['annotations'] == []
    weak = to_weak(images, ['cat', 'dog', 'bird'], skip_empty=True)
    assert [i['file_name'] for i in weak['images']] == ['a.png']


def test_rectangle_with_reversed_corners_and_one_over_the_border(folder):
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('dog', 'rectangle', [[30.0, 20.0], [10.0, 5.0]]),
        shape('dog', 'rectangle', [[20.0, 10.0], [40.5, 30.0]])])  # half a pixel over
    weak = to_weak(read_labelme(str(folder / 'a.json')), ['dog'])
    assert weak['images'][0]['label_type'] == 'box'
    assert [a['bbox'] for a in weak['annotations']] == [[10.0, 5.0, 20.0, 15.0],
                                                         [20.0, 10.0, 20.0, 20.0]]


def test_polygons_and_groups(folder):
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('cat', 'polygon', [[0, 0], [4, 0], [4, 4], [0, 4]]),
        # two parts of one dog (same label and group_id), then another dog
        shape('dog', 'polygon', [[10, 10], [14, 10], [14, 12]], group_id=1),
        shape('dog', 'polygon', [[20, 20], [24, 20], [24, 24], [20, 24]], group_id=1),
        shape('dog', 'polygon', [[30, 0], [40, 0], [40, 30], [30, 30]])])
    weak = to_weak(read_labelme(str(folder / 'a.json')), ['cat', 'dog'])
    assert weak['images'][0]['label_type'] == 'mask'
    cat, dog, dog2 = weak['annotations']
    assert cat['segmentation'] == [[0.0, 0.0, 4.0, 0.0, 4.0, 4.0, 0.0, 4.0]]
    assert cat['bbox'] == [0.0, 0.0, 4.0, 4.0] and cat['area'] == 16
    assert dog['category_id'] == 2 and len(dog['segmentation']) == 2
    assert dog['bbox'] == [10.0, 10.0, 14.0, 14.0]
    assert dog2['bbox'] == [30.0, 0.0, 10.0, 30.0] and dog2['area'] == 300


def test_mask_shape(folder):
    patch = np.array([[1, 1, 0], [0, 1, 1]])
    # whole-number corners: the PNG covers columns 2..4 and rows 1..2
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('cat', 'mask', [[2.0, 1.0], [4.0, 2.0]], mask=png_b64(patch))])
    (img,) = read_labelme(str(folder / 'a.json'))
    (name, mask), = img.masks
    expected = np.zeros((30, 40), bool)
    expected[1:3, 2:5] = patch
    assert name == 'cat' and (mask == expected).all()
    ann = to_weak([img], ['cat'])['annotations'][0]
    assert ann['bbox'] == [2.0, 1.0, 3.0, 2.0] and ann['area'] == 4
    assert ann['segmentation']['size'] == [30, 40]


def test_unsupported_shapes_are_refused_by_name(folder):
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('cat', 'point', [[1, 1]]), shape('wheel', 'circle', [[10, 10], [14, 10]])])
    with pytest.raises(LabelImportError) as e:
        read_labelme(str(folder))
    msg = str(e.value)
    assert f'{folder.name}/a.json' in msg and 'a.png' in msg and "circle 'wheel'" in msg
    assert 'redraw' in msg and 'delete' in msg


@pytest.mark.parametrize('bad,words', [
    (shape('cat', 'polygon', [[1, 1], [5, 1]]), 'a polygon needs 3'),
    (shape('cat', 'rectangle', [[1, 1]]), 'not 2 point(s)'),
    (shape('', 'point', [[1, 1]]), 'has no label'),
    (shape('cat', 'mask', [[1, 1], [3, 3]], mask='not base64!'), 'not a base64 PNG')])
def test_malformed_shapes_are_refused(folder, bad, words):
    labelme(folder / 'a.json', 'a.png', shapes=[bad])
    with pytest.raises(LabelImportError, match='a.json') as e:
        read_labelme(str(folder))
    assert words in str(e.value)


def test_grouped_points_are_one_object(folder):
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('cat', 'point', [[1, 1]], group_id=3), shape('cat', 'point', [[5, 1]], group_id=3)])
    with pytest.raises(LabelImportError, match='shares group_id 3 with shape 0'):
        read_labelme(str(folder))


def test_file_names_follow_the_image_folder(tmp_path):
    """JSON files in their own tree: imagePath is relative to each, file names to
    --image-dir (or to the source folder); Windows separators are read too."""
    write_image(tmp_path / 'images' / 'train' / 'x.png', 40, 30)
    write_image(tmp_path / 'images' / 'train' / 'y.png', 12, 9)
    labelme(tmp_path / 'json' / 'x.json', '..\\images\\train\\x.png')
    # no size in the file: it is read from the image
    labelme(tmp_path / 'json' / 'deeper' / 'y.json', '../../images/train/y.png', size=None,
            shapes=[shape('cat', 'point', [[12, 9]])])
    images = read_labelme(str(tmp_path / 'json'), image_dir=str(tmp_path / 'images'))
    assert [(i.file_name, i.width, i.height, i.where) for i in images] == [
        ('train/y.png', 12, 9, 'json/deeper/y.json'), ('train/x.png', 40, 30, 'json/x.json')]
    with pytest.raises(LabelImportError, match='lies outside .*json; pass --image-dir'):
        read_labelme(str(tmp_path / 'json'))


def test_missing_image_and_foreign_json_are_refused(folder):
    labelme(folder / 'a.json', 'gone.png')
    with pytest.raises(LabelImportError, match='gone.png.*does not exist'):
        read_labelme(str(folder))
    (folder / 'a.json').write_text(json.dumps(dict(images=[], annotations=[])))
    with pytest.raises(LabelImportError, match='a.json is not a LabelMe file'):
        read_labelme(str(folder))


def test_cli_end_to_end(folder, tmp_path_factory, capsys):
    labelme(folder / 'a.json', 'a.png', shapes=[shape('dog', 'point', [[40, 0]])])
    labelme(folder / 'b.json', 'b.png', shapes=[shape('cat', 'rectangle', [[5, 6], [1, 2]])])
    labelme(folder / 'c.json', 'c.png', flags={'cat': True, 'dog': True})
    out = tmp_path_factory.mktemp('out') / 'weak.json'
    main(['labelme', str(folder), str(out), '--classes', 'cat,dog'])
    assert 'wrote' in capsys.readouterr().out
    weak = json.loads(out.read_text())
    assert weak['categories'] == [dict(id=1, name='cat'), dict(id=2, name='dog')]
    assert [(i['file_name'], i['label_type']) for i in weak['images']] == [
        ('a.png', 'point'), ('b.png', 'box'), ('c.png', 'tag')]
    assert weak['images'][2]['tags'] == [1, 2]
    assert [(a['image_id'], a['category_id'], a.get('point') or a['bbox'])
            for a in weak['annotations']] == [(1, 2, [40.0, 0.0]), (2, 1, [1.0, 2.0, 4.0, 4.0])]
    with pytest.raises(SystemExit, match='already exists'):
        main(['labelme', str(folder), str(out), '--classes', 'cat,dog'])


@pytest.mark.parametrize('points, origin', [([[2.7, 1.7], [6.3, 3.3]], (3, 2)),
                                            ([[2.5, 1.5], [6.5, 3.5]], (2, 2))])
def test_mask_shape_with_fractional_points(folder, points, origin):
    """LabelMe 7.1's shapes_to_label (its own test cases): the first point rounded, half
    to even, and the PNG's own size."""
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('cat', 'mask', points, mask=png_b64(np.ones((3, 5))))])
    (img,) = read_labelme(str(folder / 'a.json'))
    expected = np.zeros((30, 40), bool)
    expected[origin[1]:origin[1] + 3, origin[0]:origin[0] + 5] = True
    assert (img.masks[0][1] == expected).all()


def test_a_grouped_rectangle_and_polygon_are_one_box_with_mixed_to_box(folder):
    labelme(folder / 'a.json', 'a.png', shapes=[
        shape('cat', 'rectangle', [[0, 0], [10, 10]], group_id=1),
        shape('cat', 'polygon', [[1, 1], [8, 1], [8, 8]], group_id=1),
        shape('cat', 'polygon', [[20, 20], [24, 20], [24, 24]])])
    (img,) = read_labelme(str(folder / 'a.json'))
    assert img.groups == {('box', 0): 1, ('mask', 0): 1}
    weak = to_weak([img], ['cat'], mixed_to_box=True)
    assert [a['bbox'] for a in weak['annotations']] == [[0.0, 0.0, 10.0, 10.0],
                                                        [20.0, 20.0, 4.0, 4.0]]


def test_a_byte_order_mark_is_read(folder):
    labelme(folder / 'a.json', 'a.png', shapes=[shape('cat', 'point', [[1, 2]])])
    (folder / 'a.json').write_text('\ufeff' + (folder / 'a.json').read_text(), encoding='utf-8')
    (img,) = read_labelme(str(folder / 'a.json'))
    assert img.points == [('cat', 1.0, 2.0)]


def test_an_image_that_is_no_image_is_refused_when_its_size_is_read(folder):
    (folder / 'c.png').write_text('<html><body>404</body></html>')
    labelme(folder / 'c.json', 'c.png', size=None)
    with pytest.raises(LabelImportError, match=rf'^{folder.name}/c\.json: .*c\.png cannot be read '
                                               r'as an image \(UnidentifiedImageError'):
        read_labelme(str(folder))
    labelme(folder / 'c.json', 'c.png')  # a size in the file: the image is not read
    assert read_labelme(str(folder / 'c.json'))[0].width == 40
