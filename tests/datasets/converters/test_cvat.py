"""CVAT for images 1.1 XML -> ToolImage records -> the weak-label file, by hand-made files."""
import json

import numpy as np
import pytest

from mmwish.datasets.converters.cvat import read_cvat, rle_to_mask
from mmwish.datasets.converters.tool_labels import LabelImportError, main, to_weak

HEAD = """<?xml version="1.0" encoding="utf-8"?>
<annotations>
  <version>1.1</version>
  <meta>
    <task>
      <id>7</id><name>pets</name><size>5</size><mode>annotation</mode><overlap>0</overlap>
      <labels>
        <label><name>cat</name><type>any</type><attributes></attributes></label>
        <label><name>dog</name><type>any</type><attributes></attributes></label>
      </labels>
    </task>
    <dumped>2026-12-01 10:00:00.000000+00:00</dumped>
  </meta>
"""

# Five 40x30 images, as CVAT writes them ("{:.2f}" coordinates, attributes as children).
EXPORT = HEAD + """  <image id="0" name="points.jpg" width="40" height="30">
    <points label="cat" source="manual" occluded="0" points="10.50,5.00;40.00,30.00" z_order="0">
    </points>
    <points label="dog" source="manual" occluded="0" points="0.00,0.00" z_order="0">
    </points>
  </image>
  <image id="1" name="boxes.jpg" width="40" height="30">
    <box label="cat" source="manual" occluded="0" xtl="0.00" ytl="2.00" xbr="40.00"
      ybr="30.00" z_order="0">
      <attribute name="color">black</attribute>
    </box>
    <box label="dog" source="manual" occluded="1" xtl="5.00" ytl="5.00" xbr="40.60"
      ybr="12.00" z_order="1">
    </box>
    <tag label="cat" source="manual">
    </tag>
  </image>
  <image id="2" name="sub/masks.jpg" width="40" height="30">
    <polygon label="dog" source="manual" occluded="0"
      points="0.00,0.00;20.00,0.00;20.00,10.00;0.00,10.00" z_order="0">
    </polygon>
    <mask label="cat" source="manual" occluded="0" rle="1, 2, 1, 4, 2, 1, 1" left="2" top="3"
      width="4" height="3" z_order="0">
    </mask>
  </image>
  <image id="3" name="tagged.jpg" width="40" height="30">
    <tag label="dog" source="manual">
    </tag>
  </image>
  <image id="4" name="empty.jpg" width="40" height="30">
  </image>
</annotations>
"""


def write(tmp_path, text, name='annotations.xml'):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def one_image(tmp_path, body, size='width="40" height="30"'):
    """An export of one image, ``a.jpg``, holding ``body``."""
    return write(tmp_path, HEAD + f'  <image id="3" name="a.jpg" {size}>\n{body}\n  </image>\n'
                 '</annotations>\n')


def test_every_shape_maps_to_its_record(tmp_path):
    points, boxes, masks, tagged, empty = read_cvat(write(tmp_path, EXPORT))
    # each point of a <points> shape is one point
    assert points.points == [('cat', 10.5, 5.0), ('cat', 40.0, 30.0), ('dog', 0.0, 0.0)]
    assert (points.width, points.height, points.file_name) == (40, 30, 'points.jpg')
    assert points.where.endswith('annotations.xml: image id 0')
    assert boxes.boxes == [('cat', 0.0, 2.0, 40.0, 30.0), ('dog', 5.0, 5.0, 40.6, 12.0)]
    assert boxes.tags == ['cat']
    assert masks.file_name == 'sub/masks.jpg'  # CVAT's name, a path under the images folder
    (poly_name, poly), (mask_name, mask) = masks.masks
    assert (poly_name, poly) == ('dog', [[0.0, 0.0, 20.0, 0.0, 20.0, 10.0, 0.0, 10.0]])
    assert mask_name == 'cat' and mask.shape == (30, 40)
    # runs 1 bg, 2 fg, 1 bg, 4 fg, 2 bg, 1 fg, 1 bg over the 4x3 rectangle at (2, 3)
    assert sorted(zip(*np.nonzero(mask))) == [(3, 3), (3, 4), (4, 2), (4, 3), (4, 4), (4, 5),
                                              (5, 4)]
    assert tagged.tags == ['dog'] and not tagged.object_names()
    assert not empty.names()


def test_weak_file_of_the_export(tmp_path):
    weak = to_weak(read_cvat(write(tmp_path, EXPORT)), ['cat', 'dog'])
    assert [i['label_type'] for i in weak['images']] == ['point', 'box', 'mask', 'tag', 'tag']
    assert [i.get('tags') for i in weak['images']] == [None, None, None, [2], []]
    by_image = {}
    for a in weak['annotations']:
        by_image.setdefault(a['image_id'], []).append(a)
    # the point on the far corner stays at (width, height)
    assert [a['point'] for a in by_image[1]] == [[10.5, 5.0], [40.0, 30.0], [0.0, 0.0]]
    # a box overrunning the right edge by 0.6 px is clipped to it
    assert [a['bbox'] for a in by_image[2]] == [[0.0, 2.0, 40.0, 28.0], [5.0, 5.0, 35.0, 7.0]]
    poly, mask = by_image[3]
    assert (poly['category_id'], poly['bbox'], poly['area']) == (2, [0.0, 0.0, 20.0, 10.0], 200)
    assert (mask['category_id'], mask['bbox'], mask['area']) == (1, [2.0, 3.0, 4.0, 3.0], 7)
    assert mask['segmentation']['size'] == [30, 40]


def test_rle_starting_with_the_object_and_cvats_documented_example():
    # a leading 0: the first pixel is the object's
    assert rle_to_mask([0, 2, 2], 2, 2).tolist() == [[True, True], [False, False]]
    # the mask of CVAT's XML format page: 13x15, 3 background then 5 object pixels in row 0
    runs = [3, 5, 7, 7, 5, 9, 3, 11, 2, 11, 2, 12, 1, 12, 1, 26, 1, 12, 1, 12, 2, 11, 3, 9, 5,
            7, 7, 5, 3]
    mask = rle_to_mask(runs, 13, 15)
    assert mask[0].tolist() == [False] * 3 + [True] * 5 + [False] * 5
    assert mask.sum() == 149 and mask[7].all() and mask[8].all()  # the run of 26: two rows
    with pytest.raises(ValueError, match='add up to 11 pixels, not width x height = 4 x 3'):
        rle_to_mask([1, 2, 1, 4, 2, 1], 4, 3)


def test_grouped_polygons_and_masks_of_a_label_are_one_object(tmp_path):
    path = one_image(tmp_path, """
    <polygon label="cat" points="0,0;4,0;4,4;0,4" group_id="2" z_order="0"></polygon>
    <polygon label="cat" points="10,0;14,0;14,4;10,4" group_id="2" z_order="0"></polygon>
    <polygon label="dog" points="20,0;24,0;24,4;20,4" group_id="2" z_order="0"></polygon>
    <polygon label="cat" points="30,0;34,0;34,4;30,4" z_order="0"></polygon>
    <polygon label="dog" points="0,10;4,10;4,14;0,14" group_id="5" z_order="0"></polygon>
    <mask label="dog" rle="0, 2" left="10" top="10" width="2" height="1" group_id="5"></mask>""")
    (img,) = read_cvat(path)
    names = [n for n, _ in img.masks]
    assert names == ['cat', 'dog', 'cat', 'dog']
    assert img.masks[0][1] == [[0, 0, 4, 0, 4, 4, 0, 4], [10, 0, 14, 0, 14, 4, 10, 4]]
    merged = img.masks[3][1]  # a polygon and a mask of one group: one pixel mask
    assert isinstance(merged, np.ndarray) and merged.sum() == 16 + 2
    assert merged[10:14, 0:4].all() and merged[10, 10:12].all()
    weak = to_weak([img], ['cat', 'dog'])
    assert [a['area'] for a in weak['annotations']] == [32, 16, 16, 18]


@pytest.mark.parametrize('body, match', [
    ('<polyline label="road" occluded="0" points="0,0;10,10" z_order="0"></polyline>',
     r"image id 3: image a\.jpg: a <polyline> of label 'road' cannot be imported .* redraw it "
     'as a polygon'),
    ('<ellipse label="cat" occluded="0" cx="5" cy="5" rx="2" ry="3" z_order="0"></ellipse>',
     r"a <ellipse> of label 'cat' cannot be imported .* convert it to a polygon or a mask"),
    ('<cuboid label="car" occluded="0" xtl1="1" ytl1="1" xbl1="1" ybl1="2" xtr1="2" ytr1="1" '
     'xbr1="2" ybr1="2" xtl2="1" ytl2="1" xbl2="1" ybl2="2" xtr2="2" ytr2="1" xbr2="2" ybr2="2" '
     'z_order="0"></cuboid>', r"a <cuboid> of label 'car' cannot be imported"),
    ('<skeleton label="body" z_order="0"><points label="1" occluded="0" outside="0" '
     'points="5,5"></points></skeleton>', r"a <skeleton> of label 'body' cannot be imported"),
    ('<box label="cat" occluded="0" xtl="1" ytl="1" xbr="9" ybr="9" rotation="30.00" '
     'z_order="0"></box>', r"the 'cat' box is rotated by 30 degrees; .* set its rotation to 0"),
    ('<box label="cat" occluded="0" xtl="1" ytl="1" xbr="9" ybr="9" rotation="30deg" '
     'z_order="0"></box>', r"^.*annotations\.xml: image id 3: image a\.jpg: the 'cat' box has "
                           r"the rotation '30deg', not a number of degrees"),
    ('<mask label="cat" rle="2, 2" left="38" top="0" width="4" height="1" z_order="0"></mask>',
     r"the 'cat' mask \(left 38, top 0, 4x1\) does not lie inside the 40x30 image"),
    ('<mask label="cat" rle="1, 2" left="0" top="0" width="2" height="2" z_order="0"></mask>',
     r"the 'cat' mask cannot be read: its runs add up to 3 pixels, not width x height = 2 x 2"),
    ('<points label="cat" occluded="0" points="1,2;3" z_order="0"></points>',
     r'the <points> of label \'cat\' has points \'1,2;3\', not "x1,y1;x2,y2;..."'),
    ('<box label="cat" occluded="0" xtl="1" ytl="1" xbr="9" z_order="0"></box>',
     r"a <box> of label 'cat' lacks a number"),
    ('<tag source="manual"></tag>', r'a <tag> has no label'),
])
def test_refused_shapes_name_image_label_and_remedy(tmp_path, body, match):
    with pytest.raises(LabelImportError, match=match):
        read_cvat(one_image(tmp_path, body))


def test_a_grouped_box_and_polygon_are_one_box_with_mixed_to_box(tmp_path):
    """CVAT groups a box and a polygon of one object: one box, the drawn one; an
    ungrouped polygon and one of another group are objects of their own."""
    path = one_image(tmp_path, """
    <box label="cat" xtl="0" ytl="0" xbr="10" ybr="10" group_id="1" z_order="0"></box>
    <polygon label="cat" points="1,1;8,1;8,8" group_id="1" z_order="0"></polygon>
    <polygon label="cat" points="20,20;24,20;24,24" group_id="2" z_order="0"></polygon>
    <polygon label="cat" points="30,0;34,0;34,4" z_order="0"></polygon>""")
    (img,) = read_cvat(path)
    assert img.groups == {('box', 0): '1', ('mask', 0): '1', ('mask', 1): '2'}
    weak = to_weak([img], ['cat'], mixed_to_box=True)
    assert [a['bbox'] for a in weak['annotations']] == [
        [0.0, 0.0, 10.0, 10.0], [20.0, 20.0, 4.0, 4.0], [30.0, 0.0, 4.0, 4.0]]


def test_a_byte_order_mark_is_read(tmp_path):
    path = tmp_path / 'annotations.xml'
    path.write_bytes(b'\xef\xbb\xbf' + EXPORT.encode())
    assert len(read_cvat(str(path))) == 5


def test_refused_files(tmp_path):
    video = HEAD + ('  <track id="0" label="cat" source="manual"><box frame="0" keyframe="1" '
                    'outside="0" occluded="0" xtl="1" ytl="1" xbr="5" ybr="5" z_order="0">'
                    '</box></track>\n</annotations>\n')
    with pytest.raises(LabelImportError, match='"CVAT for video" export; export the task as '
                                               '"CVAT for images 1.1"'):
        read_cvat(write(tmp_path, video))
    with pytest.raises(LabelImportError, match="format version '1.0'"):
        read_cvat(write(tmp_path, HEAD.replace('1.1', '1.0') + '</annotations>\n'))
    with pytest.raises(LabelImportError, match='not well-formed XML'):
        read_cvat(write(tmp_path, HEAD + '  <image id="0" name="a.jpg">\n</annotations>\n'))
    with pytest.raises(LabelImportError, match='the root element is <dataset>'):
        read_cvat(write(tmp_path, '<dataset><image name="a.jpg"/></dataset>'))


def test_unknown_label_names_are_refused_with_where_they_are_used(tmp_path):
    images = read_cvat(write(tmp_path, EXPORT))
    with pytest.raises(LabelImportError, match=r"1 label name\(s\) that are not classes: 'dog' "
                                               r'in .*annotations\.xml: image id 0: image '
                                               r'points\.jpg\. Give the class list'):
        to_weak(images, ['cat'])
    # --add-unknown appends them after the given classes
    weak = to_weak(images, ['cat'], add_unknown=True)
    assert weak['categories'] == [dict(id=1, name='cat'), dict(id=2, name='dog')]


def test_cli_end_to_end(tmp_path, capsys):
    from mmwish.datasets.weak_coco import WeakCocoDataset
    out = tmp_path / 'out' / 'weak.json'
    main(['cvat', write(tmp_path, EXPORT), str(out), '--classes', 'cat,dog'])
    printed = capsys.readouterr()
    assert printed.out.strip().endswith(
        '5 images (1 box, 1 mask, 1 point, 2 tag), 7 annotations, 2 classes; 1 image(s) with no '
        'label at all made negatives')
    # a CVAT task lists every image, labelled or not: the CLI warns of the negatives
    assert printed.err.strip() == (
        'warning: 1 image(s) had no label at all and are negatives (tag images with no tags: '
        'no object of any class), e.g. empty.jpg; if they were not reviewed (a CVAT task lists '
        'every image, annotated or not), pass --skip-empty to leave them out')
    main(['cvat', write(tmp_path, EXPORT), str(out), '--classes', 'cat,dog', '--skip-empty',
          '--overwrite'])
    printed = capsys.readouterr()
    assert printed.out.strip().endswith('4 images (1 box, 1 mask, 1 point, 1 tag), 7 annotations, '
                                        '2 classes; 1 image(s) with no label at all left out '
                                        '(--skip-empty)') and not printed.err
    main(['cvat', write(tmp_path, EXPORT), str(out), '--classes', 'cat,dog', '--overwrite'])
    weak = json.loads(out.read_text())
    assert [i['id'] for i in weak['images']] == [1, 2, 3, 4, 5]
    assert [a['id'] for a in weak['annotations']] == list(range(1, 8))
    assert [a['image_id'] for a in weak['annotations']] == [1, 1, 1, 2, 2, 3, 3]
    ds = WeakCocoDataset(ann_file=str(out), metainfo=dict(classes=('cat', 'dog')),
                         data_prefix=dict(img=''), pipeline=[], check_files=False,
                         filter_cfg=None)
    assert [ds.get_data_info(i)['label_type'] for i in range(len(ds))] == [
        'point', 'box', 'mask', 'tag', 'tag']
    assert ds.get_data_info(3)['tags'] == [1] and ds.get_data_info(4)['tags'] == []
    # the output is never written over without --overwrite
    with pytest.raises(SystemExit, match='already exists; choose another output file or pass '
                                         '--overwrite'):
        main(['cvat', write(tmp_path, EXPORT), str(out), '--classes', 'cat,dog'])
