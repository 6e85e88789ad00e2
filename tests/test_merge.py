"""Decoding one image's outputs, valid-range filtering per scale, merging scales, the per-image cap."""
import math

import numpy as np
import pytest

from lib.inference.detections import decode_image, empty_image
from lib.geometry.boxes import tester_valid_range_mask as valid_range_mask
from lib.inference.merge import cap_per_image, filter_valid_range, merge_scales
from lib.specs import NMSSpec

SOFT = NMSSpec("gaussian", 0.55, 0.3, 1e-3, max_per_image=100)
SOFT_UNCAPPED = NMSSpec("gaussian", 0.55, 0.3, 1e-3, max_per_image=0)


def _square(x, side, score):
    """A box with no-+1 area side^2 at (x, x)."""
    return [x, x, x + side, x + side, score]


def test_valid_range_lower_strict_upper_inclusive():
    boxes = np.array([_square(0, 32, 1), _square(0, 32.5, 1), _square(0, 180, 1), _square(0, 180.5, 1)])
    np.testing.assert_array_equal(valid_range_mask(boxes, (32, 180)), [False, True, True, False])
    np.testing.assert_array_equal(valid_range_mask(boxes, (-1, 90)), [True, True, False, False])
    np.testing.assert_array_equal(valid_range_mask(boxes, (75, -1)), [False, False, True, True])
    np.testing.assert_array_equal(valid_range_mask(boxes, (-1, -1)), [True] * 4)


def test_valid_range_area_has_no_plus_one():
    # 91 x 89 px with +1 widths would be 8190 > 90^2; without +1 it is 90 * 88 = 7920 <= 8100.
    box = np.array([[10, 10, 100, 98, 0.5]])
    assert valid_range_mask(box, (-1, 90))[0]
    # non-square: 40 x 20 = 800 > 28^2 = 784 but < 29^2.
    rect = np.array([[0, 0, 40, 20, 0.5]])
    np.testing.assert_array_equal([valid_range_mask(rect, (28, -1))[0], valid_range_mask(rect, (29, -1))[0]],
                                  [True, False])


def test_filter_valid_range_per_class():
    image = [np.zeros((0, 5), np.float32), np.array([_square(0, 10, .9), _square(0, 100, .8)], np.float32)]
    out = filter_valid_range(image, (32, 180))
    assert out[0].shape == (0, 5)
    np.testing.assert_allclose(out[1], [_square(0, 100, .8)], rtol=1e-6)


def test_merge_scales_filters_each_scale_by_its_own_range():
    # Scale 0 (fine, <= 90) saw a small box and a large one; scale 1 (coarse, > 75) saw the same two.
    small, large = _square(0, 40, 0.9), _square(200, 300, 0.8)
    fine = [[empty_image(2)[0], np.array([small, large], np.float32)]]
    coarse = [[empty_image(2)[0], np.array([[1, 1, 41, 41, 0.7], [201, 201, 501, 501, 0.95]], np.float32)]]
    out = merge_scales([fine, coarse], [(-1, 90), (75, -1)], SOFT)
    np.testing.assert_allclose(out[0][1], [[201, 201, 501, 501, 0.95], small], rtol=1e-6)
    assert out[0][0].shape == (0, 5) and out[0][1].dtype == np.float32


def test_merge_scales_soft_nms_across_scales():
    # The same object found at two scales, both in range: the weaker copy is decayed by exp(-IoU^2/0.55).
    a, b = [0, 0, 99, 99, 0.9], [0, 0, 99, 89, 0.6]  # IoU = 9000 / 10000
    per_scale = [[[empty_image(2)[0], np.array([a], np.float32)]], [[empty_image(2)[0], np.array([b], np.float32)]]]
    out = merge_scales(per_scale, [(-1, -1), (-1, -1)], SOFT_UNCAPPED)
    np.testing.assert_allclose(out[0][1][:, 4], [0.9, 0.6 * math.exp(-0.81 / 0.55)], rtol=1e-6)
    hard = merge_scales(per_scale, [(-1, -1), (-1, -1)], NMSSpec("hard", 0.55, 0.5, 1e-3, max_per_image=0))
    np.testing.assert_allclose(hard[0][1], [a])


def test_merge_scales_checks_lengths():
    with pytest.raises(ValueError, match="VALID_RANGES"):
        merge_scales([[empty_image(2)]], [(-1, -1), (-1, -1)], SOFT)
    with pytest.raises(ValueError, match="numbers of images"):
        merge_scales([[empty_image(2)], []], [(-1, -1), (-1, -1)], SOFT)


def test_cap_per_image_keeps_ties_as_reference():
    c1 = np.array([[0, 0, 1, 1, s] for s in (0.9, 0.5, 0.5)], np.float32)
    c2 = np.array([[0, 0, 1, 1, s] for s in (0.7, 0.5, 0.1)], np.float32)
    out = cap_per_image([np.zeros((0, 5), np.float32), c1, c2], 3)  # 3rd highest is 0.5, tied 3 times
    np.testing.assert_allclose(out[1][:, 4], [0.9, 0.5, 0.5])
    np.testing.assert_allclose(out[2][:, 4], [0.7, 0.5])
    out = cap_per_image([np.zeros((0, 5), np.float32), c1, c2], 2)
    assert sum(len(d) for d in out) == 2
    assert sum(len(d) for d in cap_per_image([c1, c2], 0)) == 6


def test_decode_image_class_agnostic_boxes_in_original_coords():
    rois = np.array([[10, 20, 29, 59], [0, 0, 399, 199]], np.float32)  # resized pixels
    deltas = np.array([[0.1, 0, 0, 0], [0, 0, math.log(2), 0]], np.float32)
    cls_prob = np.array([[0.1, 0.8, 0.1], [0.5, 0.0005, 0.4995]], np.float32)
    out = decode_image(rois, cls_prob, deltas, im_info=(200, 400, 2.0), score_thresh=1e-3)
    assert len(out) == 3 and out[0].shape == (0, 5)
    # roi 0: width 20, shifted by 0.1 * 20 = 2 px, then / 2.
    np.testing.assert_allclose(out[1], [[6, 10, 15.5, 29.5, 0.8]], rtol=1e-6)
    # roi 1: width doubled to 800 around centre 199.5 -> x1 -200, x2 599 -> clipped to 0, 399; / 2.
    np.testing.assert_allclose(out[2], [[6, 10, 15.5, 29.5, 0.1], [0, 0, 199.5, 99.5, 0.4995]], rtol=1e-6)


def test_decode_image_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="do not match"):
        decode_image(np.zeros((3, 4)), np.zeros((2, 3)), np.zeros((3, 4)), (10, 10, 1.0))
