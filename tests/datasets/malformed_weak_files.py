"""A generator of malformed weak-label files, one named function per kind of damage.

Each kind takes the valid file of :func:`weak_files.base_file` (four 60x40 images: tag
image 1, point image 2 with annotations 10 and 11, box image 3 with 12 and 13, mask
image 4 with 14) and returns the broken file, as a dict (written as JSON) or as raw
text. ``KINDS`` maps each name to ``(make, where, field)``: the parts of the location
(besides the file) and the field that ``WeakLabelError``'s message must name.

    for name, (make, where, field) in KINDS.items():
        broken = make(base_file())
"""
import math

KINDS = {}
P, B, M = "image 2 (p.png)", "image 3 (b.png)", "image 4 (m.png)"


def kind(*where, field):
    def register(fn):
        KINDS[fn.__name__] = (fn, where, field)
        return fn
    return register


# -- the file itself: empty, not JSON, not COCO's layout -----------------------------
@kind(field='not valid JSON')
def empty_file(d):
    return ''


@kind(field='not valid JSON')
def truncated_json(d):
    return '{"images": [{"id": 1, "file_name": "t.png", '


@kind(field='not valid JSON')
def python_literal_not_json(d):
    return "{'images': [], 'annotations': [], 'categories': []}"


@kind(field='top level is a list')
def top_level_list(d):
    return [d]


@kind(field="'categories'")
def missing_categories(d):
    del d['categories']
    return d


@kind(field="'images'")
def images_not_a_list(d):
    d['images'] = {str(i['id']): i for i in d['images']}
    return d


# -- ids --------------------------------------------------------------------------------
@kind("image id 2", field='appears twice')
def duplicate_image_id(d):
    d['images'][2]['id'] = 2
    return d


@kind('annotation id 12', field='appears twice')
def duplicate_annotation_id(d):
    d['annotations'][3]['id'] = 12
    return d


@kind('category id 2', field='appears twice')
def duplicate_category_id(d):
    d['categories'][2]['id'] = 2
    return d


@kind("'images'", field="'id'")
def image_without_id(d):
    del d['images'][1]['id']
    return d


@kind("'images'", field="'id'")
def image_id_of_a_bad_type(d):
    d['images'][1]['id'] = [2]
    return d


@kind("'annotations'", field="'id'")
def annotation_not_an_object(d):
    d['annotations'].append(15)
    return d


# -- categories ---------------------------------------------------------------------------
@kind("categories", field="'name'")
def category_without_name(d):
    del d['categories'][0]['name']
    return d


@kind(P, 'annotation 10', field="'category_id'")
def missing_category_id(d):
    del d['annotations'][0]['category_id']
    return d


@kind(P, 'annotation 11', field="'category_id'")
def category_id_as_string(d):
    d['annotations'][1]['category_id'] = '3'
    return d


@kind("image 1 (t.png)", field="'tags'")
def tag_of_a_bad_type(d):
    d['images'][0]['tags'] = [[3], 1]
    return d


@kind("image 1 (t.png)", field="'tags'")
def tag_as_boolean(d):
    d['images'][0]['tags'] = [True, 3]
    return d


@kind("image 1 (t.png)", field="'tags'")
def tags_not_a_list(d):
    d['images'][0]['tags'] = '1,3'
    return d


# -- images -----------------------------------------------------------------------------
@kind(P, field="'width'/'height'")
def width_as_string(d):
    d['images'][1]['width'] = '60'
    return d


@kind(B, field="'width'/'height'")
def height_nan(d):
    d['images'][2]['height'] = math.nan
    return d


@kind("image 2 (5)", field="'file_name'")
def file_name_not_a_string(d):
    d['images'][1]['file_name'] = 5
    return d


@kind(P, field="'label_type'")
def label_type_of_a_bad_type(d):
    d['images'][1]['label_type'] = ['point']
    return d


# -- coordinates: NaN, inf, outside the image, bad shapes and types ------------------
@kind(P, 'annotation 10', field="'point'")
def point_nan(d):
    d['annotations'][0]['point'] = [math.nan, 3.0]
    return d


@kind(P, 'annotation 11', field="'point'")
def point_inf(d):
    d['annotations'][1]['point'] = [4.0, -math.inf]
    return d


@kind(P, 'annotation 10', field="'point'")
def point_outside_image(d):
    d['annotations'][0]['point'] = [10.0, 40.5]
    return d


@kind(P, 'annotation 10', field="'point'")
def point_nested(d):
    d['annotations'][0]['point'] = [[10.5, 20.5]]
    return d


@kind(P, 'annotation 10', field="'point'")
def point_as_object(d):
    d['annotations'][0]['point'] = dict(x=10.5, y=20.5)
    return d


@kind(B, 'annotation 12', field="'bbox'")
def bbox_of_three_numbers(d):
    d['annotations'][2]['bbox'] = [4.0, 6.0, 20.0]
    return d


@kind(B, 'annotation 12', field="'bbox'")
def bbox_of_strings(d):
    d['annotations'][2]['bbox'] = ['4', '6', '20', '10']
    return d


@kind(B, 'annotation 13', field="'bbox'")
def bbox_negative_width(d):
    d['annotations'][3]['bbox'] = [10.0, 30.0, -5.0, 5.0]
    return d


@kind(B, 'annotation 12', field="'bbox'")
def bbox_outside_image(d):
    d['annotations'][2]['bbox'] = [4.0, 6.0, 20.0, 40.0]
    return d


@kind(M, 'annotation 14', field="'bbox'")
def mask_bbox_inf(d):
    d['annotations'][4]['bbox'] = [10, 10, math.inf, 10]
    return d


@kind(M, 'annotation 14', field="'segmentation'")
def polygon_of_odd_length(d):
    d['annotations'][4]['segmentation'] = [[10, 10, 30, 10, 30]]
    return d


@kind(M, 'annotation 14', field="'segmentation'")
def polygon_of_strings(d):
    d['annotations'][4]['segmentation'] = [['10', '10', '30', '10', '30', '20']]
    return d


@kind(M, 'annotation 14', field="'segmentation'")
def polygon_nan(d):
    d['annotations'][4]['segmentation'] = [[10, 10, 30, math.nan, 30, 20]]
    return d


@kind(M, 'annotation 14', field="'segmentation'")
def segmentation_as_string(d):
    d['annotations'][4]['segmentation'] = 'polygon'
    return d


@kind(M, 'annotation 14', field="'segmentation'")
def rle_of_another_size(d):
    d['annotations'][4]['segmentation']['size'] = [60, 40]
    return d


@kind(M, 'annotation 14', field="'segmentation'")
def rle_without_counts(d):
    del d['annotations'][4]['segmentation']['counts']
    return d


# -- mixed label types in one image --------------------------------------------------
@kind(P, 'annotation 11', field="'bbox'")
def point_and_box_on_a_point_image(d):
    d['annotations'][1]['bbox'] = [40.0, 0.0, 20.0, 10.0]
    return d


@kind(B, 'annotation 13', field="'point'")
def point_among_boxes(d):
    d['annotations'][3] = dict(id=13, image_id=3, category_id=2, point=[5.0, 35.0])
    return d


@kind(M, 'annotation 14', field="'point'")
def point_on_a_mask_image(d):
    d['annotations'][4]['point'] = [20.0, 15.0]
    return d


@kind("image 1 (t.png)", 'annotation 10', field='tag images carry no annotations')
def box_on_a_tag_image(d):
    d['annotations'][0] = dict(id=10, image_id=1, category_id=1, bbox=[1.0, 1.0, 5.0, 5.0])
    return d


@kind('annotation 12', field="'image_id'")
def annotation_of_a_missing_image(d):
    d['annotations'][2]['image_id'] = 7
    return d
