"""The demo's pictures: captions drawn at the enlarged size, the overview grid."""
import numpy as np

from mmwish.visualization import draw_instances, overview_sheet


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
