"""FocusChips on hand-made focus maps, each step against hand-computed cells and pixels.

The rule is the original's `gmask` (lib/chips/chips_inference.py:12-89): threshold (:17-18), d x d dilation
(:19), contours with RETR_LIST (:22), each bounding box grown to min_size cells around its centre with Python 2
floor division and moved inside the ceil(scaled / 16) grid (:30-48), paint and find again until the count is
stable (:26-72), times 16, cut at the scaled size keeping min_size * 16 (:75-86), divided by the scale (:87),
shifted by the chip corner (add_chips, :158-162).
"""
import numpy as np
import pytest

from lib.chips.focus_chips import (binarize, cells_to_pixels, dilate, focus_chips, grown, merged_cells, place,
                                   regions)


def hot(shape, cells, value=1.0):
    """A (rows, cols) float32 map with `value` at the given (x, y) cells."""
    m = np.zeros(shape, np.float32)
    for x, y in cells:
        m[y, x] = value
    return m


def chips(m, **kw):
    args = dict(threshold=0.5, dilation=1, min_size=1, stride=16, image_scale=1.0, image_size=(320, 320))
    args.update(kw)
    return focus_chips(m, **args)


def test_threshold_includes_equality():
    np.testing.assert_array_equal(binarize(np.array([[0.1, 0.5], [0.49, 0.9]]), 0.5), [[0, 1], [0, 1]])


def test_dilation_by_odd_and_even_squares():
    m = hot((7, 7), [(3, 3)]).astype(np.uint8)
    np.testing.assert_array_equal(dilate(m, 1), m)
    expected3 = np.zeros((7, 7), np.uint8)
    expected3[2:5, 2:5] = 1
    np.testing.assert_array_equal(dilate(m, 3), expected3)
    # even kernel: cv2's anchor is (1, 1), so dst(p) = max(src(p - 1), src(p)) -> rows / cols 3..4
    expected2 = np.zeros((7, 7), np.uint8)
    expected2[3:5, 3:5] = 1
    np.testing.assert_array_equal(dilate(m, 2), expected2)
    with pytest.raises(ValueError, match="CHIP_HYPERPARAMS"):
        dilate(m, -1)  # the configs' (-1, -1, -1) placeholder is not a dilation


def test_regions_are_8_connected_and_list_holes():
    m = hot((10, 10), [(1, 1), (2, 2), (7, 7)]).astype(np.uint8)  # (1,1)-(2,2) touch diagonally
    assert sorted(regions(m)) == [(1, 1, 2, 2), (7, 7, 1, 1)]
    ring = np.zeros((9, 9), np.uint8)
    ring[2:7, 2:7] = 1
    ring[3:6, 3:6] = 0
    rects = regions(ring)
    assert len(rects) == 2 and (2, 2, 5, 5) in rects  # outer border and the hole's, as cv2.RETR_LIST


@pytest.mark.parametrize("start, length, min_size, limit, expected", [
    (5, 2, 4, 20, (4, 4)),     # centre (10 + 2) // 2 = 6, start 6 - 2
    (4, 3, 6, 20, (2, 6)),     # centre 5, start 5 - 3
    (4, 2, 5, 20, (3, 5)),     # centre 5, start 5 - 5 // 2
    (3, 5, 2, 20, (3, 5)),     # already large enough: unchanged
    (18, 2, 4, 20, (16, 4)),   # centre 19 + 2 >= 20: moved to 20 - 4
    (0, 1, 4, 20, (0, 4)),     # centre 0 - 2 < 0: moved to 0
    (0, 3, 30, 20, (0, 30)),   # larger than the grid: start 0, length kept
])
def test_place_grows_around_the_centre_and_moves_inside(start, length, min_size, limit, expected):
    assert place(start, length, min_size, limit) == expected


def test_grown_uses_columns_for_x_and_rows_for_y():
    assert grown((18, 0, 1, 1), 4, (20, 10)) == (16, 0, 4, 4)
    assert grown((0, 9, 1, 1), 4, (20, 10)) == (0, 6, 4, 4)


def test_far_regions_stay_separate_chips():
    mask = hot((20, 20), [(2, 2), (15, 15)]).astype(np.uint8)
    assert sorted(merged_cells(mask, 4, (20, 20))) == [(0, 0, 4, 4), (13, 13, 4, 4)]


def test_touching_grown_boxes_merge():
    # (5, 5) grows to cols [3, 7), (9, 5) to [7, 11): painted they touch -> one region cols 3..10, rows 3..6
    mask = hot((20, 20), [(5, 5), (9, 5)]).astype(np.uint8)
    assert merged_cells(mask, 4, (20, 20)) == [(3, 3, 8, 4)]


def test_merging_repeats_until_the_count_is_stable():
    # min 6: A (5,5) -> [2,8)^2, B (11,11) -> [8,14)^2 touch diagonally -> one region, painted next round as its
    # whole box [2,14)^2, which then overlaps C (13,2) -> [10,16) x [0,6) (C touched neither A nor B):
    # one chip x [2,16), y [0,14)
    mask = hot((20, 20), [(5, 5), (11, 11), (13, 2)]).astype(np.uint8)
    assert merged_cells(mask, 6, (20, 20)) == [(2, 0, 14, 14)]


def test_ring_gives_one_chip_over_it():
    ring = np.zeros((20, 20), np.uint8)
    ring[2:7, 2:7] = 1
    ring[3:6, 3:6] = 0
    assert merged_cells(ring, 1, (20, 20)) == [(2, 2, 5, 5)]


def test_cells_to_pixels_cuts_at_the_scaled_end_keeping_the_minimum():
    # scaled 200 x 120: x [9, 13) -> 144..208 cut to 200, start min(144, 200 - 64) = 136;
    # y [4, 8) -> 64..128 cut to 120, start min(64, 120 - 64) = 56
    out = cells_to_pixels([(9, 4, 4, 4)], min_size=4, stride=16, scaled_size=(200.0, 120.0))
    np.testing.assert_array_equal(out, [[136, 56, 200, 120]])
    inside = cells_to_pixels([(1, 2, 4, 3)], min_size=4, stride=16, scaled_size=(200.0, 120.0))
    np.testing.assert_array_equal(inside, [[16, 32, 80, 80]])


def test_corner_chip_in_original_pixels_with_origin():
    # 100 x 60 chip at scale 2 -> scaled 200 x 120, grid 13 x 8; hot cell (12, 7), min 4:
    # cells x [9, 13), y [4, 8) -> pixels (136, 56, 200, 120) -> / 2 -> (68, 28, 100, 60) -> + (10, 20)
    m = hot((8, 13), [(12, 7)], 0.9)
    out = chips(m, min_size=4, image_scale=2.0, image_size=(100, 60), origin=(10, 20))
    np.testing.assert_allclose(out, [[78, 48, 110, 80]])


def test_chip_larger_than_the_image_is_the_whole_image():
    # 40 x 30 at scale 1: grid 3 x 2; min 4 cells = 64 px > both sides -> cut to (0, 0, 40, 30)
    out = chips(hot((2, 3), [(1, 1)]), min_size=4, image_size=(40, 30))
    np.testing.assert_allclose(out, [[0, 0, 40, 30]])


def test_padding_cells_give_a_chip_at_the_image_border_twice():
    # map 8 x 8 on a padded input, chip 80 x 80 (grid 5 x 5): hot (7, 7), min 2 -> moved to cells [3, 5).
    # The painted box does not cover the hot cell, which stays a region of its own and grows to the same box
    # again: the original returns that chip twice (its mask keeps the cell, chips_inference.py:49-72)
    out = chips(hot((8, 8), [(7, 7)]), min_size=2, image_size=(80, 80))
    np.testing.assert_allclose(out, [[48, 48, 80, 80], [48, 48, 80, 80]])


def test_threshold_selects_cells():
    m = hot((20, 20), [(2, 2)], 0.3) + hot((20, 20), [(15, 15)], 0.7)
    np.testing.assert_allclose(chips(m, threshold=0.5), [[240, 240, 256, 256]])
    assert sorted(map(tuple, chips(m, threshold=0.2).tolist())) == [(32, 32, 48, 48), (240, 240, 256, 256)]


def test_dilation_joins_nearby_cells():
    m = hot((20, 20), [(5, 5), (8, 5)])
    assert len(chips(m, dilation=1)) == 2
    # d = 3: cols 4..6 and 7..9, rows 4..6 -> one region (4, 4, 6, 3) -> pixels (64, 64, 160, 112)
    np.testing.assert_allclose(chips(m, dilation=3), [[64, 64, 160, 112]])


def test_no_cell_above_threshold_gives_no_chip():
    out = chips(np.full((20, 20), 0.1, np.float32))
    assert out.shape == (0, 4)
