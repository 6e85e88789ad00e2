"""FocusPixel labels on hand-made chips, expected maps computed by hand from the original's rule.

The rule is the original's `gen_mask` (lib/data_utils/data_workers.py:164-192): a = sqrt(w h) without +1;
dc_low < a < small -> 1, small <= a < dc_high -> -1, a <= dc_low -> -1, else no write; cells
int(x1/16) .. ceil(x2/16) inclusive; gts rounded and clipped to [0, C - 1] first (:220); later gts overwrite.
Most cases use a 64 px chip (4 x 4 cells of 16 px) with thresholds small=20, dc_low=4, dc_high=30.
"""
import numpy as np
import pytest

from lib.chips.focus_labels import focus_flag, focus_labels

T = dict(small_thresh=20, dc_low=4, dc_high=30)


def labels64(boxes, **thresholds):
    return focus_labels(np.array(boxes, dtype=np.float64), 64, 16, **(thresholds or T))


def test_shape_and_dtype_follow_chip_size_over_stride():
    assert focus_labels(np.zeros((0, 4)), 512, 16, **T).shape == (32, 32)
    assert focus_labels(np.zeros((0, 4)), 500, 16, **T).shape == (31, 31)  # 500 / 16 with Python 2 ints
    assert focus_labels(np.zeros((0, 4)), 64, 16, **T).dtype == np.int8


def test_no_gt_is_all_negative():
    assert not labels64(np.zeros((0, 4))).any()


def test_small_object_is_positive_on_its_cells_and_the_ceil_cell():
    # (2, 3, 14, 13): a = sqrt(12 * 10) = 10.95 in (4, 20) -> 1; cols 0 .. ceil(14/16) = 1, rows 0 .. 1
    expected = np.zeros((4, 4), np.int8)
    expected[0:2, 0:2] = 1
    np.testing.assert_array_equal(labels64([[2, 3, 14, 13]]), expected)


def test_box_ending_on_a_cell_border_takes_the_next_cell():
    # (16, 16, 32, 32): a = 16 -> 1; cols int(16/16) = 1 .. ceil(32/16) = 2, rows the same
    expected = np.zeros((4, 4), np.int8)
    expected[1:3, 1:3] = 1
    np.testing.assert_array_equal(labels64([[16, 16, 32, 32]]), expected)


def test_band_between_small_and_dc_high_is_ignored_and_cut_at_the_border():
    # (33, 33, 57, 57): a = 24 in [20, 30) -> -1; cols 2 .. min(ceil(57/16) = 4, 3)
    expected = np.zeros((4, 4), np.int8)
    expected[2:4, 2:4] = -1
    np.testing.assert_array_equal(labels64([[33, 33, 57, 57]]), expected)


def test_tiny_object_is_ignored():
    # (40, 5, 42, 7): a = 2 <= 4 -> -1; cols 2 .. ceil(42/16) = 3, rows 0 .. ceil(7/16) = 1
    expected = np.zeros((4, 4), np.int8)
    expected[0:2, 2:4] = -1
    np.testing.assert_array_equal(labels64([[40, 5, 42, 7]]), expected)


def test_large_object_writes_nothing_and_keeps_earlier_labels():
    # (0, 0, 63, 63): a = 63 >= 30 -> no write, so the small gt before it keeps its 1s
    expected = np.zeros((4, 4), np.int8)
    expected[0:2, 0:2] = 1
    np.testing.assert_array_equal(labels64([[2, 3, 14, 13], [0, 0, 63, 63]]), expected)
    assert not labels64([[0, 0, 63, 63]]).any()


def test_later_gt_overwrites_earlier_one():
    small, band = [2, 3, 14, 13], [10, 10, 34, 34]  # band: a = 24 -> -1 on cols/rows 0 .. ceil(34/16) = 3
    first_small = np.zeros((4, 4), np.int8)
    first_small[0:4, 0:4] = -1
    np.testing.assert_array_equal(labels64([small, band]), first_small)
    first_band = first_small.copy()
    first_band[0:2, 0:2] = 1
    np.testing.assert_array_equal(labels64([band, small]), first_band)


def test_gt_outside_the_chip_clips_to_a_zero_area_border_line_and_is_ignored():
    # (-50, 10, -20, 30) clips to x = 0 .. 0: a = 0 <= 4 -> -1 on col 0, rows int(10/16) = 0 .. ceil(30/16) = 2
    expected = np.zeros((4, 4), np.int8)
    expected[0:3, 0:1] = -1
    np.testing.assert_array_equal(labels64([[-50, 10, -20, 30]]), expected)


def test_boxes_are_rounded_before_the_cells_are_taken():
    # (0.4, 0, 16.4, 16.4) rounds to (0, 0, 16, 16): a = 16 -> 1 on cols/rows 0 .. ceil(16/16) = 1
    # (unrounded, ceil(16.4 / 16) = 2 would take a third column and row)
    expected = np.zeros((4, 4), np.int8)
    expected[0:2, 0:2] = 1
    np.testing.assert_array_equal(labels64([[0.4, 0, 16.4, 16.4]]), expected)


@pytest.mark.parametrize("side, flag", [(5, -1), (6, 1), (63, 1), (64, -1), (89, -1), (90, None), (200, None)])
def test_autofocus_config_thresholds_at_their_boundaries(side, flag):
    # configs/faster/sniper_res101_e2e_autofocus.yml:110-119: small 64, dc_low 5, dc_high 90 (strict / loose
    # comparisons as data_workers.py:178-183)
    assert focus_flag(float(side), small_thresh=64, dc_low=5, dc_high=90) == flag
    labels = focus_labels(np.array([[100, 100, 100 + side, 100 + side]]), 512, 16, small_thresh=64, dc_low=5,
                          dc_high=90)
    assert labels[7, 7] == (flag or 0)  # cell 7 = pixels 112..127, inside every one of these boxes


def test_default_thresholds_of_minus_one_label_nothing():
    # configs/faster/default_configs.py:51-53: every threshold -1 -> no branch is taken for any a >= 0
    assert not focus_labels(np.array([[0, 0, 10, 10], [5, 5, 300, 300]]), 512, 16, small_thresh=-1, dc_low=-1,
                            dc_high=-1).any()
