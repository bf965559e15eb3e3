import math

import pytest

from mmwish.datasets import WeakCocoDataset, WeakLabelError, WeakVOCDataset

from .weak_files import base_file, variant, write

CLASSES = ('circle', 'square', 'triangle')


def load(tmp_path, data, **kwargs):
    ann = write(tmp_path, data)
    return WeakCocoDataset(ann_file=ann, data_prefix=dict(img=str(tmp_path) + '/'),
                           metainfo=dict(classes=CLASSES), pipeline=[], **kwargs)


def test_parses_every_label_type(tmp_path):
    ds = load(tmp_path, base_file())
    assert len(ds) == 4
    tag, point, box, mask = (ds.get_data_info(i) for i in range(4))
    assert [d['label_type'] for d in (tag, point, box, mask)] == ['tag', 'point', 'box', 'mask']
    assert tag['instances'] == [] and tag['tags'] == [0, 2]
    assert point['instances'] == [dict(bbox_label=1, ignore_flag=0, ann_id=10, point=[10.5, 20.5]),
                                  dict(bbox_label=2, ignore_flag=0, ann_id=11, point=[50.0, 5.0])]
    assert point['tags'] == [1, 2]
    # xywh -> xyxy, the half-pixel overrun clipped
    assert [i['bbox'] for i in box['instances']] == [[4.0, 6.0, 24.0, 16.0],
                                                     [0.0, 30.0, 9.5, 40.0]]
    assert box['tags'] == [0, 1]
    assert mask['instances'][0]['bbox'] == [10, 10, 30, 20] and 'mask' in mask['instances'][0]
    assert mask['tags'] == [2]
    assert ds.get_cat_ids(0) == [0, 2]


def test_plain_coco_is_mask_images_parsed_as_mmdet(tmp_path):
    from mmdet.datasets import CocoDataset
    data = variant(lambda d: (d['images'].__setitem__(slice(0, 3), []),
                              d['annotations'].__setitem__(slice(0, 4), [])))
    ann = write(tmp_path, data)
    kw = dict(ann_file=ann, data_prefix=dict(img=str(tmp_path) + '/'),
              metainfo=dict(classes=CLASSES), pipeline=[])
    weak, coco = WeakCocoDataset(**kw), CocoDataset(**kw)
    info = weak.get_data_info(0)
    assert info.pop('label_type') == 'mask' and info.pop('tags') == [2]
    assert info == coco.get_data_info(0)


def test_empty_images_are_kept_and_tag_images_count_as_labelled(tmp_path):
    def edit(d):
        d['images'].append(dict(id=5, file_name='e.png', width=60, height=40, label_type='point'))
        d['images'].append(dict(id=6, file_name='e2.png', width=60, height=40, label_type='tag',
                                tags=[]))
    ds = load(tmp_path, variant(edit))
    assert len(ds) == 6
    filtered = load(tmp_path, variant(edit), filter_cfg=dict(filter_empty_gt=True))
    assert [filtered.get_data_info(i)['img_id'] for i in range(len(filtered))] == [1, 2, 3, 4]


def test_voc_metainfo(tmp_path):
    data = dict(images=[dict(id=1, file_name='a.png', width=8, height=8, label_type='tag',
                             tags=[15])],
                annotations=[], categories=[dict(id=15, name='person')])
    ds = WeakVOCDataset(ann_file=write(tmp_path, data), data_prefix=dict(img=str(tmp_path) + '/'),
                        pipeline=[])
    assert len(ds.metainfo['classes']) == 20 and ds.get_data_info(0)['tags'] == [14]


def _set_ann(i, **kv):
    def edit(d):
        d['annotations'][i].update(kv)
    return edit


def _pop_ann(i, key):
    return lambda d: d['annotations'][i].pop(key)


def _set_img(i, **kv):
    return lambda d: d['images'][i].update(kv)


BAD = {
    'point outside image': (_set_ann(0, point=[60.5, 3.0]),
                            "image 2 (p.png): annotation 10: 'point' [60.5, 3.0] lies outside "
                            'the 60x40 image'),
    'negative point': (_set_ann(1, point=[-1, 3]), "annotation 11: 'point' [-1, 3] lies outside"),
    'nan point': (_set_ann(0, point=[math.nan, 3.0]),
                  "annotation 10: 'point' must be two finite numbers"),
    'inf box': (_set_ann(2, bbox=[1, 1, math.inf, 3]),
                "annotation 12: 'bbox' must be four finite numbers"),
    'point of 3 numbers': (_set_ann(0, point=[1, 2, 3]), "'point' must be two finite numbers"),
    'point as string': (_set_ann(0, point='1,2'), "'point' must be two finite numbers"),
    'degenerate box': (_set_ann(2, bbox=[4, 6, 0, 10]),
                       "image 3 (b.png): annotation 12: 'bbox' [4, 6, 0, 10] is degenerate"),
    'box outside image': (_set_ann(2, bbox=[50, 6, 20, 10]),
                          "'bbox' [50, 6, 20, 10] lies outside the 60x40 image"),
    'unknown label type': (_set_img(1, label_type='scribble'),
                           "image 2 (p.png): unknown 'label_type' 'scribble'; use one of tag, "
                           'point, box, mask'),
    'unknown category': (_set_ann(0, category_id=9),
                         "annotation 10: 'category_id' 9 is not among the classes"),
    'point on a box image': (_set_ann(2, point=[5, 7]),
                             "image 3 (b.png): annotation 12: has 'point', which a box image's "
                             'annotations must not carry'),
    'box on a point image': (_set_ann(0, bbox=[1, 1, 2, 2]),
                             "annotation 10: has 'bbox', which a point image's annotations"),
    'point on a mask image': (_set_ann(4, point=[11, 11]),
                              "annotation 14: has 'point', which a mask image's"),
    'segmentation on a box image': (_set_ann(3, segmentation=[[0, 0, 1, 0, 1, 1]]),
                                    "annotation 13: has 'segmentation', which a box image's"),
    'annotation on a tag image': (_set_ann(0, image_id=1),
                                  'image 1 (t.png): annotation 10: tag images carry no '
                                  'annotations'),
    'tag image without tags': (lambda d: d['images'][0].pop('tags'),
                               "image 1 (t.png): a tag image needs 'tags'"),
    'tags on a point image': (_set_img(1, tags=[1]), "image 2 (p.png): 'tags' is only for tag"),
    'unknown tag': (_set_img(0, tags=[7]), "'tags' holds category id 7"),
    'repeated tag': (_set_img(0, tags=[1, 1]), "'tags' repeats a category id"),
    'missing point': (_pop_ann(0, 'point'), "annotation 10: 'point' must be two finite"),
    'mask without segmentation': (_pop_ann(4, 'segmentation'),
                                  "annotation 14: a mask image's annotation needs "
                                  "'segmentation'"),
    'mask without area': (_pop_ann(4, 'area'), "annotation 14: 'area' is missing"),
    'duplicate image id': (_set_img(1, id=1), 'image id 1 appears twice'),
    'duplicate annotation id': (_set_ann(1, id=10), 'annotation id 10 appears twice'),
    'annotation of a missing image': (_set_ann(0, image_id=99),
                                      "annotation 10: 'image_id' 99 is not an image of the file"),
    'bad image size': (_set_img(1, width=0), "image 2 (p.png): 'width'/'height' must be "
                                            'positive numbers'),
    'image without file name': (lambda d: d['images'][1].pop('file_name'),
                                "'file_name' is missing"),
    'category outside metainfo': (lambda d: d['categories'].append(dict(id=4, name='blob')),
                                  "categories ['blob'] are not among the classes"),
}


@pytest.mark.parametrize('case', sorted(BAD))
def test_bad_input_names_where_and_what(tmp_path, case):
    edit, message = BAD[case]
    with pytest.raises(WeakLabelError) as info:
        load(tmp_path, variant(edit))
    text = str(info.value)
    assert text.startswith(str(tmp_path / 'weak.json'))
    assert message in text, text


@pytest.mark.parametrize('content,message', [
    ('', 'not valid JSON'),
    ('{"images": [', 'not valid JSON'),
    ('[]', 'the top level is a list'),
    ('{"images": [], "annotations": []}', "'categories' is missing or not a list"),
])
def test_broken_files(tmp_path, content, message):
    with pytest.raises(WeakLabelError, match=message):
        load(tmp_path, content)


def test_missing_image_file(tmp_path):
    ann = write(tmp_path, base_file())
    (tmp_path / 'b.png').unlink()
    with pytest.raises(WeakLabelError, match=r"image 3 \(b.png\): the image file .*b.png does "
                                             'not exist'):
        WeakCocoDataset(ann_file=ann, data_prefix=dict(img=str(tmp_path) + '/'),
                        metainfo=dict(classes=CLASSES), pipeline=[])


def test_mask2former_trains_on_weak_loader_with_mask_images(shapes_root):
    """A plain COCO file through WeakCocoDataset and the weak pipeline feeds
    MMDetection's Mask2Former unchanged (finite losses, gradients)."""
    import torch
    from mmdet.registry import DATASETS, MODELS
    from mmengine.config import Config
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import init_default_scope

    from ..conftest import TINY_CONFIG
    cfg = Config.fromfile(TINY_CONFIG)
    init_default_scope('mmdet')
    pipeline = [dict(type='LoadWeakAnnotations', with_bbox=True, with_mask=True)
                if t['type'] == 'LoadAnnotations' else t for t in cfg.train_pipeline]
    pipeline.insert(-1, dict(type='ProjectWeakLabels'))
    pipeline[-1] = dict(type='PackWeakDetInputs')
    root = str(shapes_root / 'data' / 'shapes') + '/'
    ds = DATASETS.build(dict(type='WeakCocoDataset', data_root=root,
                             ann_file='annotations/instances_train.json',
                             data_prefix=dict(img='images/'), pipeline=pipeline,
                             metainfo=DATASETS.get('ShapesDataset').METAINFO))
    assert {ds.get_data_info(i)['label_type'] for i in range(len(ds))} == {'mask'}
    torch.manual_seed(0)
    model = MODELS.build(cfg.model)
    batch = model.data_preprocessor(pseudo_collate([ds[0], ds[1]]), training=True)
    losses = model(**batch, mode='loss')
    total = sum(v for k, v in losses.items() if 'loss' in k)
    assert torch.isfinite(total)
    total.backward()
    assert model.panoptic_head.cls_embed.weight.grad.abs().sum() > 0
