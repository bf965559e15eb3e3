"""The image files of a weak-label file are checked when the dataset loads: present,
decodable, and of the entry's size as MMDetection loads them (EXIF rotation applied);
odd kinds of image (grayscale, RGBA, palette, 16-bit, CMYK, EXIF-rotated) load as
3-channel images through the configs' loader and the SAM cache's reader; a 6000x4000
photo loads, and its SAM cache entry is made in bounded memory however many prompts."""
import importlib.util
import json
import os

import cv2
import mmcv
import numpy as np
import pytest
import torch
from PIL import Image, ImageFile

from mmwish.datasets import WeakCocoDataset, WeakLabelError, image_files
from mmwish.teachers import sam_cache
from mmwish.teachers.sam_teacher import SAMTeacher

from ..conftest import REPO

CONFIG = 'configs/wish/wish_r18_tiny_shapes_hetero.py'
W, H = 60, 40  # as loaded
# Two flat colours, left and right half (web-safe: the palette conversion keeps them)
LEFT, RIGHT = (51, 102, 204), (255, 204, 0)
TRUST_HINT = (r"or set check_image_sizes='trust_files' to take the files' sizes: for the "
              r"training set, train_dataloader.dataset.check_image_sizes='trust_files' in "
              r'the config, or --cfg-options train_dataloader.dataset.check_image_sizes='
              r'trust_files')


def two_colours(w=W, h=H):
    """An RGB array: ``LEFT`` on the left half, ``RIGHT`` on the right."""
    rgb = np.empty((h, w, 3), np.uint8)
    rgb[:, :w // 2], rgb[:, w // 2:] = LEFT, RIGHT
    return rgb


def save(path, kind, w=W, h=H, rgb=None):
    """Write a ``w`` x ``h`` (as loaded) image of ``kind`` to ``path``: the RGB array
    ``rgb`` (default: random) in that kind."""
    rng = np.random.RandomState(0)
    if rgb is None:
        rgb = rng.randint(0, 255, (h, w, 3), np.uint8)
    rgb16 = rgb.astype(np.uint16) * 256 + rng.randint(0, 256, rgb.shape).astype(np.uint16)
    rgb = Image.fromarray(rgb)
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
    elif kind == 'rgb16':  # each value's high byte is the 8-bit colour
        cv2.imwrite(str(path), rgb16[..., ::-1])
    elif kind == 'gray16':
        cv2.imwrite(str(path), rgb16[..., 0])
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
            r'orientation from the file; ' + TRUST_HINT)):
        load(tmp_path, weak_file(tmp_path, ('r.jpg', H, W)))


def test_size_mismatch_is_refused_naming_both_sizes(tmp_path):
    save(tmp_path / 'a.png', 'rgb')
    save(tmp_path / 'b.png', 'rgb', w=30, h=20)  # e.g. a resized copy
    with pytest.raises(WeakLabelError, match=(
            r"image 2 \(b.png\): the image file .*b.png loads as 30x20 \(width x height\) but "
            r"the annotation file says 60x40; re-export the annotations with the file's size, "
            r"or check that data_prefix\['img'\] holds the images the annotations were "
            r'made on \(not resized copies\); ' + TRUST_HINT + r' \(docs/weak_labels.md')):
        load(tmp_path, weak_file(tmp_path, ('a.png', W, H), ('b.png', W, H)))


def test_all_size_mismatches_are_listed_in_one_error(tmp_path):
    """A set of phone photos needs one load to list its bad entries: the count, the first
    five (the EXIF rotation named where it explains the size), and what to do for each
    kind of mismatch."""
    images = [('ok.png', W, H)]
    save(tmp_path / 'ok.png', 'rgb')
    for i in range(5):  # stored turned: the entries give the stored size
        save(tmp_path / f'r{i}.jpg', 'exif6')
        images.append((f'r{i}.jpg', H, W))
    save(tmp_path / 'small.png', 'rgb', w=30, h=20)  # a resized copy
    images.append(('small.png', W, H))
    with pytest.raises(WeakLabelError) as error:
        load(tmp_path, weak_file(tmp_path, *images))
    lines = str(error.value).splitlines()
    assert lines[0].endswith('weak.json: 6 image files load at another size than the '
                             'annotation file says (width x height); the first 5:')
    assert lines[1] == (f"  image 2 (r0.jpg): {tmp_path}/r0.jpg loads as 60x40, the "
                        'annotation file says 40x60 (stored 40x60 with EXIF orientation 6)')
    assert [line.split(' (')[1].split(')')[0] for line in lines[1:6]] == [
        f'r{i}.jpg' for i in range(5)]
    assert lines[6] == '  and 1 more'
    assert lines[7].startswith('5 of them store their pixels turned, with an EXIF '
                               'orientation (5 to 8) that the image loader applies')
    assert lines[8].startswith("For the others, re-export the annotations with the files' "
                               "sizes, or check that data_prefix['img']")
    assert lines[9].startswith("Or set check_image_sizes='trust_files'")
    assert len(lines) == 10
    # two mismatches, both resized copies: both listed, one piece of advice
    save(tmp_path / 'small2.png', 'rgb', w=30, h=20)
    with pytest.raises(WeakLabelError) as error:
        load(tmp_path, weak_file(tmp_path, ('small.png', W, H), ('ok.png', W, H),
                                 ('small2.png', W, H)))
    lines = str(error.value).splitlines()
    assert lines[0].endswith('weak.json: 2 image files load at another size than the '
                             'annotation file says (width x height):')
    assert lines[1].startswith('  image 1 (small.png): ') and 'loads as 30x20' in lines[1]
    assert lines[2].startswith('  image 3 (small2.png): ')
    assert lines[3].startswith("Re-export the annotations with the files' sizes")
    assert lines[4].startswith("Or set check_image_sizes='trust_files'") and len(lines) == 5


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


class StubTeacher:
    """Stands in for SAMTeacher in ``cache_shard``: records each image it is given; its
    SAM answers each prompt with 4 x 4 logits that hold the prompt's index, brought to
    the image by SAMTeacher's own ``to_frame``."""
    image_size = 16
    is_sam2 = False
    frame_scale = SAMTeacher.frame_scale
    to_frame = SAMTeacher.to_frame

    def __init__(self):
        self.images, self.chunks, self.boxes = [], [], []

    def encode_original(self, image, device='cpu'):
        self.images.append(image)
        return torch.zeros(1, 8, 1, 1)

    def decode(self, embedding, frame_hw, points=None, boxes=None):
        self.boxes = boxes.long().tolist()
        index = torch.arange(len(boxes), dtype=torch.float32).view(-1, 1, 1, 1)
        return index.expand(-1, 3, 4, 4).clone(), torch.zeros(len(boxes), 3)


def cached_image(tmp_path, path, teacher=None, boxes=((1.0, 1.0, 9.0, 9.0),)):
    """The image ``cache_shard`` reads from ``path`` for a box image's entry, as the
    teacher received it."""
    teacher = teacher or StubTeacher()
    tmp_path.mkdir(exist_ok=True)
    info = dict(img_id=1, img_path=str(path), label_type='box',
                instances=[dict(bbox=list(b)) for b in boxes])
    sam_cache.cache_shard(teacher, [info], str(tmp_path), log=None)
    assert len(teacher.images) == 1 and os.path.isfile(tmp_path / '1.npz')
    return teacher.images[0]


def loaded_colours(kind):
    """The RGB that ``two_colours`` saved as ``kind`` loads as, left and right half."""
    if kind in ('gray', 'gray16'):  # one channel repeated: PIL's luma, or the 16-bit red
        grey = np.asarray(Image.fromarray(two_colours()).convert('L'))
        left, right = (grey[0, 0], grey[0, -1]) if kind == 'gray' else (LEFT[0], RIGHT[0])
        return (left,) * 3, (right,) * 3
    return LEFT, RIGHT  # RGBA: the stored colour, its alpha dropped; 16-bit: the high byte


@pytest.mark.parametrize('kind,ext', [('gray', 'png'), ('gray', 'jpg'), ('rgba', 'png'),
                                      ('palette', 'png'), ('rgb16', 'png'), ('gray16', 'png'),
                                      ('cmyk', 'jpg'), ('exif6', 'jpg')])
def test_odd_image_kinds_load_as_three_channels(tmp_path, config_loader, kind, ext):
    """Through the config's LoadImageFromFile and through the SAM cache's own reader
    (``cache_shard``): 3 x 8 bits of the checked size, the colours the file holds."""
    path = save(tmp_path / f'{kind}.{ext}', kind, rgb=two_colours())
    ds = load(tmp_path, weak_file(tmp_path, (f'{kind}.{ext}', W, H)))
    results = config_loader(dict(ds.get_data_info(0)))
    assert results['img'].shape == (H, W, 3)
    assert results['img'].dtype == np.float32  # the config's to_float32=True
    assert results['ori_shape'] == (H, W)
    rgb = cached_image(tmp_path / 'sam', path)
    assert rgb.shape == (H, W, 3) and rgb.dtype == np.uint8
    tolerance = 4 if ext == 'jpg' else 0  # lossy, even on flat colours
    left, right = loaded_colours(kind)
    np.testing.assert_allclose(rgb[H // 2, W // 4], left, atol=tolerance)
    np.testing.assert_allclose(rgb[H // 2, 3 * W // 4], right, atol=tolerance)
    # the SAM cache sees the pixels training sees (cv2's BGR, made RGB)
    np.testing.assert_array_equal(results['img'][..., ::-1], rgb.astype(np.float32))
    if kind == 'rgb16':  # cv2's IMREAD_COLOR keeps the high byte of each 16-bit value
        raw = cv2.imread(path, cv2.IMREAD_UNCHANGED)
        assert raw.dtype == np.uint16
        np.testing.assert_array_equal(results['img'], (raw >> 8).astype(np.float32))


def test_the_sam_cache_refuses_a_file_cv2_cannot_decode(tmp_path):
    path = save(tmp_path / 'a.tga', 'rgb')
    with pytest.raises(sam_cache.SAMCacheError,
                       match=r'a.tga: cv2 cannot decode this image; convert'):
        cached_image(tmp_path, path)


# -- a very large photo ------------------------------------------------------------------
BIG_W, BIG_H = 6000, 4000


@pytest.fixture(scope='module')
def big_photo(tmp_path_factory):
    """A 6000x4000 JPEG (two flat colours: quick to write and decode)."""
    folder = tmp_path_factory.mktemp('big')
    cv2.imwrite(str(folder / 'big.jpg'), two_colours(BIG_W, BIG_H)[..., ::-1])
    return folder


def test_a_6000x4000_photo_loads_through_the_configs_loader(big_photo, config_loader):
    ds = load(big_photo, weak_file(big_photo, ('big.jpg', BIG_W, BIG_H)))
    results = config_loader(dict(ds.get_data_info(0)))
    assert results['img'].shape == (BIG_H, BIG_W, 3) and results['img'].dtype == np.float32
    np.testing.assert_allclose(results['img'][100, 100], LEFT[::-1], atol=4)  # BGR


class PaintingTeacher(StubTeacher):
    """A ``to_frame`` that costs what the real one's output does, float32 logits
    (k, 3, H, W) for the k prompts it is given, but little time: each prompt's box is
    positive, the rest negative. Records how many prompts each call got."""

    def to_frame(self, low_res, frame_hw, out_hw):
        self.chunks.append(len(low_res))
        out = torch.full((len(low_res), 3, *out_hw), -1.0)
        for row, index in enumerate(low_res[:, 0, 0, 0].long().tolist()):
            x1, y1, x2, y2 = self.boxes[index]
            out[row, :, y1:y2, x1:x2] = 1.0
        return out


def test_a_6000x4000_photo_with_many_prompts_is_cached_in_bounded_memory(big_photo, tmp_path):
    """Upsampled to 6000x4000, a prompt's 3 candidate logits take 275 MiB: 12 prompts at
    once would take 3.2 GiB, and their masks 0.8 GiB more. ``cache_shard`` brings them
    to the photo's resolution one prompt at a time (``CHUNK_BYTES``) and keeps only
    their packed bits (9 MB per prompt): its peak stays under 1 GiB."""
    spec = importlib.util.spec_from_file_location(
        'large_image', os.path.join(REPO, 'benchmarks', 'large_image.py'))
    benchmark = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(benchmark)
    boxes = [(300 * i, 200 * i, 300 * i + 900, 200 * i + 700) for i in range(12)]
    teacher = PaintingTeacher()
    _, peak_mib, image = benchmark.measure(
        lambda: cached_image(tmp_path, big_photo / 'big.jpg', teacher, boxes))
    assert image.shape == (BIG_H, BIG_W, 3) and image.dtype == np.uint8
    np.testing.assert_allclose(image[100, 100], LEFT, atol=4)
    assert peak_mib < 1024, f'{peak_mib:.0f} MiB'
    assert teacher.chunks == [1] * 12
    with np.load(tmp_path / '1.npz') as entry:
        bits, hw = entry['masks'], entry['mask_hw']
    assert tuple(hw) == (BIG_H, BIG_W) and bits.shape == (12, 3, BIG_H * BIG_W // 8)
    for i, (x1, y1, x2, y2) in enumerate(boxes):  # each row is its own prompt's mask
        for x, y, inside in ((x1, y1, True), (x2 - 1, y2 - 1, True), (x2, y1, False),
                             (x1, y2, False)):
            at = y * BIG_W + x
            assert (bits[i, :, at // 8] >> (7 - at % 8) & 1).tolist() == [inside] * 3
