"""Image files as MMDetection will load them, read from their headers only."""
from typing import Tuple

# EXIF orientations (tag 0x0112) that rotate by 90 or 270 degrees: width and height swap.
EXIF_ORIENTATION = 0x0112
SWAPPING_ORIENTATIONS = (5, 6, 7, 8)


def image_size(path: str) -> Tuple[int, int, int]:
    """(width, height, EXIF orientation) of an image as loaded with EXIF applied.

    Reads the header only (PIL opens lazily), so it costs no pixel decoding. The
    orientation is 1 when the file has none.
    """
    from PIL import Image
    with Image.open(path) as im:
        width, height = im.size
        orientation = int(im.getexif().get(EXIF_ORIENTATION, 1) or 1)
    if orientation in SWAPPING_ORIENTATIONS:
        width, height = height, width
    return width, height, orientation
