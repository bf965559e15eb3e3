"""YOLO / YOLO-seg label files -> ToolImage records -> the weak-label file, by hand-made
files: 100x50 images, so x = 100 * u and y = 50 * v."""
import json

import pytest
from PIL import Image

from mmwish.datasets.converters.tool_labels import LabelImportError, main, to_weak
from mmwish.datasets.converters.yolo import read_yolo, yolo_class_names


def write_image(path, w=100, h=50, **save):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new('RGB', (w, h), (10, 200, 40)).save(path, **save)


@pytest.fixture
def data(tmp_path):
    """images/{a,b,c}.png, labels/ beside them and classes.txt naming cat and dog."""
    for name in ('a', 'b', 'c'):
        write_image(tmp_path / 'images' / f'{name}.png')
    (tmp_path / 'labels').mkdir()
    (tmp_path / 'classes.txt').write_text('cat\ndog\n')
    return tmp_path


def read(data, **kw):
    kw.setdefault('classes_file', str(data / 'classes.txt'))
    return read_yolo(str(data / 'labels'), image_dir=str(data / 'images'), **kw)


def test_boxes_with_one_on_the_border(data):
    (data / 'labels' / 'a.txt').write_text('0 0.5 0.5 0.2 0.4\n1 0.9 0.5 0.2 1.0\n')
    a, b, c = read(data)
    assert (a.file_name, a.width, a.height, a.where) == ('a.png', 100, 50, 'labels/a.txt')
    assert a.boxes == [('cat', 40.0, 15.0, 60.0, 35.0), ('dog', 80.0, 0.0, 100.0, 50.0)]
    weak = to_weak([a], ['cat', 'dog'])
    assert weak['images'][0]['label_type'] == 'box'
    assert [(x['category_id'], x['bbox']) for x in weak['annotations']] == [
        (1, [40.0, 15.0, 20.0, 20.0]), (2, [80.0, 0.0, 20.0, 50.0])]


def test_polygons(data):
    # a triangle to the far corner and a 20x10 rectangle: YOLO-seg lines
    (data / 'labels' / 'b.txt').write_text('1 0 0 1 0 1 1\n0 0.1 0.2 0.3 0.2 0.3 0.4 0.1 0.4\n')
    b = read(data)[1]
    weak = to_weak([b], ['cat', 'dog'])
    assert weak['images'][0]['label_type'] == 'mask'
    tri, rect = weak['annotations']
    assert tri['category_id'] == 2 and tri['segmentation'] == [[0.0, 0.0, 100.0, 0.0, 100.0, 50.0]]
    assert tri['bbox'] == [0.0, 0.0, 100.0, 50.0] and tri['area'] == 2500
    assert rect['segmentation'] == [[10.0, 10.0, 30.0, 10.0, 30.0, 20.0, 10.0, 20.0]]
    assert rect['bbox'] == [10.0, 10.0, 20.0, 10.0] and rect['area'] == 200


def test_empty_and_missing_label_files_are_empty_images(data):
    (data / 'labels' / 'a.txt').write_text('')
    (data / 'labels' / 'b.txt').write_text('\n  \n0 0.5 0.5 1 1\n')
    images = read(data)
    assert [(i.file_name, len(i.boxes)) for i in images] == [('a.png', 0), ('b.png', 1),
                                                              ('c.png', 0)]
    weak = to_weak(images, ['cat', 'dog'])
    assert [(i['label_type'], i.get('tags')) for i in weak['images']] == [
        ('tag', []), ('box', None), ('tag', [])]
    assert [i['file_name'] for i in to_weak(images, ['cat', 'dog'], skip_empty=True)['images']] \
        == ['b.png']


def test_mixed_boxes_and_polygons_follow_the_shared_rule(data):
    (data / 'labels' / 'a.txt').write_text('0 0.5 0.5 0.2 0.4\n1 0 0 0.5 0 0.5 0.5\n')
    images = read(data)
    with pytest.raises(LabelImportError, match='1 boxes, 1 masks'):
        to_weak(images, ['cat', 'dog'])
    weak = to_weak(images, ['cat', 'dog'], mixed_to_box=True)
    assert [x['bbox'] for x in weak['annotations']] == [[40.0, 15.0, 20.0, 20.0],
                                                        [0.0, 0.0, 50.0, 25.0]]


@pytest.mark.parametrize('line,words', [
    ('5 0.5 0.5 0.1 0.1', 'class 5 is no index of the 2 class names'),
    ('1.5 0.5 0.5 0.1 0.1', 'class 1.5'),
    ('0 50 25 10 10', 'pixel coordinates'),
    ('0 0.5 0.5 0.1', 'neither a box'),
    ('0 0.1 0.1 0.2 0.2 0.3 0.1 0.3', 'neither a box'),
    ('cat 0.5 0.5 0.1 0.1', 'is not numbers')])
def test_bad_lines_are_refused_with_file_line_and_image(data, line, words):
    (data / 'labels' / 'c.txt').write_text('0 0.5 0.5 0.1 0.1\n' + line + '\n')
    with pytest.raises(LabelImportError) as e:
        read(data)
    assert 'labels/c.txt line 2 (image c.png)' in str(e.value) and words in str(e.value)


def test_image_dir_and_classes_are_required(data):
    with pytest.raises(LabelImportError, match='give no image size; pass the images folder'):
        read_yolo(str(data / 'labels'), classes_file=str(data / 'classes.txt'))
    (data / 'labels' / 'classes.txt').write_text('cat\ndog\n')  # as LabelImg saves it
    with pytest.raises(LabelImportError, match=r'--yolo-classes .*labels/classes.txt'):
        read_yolo(str(data / 'labels'), image_dir=str(data / 'images'))
    # ... where it is no label file
    assert len(read(data, classes_file=str(data / 'labels' / 'classes.txt'))) == 3


def test_label_file_without_image_is_refused(data):
    (data / 'labels' / 'zz.txt').write_text('0 0.5 0.5 0.1 0.1\n')
    with pytest.raises(LabelImportError, match='labels/zz.txt has no image zz.<ext>'):
        read(data)


def test_subfolders_and_exif_orientation(tmp_path):
    """images/train/x.jpg has labels/train/x.txt; a JPEG stored 100x50 with EXIF
    orientation 6 is loaded 50x100, and YOLO normalises by that size."""
    exif = Image.Exif()
    exif[0x0112] = 6
    write_image(tmp_path / 'images' / 'train' / 'x.jpg', exif=exif)
    (tmp_path / 'labels' / 'train').mkdir(parents=True)
    (tmp_path / 'labels' / 'train' / 'x.txt').write_text('0 0.5 0.5 1.0 0.5\n')
    (tmp_path / 'names.txt').write_text('cat\n')
    (img,) = read_yolo(str(tmp_path / 'labels'), str(tmp_path / 'images'),
                       str(tmp_path / 'names.txt'))
    assert (img.file_name, img.width, img.height) == ('train/x.jpg', 50, 100)
    assert img.boxes == [('cat', 0.0, 25.0, 50.0, 75.0)]


def test_class_names_from_data_yaml_both_forms(tmp_path):
    (tmp_path / 'list.yaml').write_text('path: ../datasets/x\ntrain: images/train\n'
                                        'names: [cat, dog, bird]\n')
    (tmp_path / 'dict.yaml').write_text('names:\n  0: cat\n  2: bird\n  1: dog\n')
    for name in ('list.yaml', 'dict.yaml'):
        assert yolo_class_names(str(tmp_path / name)) == ['cat', 'dog', 'bird']
    assert yolo_class_names(None) is None
    for text, words in [('names:\n  0: cat\n  2: dog\n', 'indices 0 .. 1'),
                        ('nc: 3\nnames: [cat, dog]\n', 'nc is 3'),
                        ('train: images\n', 'has no names'),
                        ('names: [person]\nkpt_shape: [17, 3]\n', 'pose'),
                        ('names: [cat, cat]\n', "['cat'] more than once")]:
        (tmp_path / 'bad.yaml').write_text(text)
        with pytest.raises(LabelImportError, match='bad.yaml') as e:
            yolo_class_names(str(tmp_path / 'bad.yaml'))
        assert words in str(e.value)
    (tmp_path / 'classes.txt').write_text('cat\n\ndog\n')
    with pytest.raises(LabelImportError, match='line 2 is empty'):
        yolo_class_names(str(tmp_path / 'classes.txt'))


def test_cli_end_to_end(data, capsys):
    (data / 'data.yaml').write_text('names: {0: cat, 1: dog}\n')
    (data / 'labels' / 'a.txt').write_text('1 0.5 0.5 0.2 0.4\n')
    (data / 'labels' / 'b.txt').write_text('0 0 0 1 0 1 1\n')
    out = data / 'weak.json'
    main(['yolo', str(data / 'labels'), str(out), '--image-dir', str(data / 'images'),
          '--yolo-classes', str(data / 'data.yaml')])
    assert '3 images (1 box, 1 mask, 1 tag), 2 annotations, 2 classes' in capsys.readouterr().out
    weak = json.loads(out.read_text())
    assert weak['categories'] == [dict(id=1, name='cat'), dict(id=2, name='dog')]
    assert [(i['file_name'], i['width'], i['height'], i['label_type']) for i in weak['images']] \
        == [('a.png', 100, 50, 'box'), ('b.png', 100, 50, 'mask'), ('c.png', 100, 50, 'tag')]
    assert weak['annotations'][0]['bbox'] == [40.0, 15.0, 20.0, 20.0]
    assert weak['annotations'][1]['category_id'] == 1
    with pytest.raises(SystemExit, match='give no image size; pass the images folder'):
        main(['yolo', str(data / 'labels'), str(out), '--overwrite',
              '--yolo-classes', str(data / 'data.yaml')])


def test_coordinates_within_ultralytics_slack_are_clipped_onto_the_image(tmp_path):
    """A 1000x500 image: a box reaching 0.25 % past the right edge (2.5 px, beyond the
    shared 1-pixel rule) and a polygon vertex 0.5 % past the bottom are clipped here;
    a corner beyond the 1 % slack, or a box left with no area, is refused by line."""
    write_image(tmp_path / 'images' / 'a.png', 1000, 500)
    (tmp_path / 'labels').mkdir()
    (tmp_path / 'classes.txt').write_text('cat\n')
    (tmp_path / 'labels' / 'a.txt').write_text('0 0.9975 0.5 0.01 0.2\n'
                                               '0 0.1 0.2 0.3 0.2 0.3 1.005\n')
    (img,) = read_yolo(str(tmp_path / 'labels'), str(tmp_path / 'images'),
                       str(tmp_path / 'classes.txt'))
    assert img.boxes == [('cat', 992.5, 200.0, 1000.0, 300.0)]
    assert img.masks == [('cat', [[100.0, 100.0, 300.0, 100.0, 300.0, 500.0]])]
    weak = to_weak([img], ['cat'], mixed_to_box=True)
    assert weak['annotations'][0]['bbox'] == [992.5, 200.0, 7.5, 100.0]
    for line, words in [
            ('0 0.995 0.5 0.04 0.2', r"line 2 \(image a\.png\): the 'cat' box spans x 0\.975 \.\. "
                                     r'1\.015, y 0\.4 \.\. 0\.6, more than 1% outside the '
                                     r'image \[0, 1\]'),
            ('0 1.005 0.5 0.005 0.2', r"line 2 \(image a\.png\): the 'cat' box \['1\.005', '0\.5', "
                                      r"'0\.005', '0\.2'\] has no area inside the image")]:
        (tmp_path / 'labels' / 'a.txt').write_text('0 0.5 0.5 0.1 0.1\n' + line + '\n')
        with pytest.raises(LabelImportError, match=rf'^labels/a\.txt {words}; fix'):
            read_yolo(str(tmp_path / 'labels'), str(tmp_path / 'images'),
                      str(tmp_path / 'classes.txt'))


def test_byte_order_marks_are_read(data):
    (data / 'labels' / 'a.txt').write_text('\ufeff0 0.5 0.5 0.2 0.4\n', encoding='utf-8')
    (data / 'data.yaml').write_text('\ufeffnames: [cat, dog]\n', encoding='utf-8')
    (data / 'classes.txt').write_text('\ufeffcat\ndog\n', encoding='utf-8')
    for classes in ('data.yaml', 'classes.txt'):
        assert yolo_class_names(str(data / classes)) == ['cat', 'dog']
        a = read(data, classes_file=str(data / classes))[0]
        assert a.boxes == [('cat', 40.0, 15.0, 60.0, 35.0)]


def test_a_file_that_is_no_image_is_refused_by_name(data):
    (data / 'images' / 'c.jpg').write_text('<!DOCTYPE html><html>Not found</html>')
    (data / 'images' / 'c.png').unlink()
    with pytest.raises(LabelImportError, match=r'^labels/c\.txt: image c\.jpg: .*images/c\.jpg '
                                               r'cannot be read as an image '
                                               r'\(UnidentifiedImageError: .*\); replace it'):
        read(data)
