"""The demo's pictures: captions drawn at the enlarged size, the overview grid."""
import cv2
import numpy as np
from pycocotools import mask as mask_utils

from mmwish.visualization import coco_overlays, draw_instances, overview_sheet


def test_overview_sheet_lays_panels_on_a_grid_padded_to_the_largest():
    a = np.zeros((10, 20, 3), np.uint8)
    b = np.zeros((8, 20, 3), np.uint8)
    sheet = overview_sheet([a, b, a], cols=2, gap=4)
    # 2 rows of 2 cells (10 x 20 each), 4 px between and around
    assert sheet.shape == (4 + 10 + 4 + 10 + 4, 4 + 20 + 4 + 20 + 4, 3)
    assert (sheet[4:14, 4:24] == 0).all()            # a, top left
    assert (sheet[4:12, 28:48] == 0).all()           # b, top right ...
    assert (sheet[12:14, 28:48] == 255).all()        # ... padded with white below
    assert (sheet[18:28, 4:24] == 0).all()           # a, bottom left
    assert (sheet[18:28, 28:48] == 255).all()        # the empty cell


def test_draw_instances_enlarges_and_fills_each_mask():
    image = np.zeros((8, 8, 3), np.uint8)
    mask = np.zeros((8, 8), np.uint8)
    mask[2:4, 2:4] = 1
    out = draw_instances(image, [mask], [''], scale=4, alpha=1.0)
    assert out.shape == (32, 32, 3)
    inside, outside = out[9:15, 9:15], out[20:, 20:]
    assert (inside == inside[0, 0]).all() and inside[0, 0].any()
    assert not outside.any()
    # a caption sits on a white box above the mask
    captioned = draw_instances(image, [mask], ['star'], [0.87], scale=4)
    assert (captioned[:8] == 255).all(-1).any()


def test_coco_overlays_draw_several_models_after_the_ground_truth(tmp_path):
    cv2.imwrite(str(tmp_path / 'a.png'), np.zeros((10, 12, 3), np.uint8))
    square = np.zeros((10, 12), np.uint8, order='F')
    square[2:6, 2:6] = 1
    rle = mask_utils.encode(square)
    rle['counts'] = rle['counts'].decode()
    gt = dict(images=[dict(id=1, file_name='a.png', height=10, width=12)],
              categories=[dict(id=1, name='cat')],
              annotations=[dict(id=1, image_id=1, category_id=1, segmentation=rle)])
    found = [dict(image_id=1, category_id=1, segmentation=rle, score=0.9)]
    sheet = tmp_path / 'sheet.png'
    paths = coco_overlays(gt, {'masks': found, 'WISH, boxes': []}, str(tmp_path),
                          str(tmp_path / 'out'), num=1, scale=2, sheet=str(sheet))
    panel = cv2.imread(paths[0])
    # three 24 px tiles (ground truth | masks | WISH) 6 px apart, under an 18 px title bar
    assert panel.shape == (18 + 20, 3 * 24 + 2 * 6, 3)
    tiles = [panel[18:, i * 30:i * 30 + 24] for i in range(3)]
    assert tiles[0][6:10, 6:10].any() and tiles[1][6:10, 6:10].any()
    assert not tiles[2].any()  # the model that found nothing
    assert cv2.imread(str(sheet)) is not None
