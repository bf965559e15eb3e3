"""The image files of a weak-label file are checked when the dataset loads: present,
decodable, and of the entry's size as MMDetection loads them (EXIF rotation applied);
odd kinds of image (grayscale, RGBA, palette, 16-bit, CMYK, EXIF-rotated) load as
3-channel images through the configs' loader and the SAM cache's reader."""
import json
import os

import cv2
import mmcv
import numpy as np
import pytest
from PIL import Image, ImageFile

from mmwish.datasets import WeakCocoDataset, WeakLabelError, image_files

CONFIG = 'configs/wish/wish_r18_tiny_shapes_hetero.py'
W, H = 60, 40  # as loaded


def save(path, kind, w=W, h=H):
    """Write a ``w`` x ``h`` (as loaded) image of ``kind`` to ``path``."""
    rng = np.random.RandomState(0)
    rgb = Image.fromarray(rng.randint(0, 255, (h, w, 3), np.uint8))
    if kind == 'rgb':
        rgb.save(path)
    elif kind == 'gray':
        rgb.convert('L').save(path)
    elif kind == 'rgba':
        rgb.convert('RGBA').save(path)
    elif kind == 'palette':
        rgb.convert('P').save(path)
    elif kind == 'cmyk':
        rgb.convert('CMYK').save(path)
    elif kind in ('rgb16', 'gray16'):
        shape = (h, w, 3) if kind == 'rgb16' else (h, w)
        cv2.imwrite(str(path), rng.randint(0, 65536, shape).astype(np.uint16))
    elif kind == 'exif6':  # stored turned; EXIF orientation 6 turns it back on load
        exif = Image.Exif()
        exif[0x0112] = 6
        rgb.transpose(Image.Transpose.ROTATE_90).save(path, exif=exif)
    else:
        raise ValueError(kind)
    return str(path)


def weak_file(tmp_path, *images, name='weak.json', prefix=''):
    """A weak-label file of tag images ``(file_name, width, height)``."""
    data = dict(images=[dict(id=i + 1, file_name=f, width=w, height=h, label_type='tag',
                             tags=[1]) for i, (f, w, h) in enumerate(images)],
                annotations=[], categories=[dict(id=1, name='circle')])
    path = tmp_path / name
    path.write_text(prefix + json.dumps(data), encoding='utf-8')
    return str(path)


def load(tmp_path, ann_file, **kwargs):
    kwargs.setdefault('image_size_cache', str(tmp_path / 'cache'))
    kwargs.setdefault('pipeline', [])
    return WeakCocoDataset(ann_file=ann_file, data_prefix=dict(img=str(tmp_path) + '/'),
                           metainfo=dict(classes=('circle',)), **kwargs)


# -- sizes and EXIF ---------------------------------------------------------------------
def test_exif_rotated_jpeg_loads_rotated_and_its_entry_must_say_so(tmp_path):
    path = save(tmp_path / 'r.jpg', 'exif6')
    assert Image.open(path).size == (H, W)  # stored turned
    assert image_files.image_size(path) == (W, H, 6)
    assert mmcv.imread(path).shape == (H, W, 3)  # mmcv (cv2) applies the rotation
    assert len(load(tmp_path, weak_file(tmp_path, ('r.jpg', W, H)))) == 1
    with pytest.raises(WeakLabelError, match=(
            r"weak.json: image 1 \(r.jpg\): the image file .*r.jpg loads as 60x40 \(width x "
            r'height\) but the annotation file says 40x60. The file stores 40x60 pixels with '
            r'EXIF orientation 6, a 90-degree rotation that the image loader applies. If the '
            r'labels were drawn on the rotated image .* re-export the annotations with width '
            r'60 and height 40; if they were drawn on the stored pixels, strip the EXIF '
            r"orientation from the file; or pass check_image_sizes='trust_files'")):
        load(tmp_path, weak_file(tmp_path, ('r.jpg', H, W)))


def test_size_mismatch_is_refused_naming_both_sizes(tmp_path):
    save(tmp_path / 'a.png', 'rgb')
    save(tmp_path / 'b.png', 'rgb', w=30, h=20)  # e.g. a resized copy
    with pytest.raises(WeakLabelError, match=(
            r"image 2 \(b.png\): the image file .*b.png loads as 30x20 \(width x height\) but "
            r"the annotation file says 60x40; re-export the annotations with the file's size, "
            r"or check that data_prefix\['img'\] holds the images")):
        load(tmp_path, weak_file(tmp_path, ('a.png', W, H), ('b.png', W, H)))


def test_trust_files_takes_the_files_sizes_and_false_skips_the_check(tmp_path):
    save(tmp_path / 'r.jpg', 'exif6')
    ann = weak_file(tmp_path, ('r.jpg', H, W))
    with pytest.warns(UserWarning, match=r"'trust_files' took the image files' sizes for 1 "
                                         r'images .*: images 1 \(40x60 -> 60x40\)'):
        ds = load(tmp_path, ann, check_image_sizes='trust_files')
    info = ds.get_data_info(0)
    assert (info['width'], info['height']) == (W, H)
    info = load(tmp_path, ann, check_image_sizes=False).get_data_info(0)
    assert (info['width'], info['height']) == (H, W)
    with pytest.raises(ValueError, match="check_image_sizes is True, False or 'trust_files'"):
        load(tmp_path, ann, check_image_sizes='yes')


def test_the_pipelines_loader_decides_whether_exif_is_applied(tmp_path):
    save(tmp_path / 'r.jpg', 'exif6')
    loader = dict(type='LoadImageFromFile', color_type='color_ignore_orientation')
    ds = load(tmp_path, weak_file(tmp_path, ('r.jpg', H, W)), pipeline=[loader])
    assert ds[0]['img'].shape == (W, H, 3)
    with pytest.raises(WeakLabelError, match=r'loads as 40x60 .* says 60x40; re-export'):
        load(tmp_path, weak_file(tmp_path, ('r.jpg', W, H)), pipeline=[loader])


def test_exif_rotated_tiff_and_png(tmp_path):
    for name in ('r.tif', 'r.png', 'r.webp'):
        path = save(tmp_path / name, 'exif6')
        assert image_files.image_size(path) == (W, H, 6), name
        assert mmcv.imread(path).shape == (H, W, 3), name


def test_sizes_are_read_from_headers_without_decoding(tmp_path, monkeypatch):
    for name, kind in (('a.png', 'rgb'), ('b.jpg', 'rgb'), ('r.jpg', 'exif6'),
                       ('g.png', 'gray16')):
        save(tmp_path / name, kind)
    ann = weak_file(tmp_path, ('a.png', W, H), ('b.jpg', W, H), ('r.jpg', W, H),
                    ('g.png', W, H))

    def no_decoding(self, *args, **kwargs):
        raise AssertionError('pixels decoded')
    monkeypatch.setattr(Image.Image, 'load', no_decoding)
    monkeypatch.setattr(ImageFile.ImageFile, 'load', no_decoding)
    assert len(load(tmp_path, ann)) == 4


# -- files that are not images the loader decodes ---------------------------------------
def test_missing_file_is_refused_with_and_without_the_size_check(tmp_path):
    ann = weak_file(tmp_path, ('gone.png', W, H))
    for check in (True, False):
        with pytest.raises(WeakLabelError, match=r"image 1 \(gone.png\): the image file .*"
                                                 r"gone.png does not exist; check data_root"):
            load(tmp_path, ann, check_image_sizes=check)


def test_a_file_that_is_not_an_image_is_refused(tmp_path):
    (tmp_path / 'x.png').write_bytes(b'<html>not found</html>')
    with pytest.raises(WeakLabelError, match=r"image 1 \(x.png\): the image file .*x.png "
                                             r'cannot be read as an image \(Unidentified'
                                             r'ImageError: .*\); replace it with a PNG or JPEG'):
        load(tmp_path, weak_file(tmp_path, ('x.png', W, H)))


def test_a_format_that_cv2_cannot_decode_is_refused(tmp_path):
    save(tmp_path / 'a.tga', 'rgb')
    assert mmcv.imread(str(tmp_path / 'a.tga')) is None  # what the loader would meet
    with pytest.raises(WeakLabelError, match=r"image 1 \(a.tga\): the image file .*a.tga is "
                                             r'a TGA image, which the image loader \(mmcv.s '
                                             r'cv2 backend\) cannot decode; convert it to PNG'):
        load(tmp_path, weak_file(tmp_path, ('a.tga', W, H)))
    loader = dict(type='LoadImageFromFile', imdecode_backend='pillow')
    ds = load(tmp_path, weak_file(tmp_path, ('a.tga', W, H)), pipeline=[loader])
    assert ds[0]['img'].shape == (H, W, 3)


# -- the header cache ------------------------------------------------------------------
def test_cache_serves_unchanged_files_and_rereads_changed_ones(tmp_path, monkeypatch):
    monkeypatch.setattr(image_files, 'CACHE_MIN_IMAGES', 2)
    for name in ('a.png', 'b.jpg', 'c.png'):
        save(tmp_path / name, 'rgb')
    ann = weak_file(tmp_path, ('a.png', W, H), ('b.jpg', W, H), ('c.png', W, H))
    load(tmp_path, ann)
    cache_file = image_files.default_cache_file(str(tmp_path) + '/', str(tmp_path / 'cache'))
    entries = json.load(open(cache_file))['images']
    assert sorted(entries) == ['a.png', 'b.jpg', 'c.png']
    assert entries['b.jpg'][2:] == [W, H, 1, 'JPEG', 'RGB']

    read = []
    real = image_files.read_header
    monkeypatch.setattr(image_files, 'read_header', lambda p: read.append(p) or real(p))
    load(tmp_path, ann)
    assert read == []  # all three from the cache
    save(tmp_path / 'c.png', 'rgb', w=30, h=20)
    os.utime(tmp_path / 'c.png', ns=(1, 1))  # another stamp, whatever the clock's grain
    with pytest.raises(WeakLabelError, match=r'image 3 \(c.png\): .* loads as 30x20'):
        load(tmp_path, ann)
    assert read == [str(tmp_path / 'c.png')]


def test_small_sets_and_image_size_cache_false_write_no_cache(tmp_path, monkeypatch):
    save(tmp_path / 'a.png', 'rgb')
    ann = weak_file(tmp_path, ('a.png', W, H))
    load(tmp_path, ann)  # fewer than CACHE_MIN_IMAGES
    monkeypatch.setattr(image_files, 'CACHE_MIN_IMAGES', 0)
    load(tmp_path, ann, image_size_cache=False)
    assert not (tmp_path / 'cache').exists()
    monkeypatch.setenv('MMWISH_CACHE_DIR', str(tmp_path / 'env'))
    load(tmp_path, ann, image_size_cache=True)
    assert len(list((tmp_path / 'env' / 'image_headers').iterdir())) == 1


# -- the annotation file ------------------------------------------------------------------
@pytest.mark.parametrize('encoding,prefix', [('utf-8', '\ufeff'), ('utf-16', '')])
def test_a_byte_order_mark_is_accepted(tmp_path, encoding, prefix):
    save(tmp_path / 'a.png', 'rgb')
    ann = weak_file(tmp_path, ('a.png', W, H))
    with open(ann, encoding='utf-8') as f:
        text = f.read()
    with open(ann, 'w', encoding=encoding) as f:  # Python's utf-16 writes a BOM
        f.write(prefix + text)
    assert open(ann, 'rb').read()[:2] in (b'\xef\xbb', b'\xff\xfe', b'\xfe\xff')
    assert load(tmp_path, ann).get_data_info(0)['width'] == W


def test_a_file_in_another_encoding_is_refused(tmp_path):
    save(tmp_path / 'a.png', 'rgb')
    ann = weak_file(tmp_path, ('a.png', W, H))
    text = open(ann, encoding='utf-8').read().replace('a.png', 'é.png')
    open(ann, 'wb').write(text.encode('latin-1'))
    with pytest.raises(WeakLabelError, match=r'weak.json: not valid JSON \(.*codec.*\); a '
                                             'weak-label file is a COCO instance JSON file '
                                             'in UTF-8'):
        load(tmp_path, ann)


def test_two_images_of_one_file_are_refused_naming_both(tmp_path):
    save(tmp_path / 'a.png', 'rgb')
    save(tmp_path / 'b.png', 'rgb')
    ann = weak_file(tmp_path, ('a.png', W, H), ('b.png', W, H), ('./a.png', W, H))
    with pytest.raises(WeakLabelError, match=r"weak.json: image 1 and image 3 both have "
                                             r"'file_name' './a.png'; an image file must "
                                             r"appear once: merge the two records' labels"):
        load(tmp_path, ann, check_files=False)


# -- odd kinds of image through the configs' loader and the SAM cache's reader -------------
@pytest.fixture(scope='module')
def config_loader():
    from mmengine.config import Config
    from mmengine.registry import TRANSFORMS, init_default_scope
    init_default_scope('mmdet')
    step = Config.fromfile(CONFIG).train_pipeline[0]
    assert step['type'] == 'LoadImageFromFile'
    return TRANSFORMS.build(step)


@pytest.mark.parametrize('kind,ext', [('gray', 'png'), ('gray', 'jpg'), ('rgba', 'png'),
                                      ('palette', 'png'), ('rgb16', 'png'), ('gray16', 'png'),
                                      ('cmyk', 'jpg'), ('exif6', 'jpg')])
def test_odd_image_kinds_load_as_three_channels(tmp_path, config_loader, kind, ext):
    path = save(tmp_path / f'{kind}.{ext}', kind)
    ds = load(tmp_path, weak_file(tmp_path, (f'{kind}.{ext}', W, H)))
    results = config_loader(dict(ds.get_data_info(0)))
    assert results['img'].shape == (H, W, 3)
    assert results['img'].dtype == np.float32  # the config's to_float32=True
    assert 0 <= results['img'].min() and results['img'].max() <= 255
    assert results['ori_shape'] == (H, W)
    rgb = mmcv.imread(path, channel_order='rgb')  # the SAM cache's reader
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    if kind == 'rgb16':  # cv2's IMREAD_COLOR keeps the high byte of each 16-bit value
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16
        np.testing.assert_array_equal(results['img'], (raw >> 8).astype(np.float32))


def test_the_sam_cache_refuses_a_file_cv2_cannot_decode(tmp_path):
    from mmwish.teachers.sam_cache import SAMCacheError, cache_shard
    path = save(tmp_path / 'a.tga', 'rgb')
    info = dict(img_id=1, img_path=path, label_type='box',
                instances=[dict(bbox=[1.0, 1.0, 9.0, 9.0])])
    with pytest.raises(SAMCacheError, match=r'a.tga: cv2 cannot decode this image; convert'):
        cache_shard(None, [info], str(tmp_path), log=None)
