"""Label Studio JSON export -> ToolImage records -> the weak-label file, by hand-made files."""
import json

import numpy as np
import pytest
from PIL import Image

from mmwish.datasets.converters.label_studio import (
    brush_mask,
    decode_brush_rle,
    file_name_of,
    read_label_studio,
)
from mmwish.datasets.converters.tool_labels import LabelImportError, main, to_weak


def bits_to_bytes(*fields):
    """Bit fields ('0'/'1' strings) as the byte list of Label Studio's 'rle', zero-padded."""
    bits = ''.join(fields)
    bits += '0' * (-len(bits) % 8)
    return [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]


# Header of a stream of 32 values: 32-bit count, word size 8 (stored as 7), and the field
# sizes 3, 4, 8, 16 (stored as 2, 3, 7, 15), as label-studio-converter's encoder writes.
HEADER_32 = (format(32, '032b'), '00111', '0010', '0011', '0111', '1111')
# A 4x2 image whose object is (row 0, cols 1-2) and (row 1, col 2): its RGBA bytes (255 on
# the object as mask2rle writes them) are the runs 4 x 0, 8 x 255, 12 x 0, 4 x 255, 4 x 0,
# each: 1 (a run), 2 bits choosing the field size, the run length - 1, the 8-bit value.
BRUSH_4X2 = bits_to_bytes(*HEADER_32,
                          '1', '00', '011', '00000000',   # 4 x 0
                          '1', '00', '111', '11111111',   # 8 x 255
                          '1', '01', '1011', '00000000',  # 12 x 0 (4-bit field)
                          '1', '00', '011', '11111111',   # 4 x 255
                          '1', '00', '011', '00000000')   # 4 x 0


def ls_rle(mask):
    """A mask as label-studio-converter's ``mask2rle`` encodes it (runs only), written here
    from the layout: each pixel 4 bytes of 0 or 255, runs of up to 65536 values."""
    values = np.repeat(mask.astype(np.uint8).ravel() * 255, 4)
    fields = [format(len(values), '032b'), '00111', '0010', '0011', '0111', '1111']
    i = 0
    while i < len(values):
        j = i
        while j < len(values) and values[j] == values[i] and j - i < 65536:
            j += 1
        idx = 0 if j - i <= 8 else 1 if j - i <= 16 else 2 if j - i <= 256 else 3
        fields += ['1', format(idx, '02b'), format(j - i - 1, f'0{(3, 4, 8, 16)[idx]}b'),
                   format(int(values[i]), '08b')]
        i = j
    return bits_to_bytes(*fields)


def result(kind, value, rid, w=40, h=30, **extra):
    r = dict(id=rid, type=kind, value=value, origin='manual', to_name='image',
             from_name='label', image_rotation=0, original_width=w, original_height=h)
    r.update(extra)
    return r


def annotation(results, aid=1, cancelled=False, created='2026-11-02T10:00:00.000000Z',
               ground_truth=False):
    return dict(id=aid, completed_by=1, result=results, was_cancelled=cancelled,
                ground_truth=ground_truth, created_at=created, updated_at=created, lead_time=4.5)


def task(tid, url, annotations, **data):
    return dict(id=tid, data=dict(image=url, **data), annotations=annotations, predictions=[],
                meta={}, created_at='2026-11-01T09:00:00.000000Z', inner_id=tid,
                total_annotations=len(annotations), cancelled_annotations=0)


def export_tasks():
    """Seven tasks of a 40x30 image each but task 3 (4x2), as Label Studio exports them."""
    return [
        task(1, '/data/upload/1/8f2a1b3c-points.jpg', [annotation([
            result('keypointlabels', dict(x=25, y=50, width=0.6, keypointlabels=['cat']), 'k1'),
            result('keypointlabels', dict(x=100, y=100, width=0.6, keypointlabels=['dog']),
                   'k2')])]),
        task(2, 's3://bucket/imgs/boxes.jpg?X-Amz-Signature=abc', [annotation([
            result('rectanglelabels', dict(x=0, y=10, width=100, height=50, rotation=0,
                                           rectanglelabels=['cat']), 'r1'),
            result('choices', dict(choices=['cat']), 'c1')])]),
        task(3, '/data/local-files/?d=photos%2Fbrush%201.png', [annotation([
            result('brushlabels', dict(format='rle', rle=BRUSH_4X2, brushlabels=['dog']), 'b1',
                   w=4, h=2)])]),
        task(4, 'http://example.com/images/poly.jpg', [annotation([
            result('polygonlabels', dict(points=[[0, 0], [50, 0], [50, 50], [0, 50]],
                                         closed=True, polygonlabels=['dog']), 'p1'),
            # a per-region choice (the region's id) is an attribute, not a tag
            result('choices', dict(choices=['fluffy']), 'p1'),
            result('textarea', dict(text=['a note']), 'n1')])]),
        task(5, '/data/upload/1/0a1b2c3d-tagged.jpg', [annotation([
            dict(id='c2', type='choices', value=dict(choices=['cat', 'dog']), origin='manual',
                 to_name='image', from_name='classes')])]),
        task(6, '/data/upload/1/11aa22bb-empty.jpg', [annotation([])]),
        task(7, '/data/upload/1/33cc44dd-unlabelled.jpg', []),
    ]


def write(tmp_path, tasks, name='export.json'):
    path = tmp_path / name
    path.write_text(json.dumps(tasks))
    return str(path)


def test_brush_rle_decodes_to_the_hand_made_mask():
    assert BRUSH_4X2[:4] == [0, 0, 0, 32]  # the count, most significant byte first
    mask = brush_mask(BRUSH_4X2, 4, 2)
    assert mask.tolist() == [[False, True, True, False], [False, False, True, False]]
    # literal words (as Label Studio's editor writes coloured pixels): one pixel of
    # RGBA (255, 0, 0, 128) then a transparent one
    literal = bits_to_bytes(format(8, '032b'), '00111', '0010', '0011', '0111', '1111',
                            '0', '00', '011', '11111111', '00000000', '00000000', '10000000',
                            '1', '00', '011', '00000000')
    assert decode_brush_rle(literal).tolist() == [255, 0, 0, 128, 0, 0, 0, 0]
    assert brush_mask(literal, 2, 1).tolist() == [[True, False]]


def test_brush_rle_long_runs_use_the_8_and_16_bit_fields():
    mask = np.zeros((20, 30), bool)
    mask[5:15, 3:25] = True
    mask[18, 29] = True
    # 5 rows of 30 background pixels = 600 values: a 16-bit run
    assert np.array_equal(brush_mask(ls_rle(mask), 30, 20), mask)
    assert brush_mask(ls_rle(mask), 30, 20).sum() == 10 * 22 + 1


def test_brush_rle_refusals():
    with pytest.raises(ValueError, match='holds 32 values, not 4 x 3 x 2'):
        brush_mask(BRUSH_4X2, 3, 2)
    with pytest.raises(ValueError, match='the bit stream ends early'):
        decode_brush_rle(BRUSH_4X2[:8])
    with pytest.raises(ValueError, match='past the 32 values announced'):
        decode_brush_rle(bits_to_bytes(*HEADER_32, '1', '11', format(40, '016b'), '0' * 8))


@pytest.mark.parametrize('url, name, under_root', [
    # uploads: the path below media/upload (the project's folder, the file's prefix)
    ('/data/upload/1/8f2a1b3c-cat.jpg', '1/8f2a1b3c-cat.jpg', ('1', '8f2a1b3c-cat.jpg')),
    # local storage: d, the path below the document root, folders kept
    ('/data/local-files/?d=photos%2Fdog%201.jpg', 'photos/dog 1.jpg', ('photos', 'dog 1.jpg')),
    ('/data/local-files/?d=imgs/a/1.jpg', 'imgs/a/1.jpg', ('imgs/', 'a/1.jpg')),
    ('/data/local-files/?d=C:\\images\\b.png', 'C:/images/b.png', ('C:\\images', 'b.png')),
    # cloud storage: the object key after the bucket or container
    ('s3://bucket/imgs/a.jpg?X-Amz-Signature=abc', 'imgs/a.jpg', ('/imgs/', 'a.jpg')),
    ('gs://bucket/a%20b.png', 'a b.png', ('', 'a b.png')),
    ('azure-blob://container/train/x/c.png', 'train/x/c.png', ('train', 'x/c.png')),
    ('http://example.com:8080/static/x.jpeg#top', 'static/x.jpeg', ('static', 'x.jpeg')),
    ('images/sub/c.jpg', 'images/sub/c.jpg', ('images/sub', 'c.jpg')),
    ('D:\\data\\c.jpg', 'D:/data/c.jpg', ('D:/data', 'c.jpg')),
])
def test_file_names_from_urls(url, name, under_root):
    assert file_name_of(url) == name
    assert file_name_of(url, under_root[0]) == under_root[1]
    assert file_name_of(url, 'elsewhere') is None


def test_every_result_type_maps_to_its_record(tmp_path):
    with pytest.warns(UserWarning, match=r'1 task\(s\) have no annotation that is not cancelled '
                                         r'and are left out \(ids 7\)'):
        images = read_label_studio(write(tmp_path, export_tasks()))
    points, boxes, brush, poly, tagged, empty = images
    # percent * size / 100; 100 % is the image's far edge
    assert points.points == [('cat', 10.0, 15.0), ('dog', 40.0, 30.0)]
    assert (points.file_name, points.width, points.height) == ('1/8f2a1b3c-points.jpg', 40, 30)
    assert points.where.endswith('export.json: task 1')
    assert boxes.boxes == [('cat', 0.0, 3.0, 40.0, 18.0)] and boxes.tags == ['cat']
    assert boxes.file_name == 'imgs/boxes.jpg'
    assert brush.file_name == 'photos/brush 1.png' and (brush.width, brush.height) == (4, 2)
    assert brush.masks[0][0] == 'dog' and brush.masks[0][1].sum() == 3
    assert poly.masks == [('dog', [[0.0, 0.0, 20.0, 0.0, 20.0, 15.0, 0.0, 15.0]])]
    assert poly.tags == []  # 'fluffy' belongs to the polygon
    # no region, no size: read from the file (--image-dir)
    assert tagged.tags == ['cat', 'dog'] and tagged.width is None and tagged.height is None
    assert not empty.names() and empty.width is None


def test_cli_end_to_end_with_sizes_from_image_dir(tmp_path, capsys):
    images = tmp_path / 'media' / 'upload'  # Label Studio's media/upload/<project>/
    (images / '1').mkdir(parents=True)
    for name in ('0a1b2c3d-tagged.jpg', '11aa22bb-empty.jpg'):
        Image.new('RGB', (40, 30)).save(images / '1' / name)
    out = tmp_path / 'weak.json'
    with pytest.warns(UserWarning, match='left out'):
        main(['label-studio', write(tmp_path, export_tasks()), str(out), '--classes', 'cat,dog',
              '--image-dir', str(images)])
    assert capsys.readouterr().out.strip().endswith(
        '6 images (1 box, 2 mask, 1 point, 2 tag), 5 annotations, 2 classes; 1 image(s) with no '
        'label at all made negatives')
    weak = json.loads(out.read_text())
    assert [(i['id'], i['file_name'], i['width'], i['height'], i['label_type'])
            for i in weak['images']] == [
        (1, '1/8f2a1b3c-points.jpg', 40, 30, 'point'), (2, 'imgs/boxes.jpg', 40, 30, 'box'),
        (3, 'photos/brush 1.png', 4, 2, 'mask'), (4, 'images/poly.jpg', 40, 30, 'mask'),
        (5, '1/0a1b2c3d-tagged.jpg', 40, 30, 'tag'), (6, '1/11aa22bb-empty.jpg', 40, 30, 'tag')]
    assert weak['images'][4]['tags'] == [1, 2] and weak['images'][5]['tags'] == []
    anns = weak['annotations']
    assert [(a['id'], a['image_id'], a['category_id']) for a in anns] == [
        (1, 1, 1), (2, 1, 2), (3, 2, 1), (4, 3, 2), (5, 4, 2)]
    assert anns[0]['point'] == [10.0, 15.0] and anns[1]['point'] == [40.0, 30.0]
    assert anns[2]['bbox'] == [0.0, 3.0, 40.0, 15.0]
    assert (anns[3]['bbox'], anns[3]['area']) == ([1.0, 0.0, 2.0, 2.0], 3)
    assert (anns[4]['bbox'], anns[4]['area']) == ([0.0, 0.0, 20.0, 15.0], 300)


def test_tag_only_images_need_the_image_dir(tmp_path):
    with pytest.warns(UserWarning):
        images = read_label_studio(write(tmp_path, export_tasks()))
    with pytest.raises(LabelImportError, match=r'task 5: image 1/0a1b2c3d-tagged\.jpg: the '
                                               r'export gives no image size; pass the image '
                                               'folder'):
        to_weak(images, ['cat', 'dog'])


def test_which_annotation_is_used(tmp_path):
    def box(label, aid, **kw):
        return annotation([result('rectanglelabels', dict(x=10, y=10, width=10, height=10,
                                                          rectanglelabels=[label]), 'r')],
                          aid=aid, **kw)
    tasks = [
        task(1, 'a.jpg', [box('cat', 1, created='2026-11-02T10:00:00Z'),
                          box('dog', 2, created='2026-11-03T10:00:00Z'),  # newest
                          box('cow', 3, created='2026-11-04T10:00:00Z', cancelled=True)]),
        task(2, 'b.jpg', [box('dog', 4, created='2026-11-03T10:00:00Z'),
                          box('cat', 5, created='2026-11-01T10:00:00Z', ground_truth=True)]),
        task(3, 'c.jpg', [box('cat', 6, cancelled=True)]),
    ]
    with pytest.warns(UserWarning) as record:
        images = read_label_studio(write(tmp_path, tasks))
    assert [(i.file_name, i.boxes[0][0]) for i in images] == [('a.jpg', 'dog'), ('b.jpg', 'cat')]
    messages = ' '.join(str(w.message) for w in record)
    assert 'left out (ids 3)' in messages
    assert '2 task(s) have several annotations; each keeps the one marked ground truth, else ' \
           'the newest (ids 1, 2)' in messages


@pytest.mark.parametrize('res, match', [
    (result('rectanglelabels', dict(x=10, y=10, width=10, height=10, rotation=15,
                                    rectanglelabels=['cat']), 'r9'),
     r"task 1: image 1/a\.jpg: the 'cat' rectangle \(result id 'r9'\) is rotated by 15 "
     'degrees'),
    (result('rectanglelabels', dict(x=10, y=10, width=10, height=10, rotation='15deg',
                                    rectanglelabels=['cat']), 'r8'),
     r"task 1: image 1/a\.jpg: the 'cat' rectangle \(result id 'r8'\) has the rotation '15deg', "
     'not a number of degrees'),
    (result('keypointlabels', dict(x=5, y=5, keypointlabels=['cat']), 'k5', image_rotation=[90]),
     r"task 1: image 1/a\.jpg: result id 'k5' has the rotation \[90\], not a number of degrees"),
    (result('ellipselabels', dict(x=10, y=10, radiusX=3, radiusY=4, rotation=0,
                                  ellipselabels=['cat']), 'e1'),
     r"result id 'e1' has type 'ellipselabels' \(from 'label'\), which cannot be imported"),
    (result('rectanglelabels', dict(x=1, y=1, width=5, height=5,
                                    rectanglelabels=['cat', 'dog']), 'r2'),
     r"a box region \(result id 'r2'\) has the labels \['cat', 'dog'\]; each region needs "
     'exactly one label'),
    (result('polygonlabels', dict(points=[[0, 0], [5, 0], [5, 5]], closed=False,
                                  polygonlabels=['cat']), 'p2'),
     r"the 'cat' polygon \(result id 'p2'\) is not closed"),
    (result('brushlabels', dict(format='rle', rle=BRUSH_4X2, brushlabels=['cat']), 'b2'),
     r"the 'cat' brush RLE \(result id 'b2'\) cannot be read: it holds 32 values, not "
     r'4 x 40 x 30'),
    (result('keypointlabels', dict(x=5, y=5, keypointlabels=['cat']), 'k3', image_rotation=90),
     r'drawn on the image rotated by 90 degrees in the editor'),
    (result('keypointlabels', dict(x=5, y=5, keypointlabels=['cat']), 'k4', original_width=None),
     r"a point region \(result id 'k4'\) has no original_width/original_height"),
])
def test_refused_results_name_task_image_and_remedy(tmp_path, res, match):
    with pytest.raises(LabelImportError, match=match):
        read_label_studio(write(tmp_path, [task(1, '/data/upload/1/a.jpg', [annotation([res])])]))


def test_labels_beside_a_plain_shape_and_ignored_results(tmp_path):
    res = [result('labels', dict(x=10, y=20, width=50, height=40, rotation=0, labels=['cat']),
                  'a'),
           result('rectangle', dict(x=0, y=0, width=10, height=10, labels=['dog']), 'b'),
           dict(type='relation', from_id='a', to_id='b', direction='right'),
           result('rating', dict(rating=4), 'c')]
    (img,) = read_label_studio(write(tmp_path, [task(1, 'a.jpg', [annotation(res)])]))
    assert img.boxes == [('cat', 4.0, 6.0, 24.0, 18.0), ('dog', 0.0, 0.0, 4.0, 3.0)]


def test_refused_files_and_tasks(tmp_path):
    json_min = [dict(image='/data/upload/1/a.jpg', id=1, label=[], annotator=1)]
    with pytest.raises(LabelImportError, match="is not a task with 'data' and 'annotations'; "
                                               "give Label Studio's JSON export"):
        read_label_studio(write(tmp_path, json_min))
    two_urls = [dict(task(1, 'a.jpg', [annotation([])]), data=dict(
        left='/data/upload/1/a.jpg', right='/data/upload/1/b.jpg'))]
    with pytest.raises(LabelImportError, match=r"cannot tell which of the data keys \['left', "
                                               r"'right'\] is the image \(none is 'image'\); "
                                               r'pass --data-key \(data_key=\) the key'):
        read_label_studio(write(tmp_path, two_urls))
    (img,) = read_label_studio(write(tmp_path, two_urls), data_key='right')
    assert img.file_name == '1/b.jpg'
    inline = [task(1, 'data:image/png;base64,iVBORw0KGgo=', [annotation([])])]
    with pytest.raises(LabelImportError, match='not an image URL or path'):
        read_label_studio(write(tmp_path, inline))
    path = tmp_path / 'broken.json'
    path.write_text('[{"id": 1,')
    with pytest.raises(LabelImportError, match='broken.json: cannot be read as JSON'):
        read_label_studio(str(path))


def test_unknown_label_names_are_refused(tmp_path):
    with pytest.warns(UserWarning):
        images = read_label_studio(write(tmp_path, export_tasks()))
    with pytest.raises(LabelImportError, match=r"'dog' in .*export\.json: task 1: image "
                                               r'1/8f2a1b3c-points\.jpg\. Give the class list'):
        to_weak(images, ['cat'], image_dir=str(tmp_path))


def test_subfolders_keep_images_apart_and_path_root_strips_a_prefix(tmp_path, capsys):
    """Local storage with one file name in two folders: two images, named relative to
    --path-root (the folder data_prefix.img names); one outside it is refused."""
    def box_task(tid, url):
        return task(tid, url, [annotation([result('rectanglelabels', dict(
            x=10, y=10, width=10, height=10, rectanglelabels=['cat']), 'r')])])
    tasks = [box_task(1, '/data/local-files/?d=data/imgs/a/1.jpg'),
             box_task(2, '/data/local-files/?d=data/imgs/b/1.jpg')]
    export = write(tmp_path, tasks)
    assert [i.file_name for i in read_label_studio(export)] == ['data/imgs/a/1.jpg',
                                                                'data/imgs/b/1.jpg']
    assert [i.file_name for i in read_label_studio(export, path_root='data/imgs')] == [
        'a/1.jpg', 'b/1.jpg']
    out = tmp_path / 'weak.json'
    main(['label-studio', export, str(out), '--classes', 'cat', '--path-root', 'data/imgs/'])
    assert [i['file_name'] for i in json.loads(out.read_text())['images']] == ['a/1.jpg',
                                                                               'b/1.jpg']
    outside = write(tmp_path, tasks + [box_task(3, 's3://bucket/other/c.jpg')], 'outside.json')
    with pytest.raises(LabelImportError, match=r"outside\.json: task 3: the image other/c\.jpg "
                                               r"lies outside --path-root 'data/imgs'; give the "
                                               'folder that every image path starts with'):
        read_label_studio(outside, path_root='data/imgs')


def test_cli_data_key(tmp_path, capsys):
    tasks = [dict(task(1, 'x', [annotation([result('rectanglelabels', dict(
        x=10, y=10, width=10, height=10, rectanglelabels=['cat']), 'r')])]),
        data=dict(left='/data/upload/1/a.jpg', right='/data/upload/1/b.jpg'))]
    export, out = write(tmp_path, tasks), tmp_path / 'weak.json'
    with pytest.raises(SystemExit, match=r'pass --data-key \(data_key=\)'):
        main(['label-studio', export, str(out), '--classes', 'cat'])
    main(['label-studio', export, str(out), '--classes', 'cat', '--data-key', 'right'])
    assert [i['file_name'] for i in json.loads(out.read_text())['images']] == ['1/b.jpg']
    with pytest.raises(SystemExit):
        main(['cvat', export, str(out), '--data-key', 'right'])
    assert '--data-key is an option of label-studio only' in capsys.readouterr().err


def test_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / 'export.json'
    path.write_text('\ufeff' + json.dumps(export_tasks()), encoding='utf-8')
    with pytest.warns(UserWarning, match='left out'):
        assert len(read_label_studio(str(path))) == 6
