"""Image files as MMDetection will load them, read from their headers only.

MMDetection's ``LoadImageFromFile`` decodes with ``mmcv.imfrombytes``; its default cv2
backend with ``color_type='color'`` (``cv2.IMREAD_COLOR``) applies the EXIF orientation
of JPEG, PNG, WebP and TIFF files, so an image whose EXIF orientation is 5 to 8 loads
with width and height swapped. :func:`image_size` gives that loaded size without
decoding pixels; :func:`read_headers` reads many files in one pass (a stat and, unless
cached, a header read per file), with an optional cache keyed by each
file's modification time and size.
"""
import hashlib
import json
import os
import os.path as osp
import stat
import warnings
from concurrent.futures import ThreadPoolExecutor
from typing import List, NamedTuple, Optional, Sequence, Tuple, Union

# EXIF orientations (tag 0x0112) that rotate by 90 or 270 degrees: width and height swap.
EXIF_ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)
TIFF_WIDTH, TIFF_LENGTH = 256, 257
CACHE_FORMAT = 1
# Below this many images a cold pass takes well under a second (docs/weak_labels.md), so
# no cache file is written for them (tests and toy sets leave nothing in ~/.cache).
CACHE_MIN_IMAGES = 1000
CHUNK = 256  # files per thread task: one task per file costs more than a cached file
# Threads reading headers. 1: with the files in the OS's page cache, 2 or 8 threads were
# no faster (benchmarks/image_size_check.py, docs/weak_labels.md); more might overlap the
# waits of a network disk, which is unmeasured.
READ_THREADS = 1


class ImageHeader(NamedTuple):
    """What an image file's header says: its stored size, before any EXIF rotation."""
    width: int
    height: int
    orientation: int  # EXIF orientation, 1 when the file has none
    format: str  # PIL's name of the format: JPEG, PNG, TIFF, ...
    mode: str  # PIL's mode: RGB, L, RGBA, CMYK, I;16, ...

    def size(self, apply_exif: bool = True) -> Tuple[int, int]:
        """(width, height) as loaded, with or without the EXIF rotation applied."""
        if apply_exif and self.orientation in SWAPPING_ORIENTATIONS:
            return self.height, self.width
        return self.width, self.height


def _orientation(im) -> int:
    """The EXIF orientation that cv2 applies: a TIFF's own tag, else the EXIF block.

    ``Image.getexif`` is avoided: on a PNG without an eXIf chunk before its pixels it
    decodes the whole image to look behind them, and it also reads XMP orientations,
    which cv2 ignores.
    """
    from PIL import Image
    if im.format == 'TIFF':
        value = im.tag_v2.get(EXIF_ORIENTATION, 1)
    else:
        raw = im.info.get('exif')
        if not raw:
            return 1
        exif = Image.Exif()
        exif.load(raw)
        value = exif.get(EXIF_ORIENTATION, 1)
    return int(value) if isinstance(value, int) and 1 <= value <= 8 else 1


def read_header(path: str) -> ImageHeader:
    """The header of one image file (PIL opens lazily: no pixel is decoded)."""
    from PIL import Image
    with Image.open(path) as im:
        width, height = im.size
        if im.format == 'TIFF':
            # Pillow >= 10 reports a TIFF's size with its orientation applied; keep the
            # stored size so that every format is rotated in one place (ImageHeader.size).
            width = im.tag_v2.get(TIFF_WIDTH, width)
            height = im.tag_v2.get(TIFF_LENGTH, height)
        return ImageHeader(int(width), int(height), _orientation(im), im.format or '?',
                           im.mode)


def image_size(path: str) -> Tuple[int, int, int]:
    """(width, height, EXIF orientation) of an image as loaded with EXIF applied.

    Reads the header only, so it costs no pixel decoding. The orientation is 1 when
    the file has none.
    """
    header = read_header(path)
    return (*header.size(apply_exif=True), header.orientation)


def default_cache_file(folder: str, cache_dir: Optional[str] = None) -> str:
    """Where the headers of the images under ``folder`` are cached.

    ``cache_dir``, else ``$MMWISH_CACHE_DIR``, else ``$XDG_CACHE_HOME/mmwish`` (by default
    ``~/.cache/mmwish``): a user folder, since the dataset's own may be read-only. One
    file per image folder (so every annotation file of a dataset shares it), named by
    a hash of its absolute path.
    """
    root = cache_dir or os.environ.get('MMWISH_CACHE_DIR') or osp.join(
        os.environ.get('XDG_CACHE_HOME') or osp.expanduser('~/.cache'), 'mmwish')
    key = hashlib.sha1(osp.abspath(folder).encode()).hexdigest()[:16]
    return osp.join(root, 'image_headers', f'{key}.json')


def _load_cache(cache_file: str, folder: str) -> dict:
    try:
        with open(cache_file, 'rb') as f:
            data = json.loads(f.read())
    except (OSError, ValueError):
        return {}
    if (not isinstance(data, dict) or data.get('format') != CACHE_FORMAT
            or data.get('folder') != osp.abspath(folder)):
        return {}
    images = data.get('images')
    return images if isinstance(images, dict) else {}


def _save_cache(cache_file: str, folder: str, entries: dict) -> None:
    """Write atomically (ranks of a distributed run may write at once); a cache that
    cannot be written only costs the next run its speed."""
    tmp = f'{cache_file}.{os.getpid()}.tmp'
    try:
        os.makedirs(osp.dirname(cache_file), exist_ok=True)
        with open(tmp, 'w') as f:
            json.dump(dict(format=CACHE_FORMAT, folder=osp.abspath(folder), images=entries),
                      f, separators=(',', ':'))
        os.replace(tmp, cache_file)
    except OSError as e:
        warnings.warn(f'could not write the image header cache {cache_file} ({e}); the '
                      'next load reads the headers again (set MMWISH_CACHE_DIR to a '
                      'writable folder)', stacklevel=2)


def read_headers(folder: str, names: Sequence[str], cache_file: Optional[str] = None,
                 workers: Optional[int] = None) -> List[Union[ImageHeader, Exception]]:
    """The header of each file ``osp.join(folder, name)``, or the error that reading it
    raised (``FileNotFoundError`` when it is missing or not a file), in order.

    Each file costs one ``stat``; its header is read only when ``cache_file`` holds no
    entry of the same modification time and size. New entries are written back when
    there are at least :data:`CACHE_MIN_IMAGES` names. Files are read by ``workers``
    threads (default :data:`READ_THREADS`).
    """
    workers = READ_THREADS if workers is None else workers
    cached = _load_cache(cache_file, folder) if cache_file else {}
    fresh = {}

    def one(name):
        path = osp.join(folder, name)
        try:
            st = os.stat(path)
        except OSError as e:
            return e
        if not stat.S_ISREG(st.st_mode):
            return FileNotFoundError(path)
        stamp = [st.st_mtime_ns, st.st_size]
        entry = cached.get(name)
        if isinstance(entry, list) and len(entry) == 7 and entry[:2] == stamp:
            return ImageHeader(*entry[2:])
        try:
            header = read_header(path)
        except Exception as e:  # PIL raises many kinds on a damaged or foreign file
            return e
        fresh[name] = stamp + list(header)
        return header

    chunks = [names[i:i + CHUNK] for i in range(0, len(names), CHUNK)]
    if workers > 1 and len(chunks) > 1:
        with ThreadPoolExecutor(min(workers, len(chunks))) as pool:
            parts = list(pool.map(lambda chunk: [one(n) for n in chunk], chunks))
    else:
        parts = [[one(n) for n in chunk] for chunk in chunks]
    if cache_file and fresh and len(names) >= CACHE_MIN_IMAGES:
        _save_cache(cache_file, folder, {**cached, **fresh})
    return [header for part in parts for header in part]
