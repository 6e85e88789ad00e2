"""Box math (+1 convention) and base anchors against the reference's tables."""
import numpy as np
import pytest

from lib.geometry.anchors import generate_base_anchors, shifted_anchors
from lib.geometry.boxes import (bbox_overlaps, bbox_pred, bbox_transform, clip_boxes, containment, flip_boxes,
                             sqrt_areas_truncated)

# (w, h) per ratio (rows) and scale (columns) for stride 16, by hand from the original's generate_anchors
# (lib/data_utils/generate_anchor.py): w0 = round(sqrt(256 / r)), h0 = round(w0 r), times the scale
REFERENCE_SIZES = {
    0.5: [(46, 24), (92, 48), (161, 84), (230, 120), (299, 156), (368, 192), (552, 288)],
    1: [(32, 32), (64, 64), (112, 112), (160, 160), (208, 208), (256, 256), (384, 384)],
    2: [(22, 44), (44, 88), (77, 154), (110, 220), (143, 286), (176, 352), (264, 528)],
}


def test_base_anchor_sizes_match_reference_table():
    anchors = generate_base_anchors(16, (0.5, 1, 2), (2, 4, 7, 10, 13, 16, 24))
    assert anchors.shape == (21, 4)
    sizes = np.stack([anchors[:, 2] - anchors[:, 0] + 1, anchors[:, 3] - anchors[:, 1] + 1], axis=1)
    expected = [s for r in (0.5, 1, 2) for s in REFERENCE_SIZES[r]]
    np.testing.assert_allclose(sizes, expected)
    centres = (anchors[:, :2] + anchors[:, 2:]) / 2
    np.testing.assert_allclose(centres, 7.5)


def test_stride_32_uses_numpy_rounding():
    anchors = generate_base_anchors(32, (0.5,), (1,))
    assert anchors[0, 3] - anchors[0, 1] + 1 == 22  # banker's rounding of 22.5 (C++ would give 23)


def test_shifted_anchors_are_position_major():
    base = generate_base_anchors(16, (1,), (2, 4))
    all_anchors = shifted_anchors(base, 2, 3, 16)
    assert all_anchors.shape == (2 * 3 * 2, 4)
    # index (y * W + x) * A + a
    np.testing.assert_allclose(all_anchors[(1 * 3 + 2) * 2 + 1], base[1] + [32, 16, 32, 16])


def test_iou_and_containment_plus_one():
    a = np.array([[0, 0, 9, 9]])
    b = np.array([[0, 0, 9, 9], [5, 0, 14, 9], [20, 20, 30, 30]])
    np.testing.assert_allclose(bbox_overlaps(a, b), [[1.0, 50 / 150, 0.0]])
    np.testing.assert_allclose(containment(b, a), [[1.0], [0.5], [0.0]])


def test_transform_round_trip_and_reference_values():
    rois = np.array([[0, 0, 15, 15], [10, 20, 49, 39]], dtype=np.float32)
    gts = np.array([[2, 2, 17, 17], [5, 25, 60, 44]], dtype=np.float32)
    deltas = bbox_transform(rois, gts)
    assert deltas[0, 0] == pytest.approx(2 / 16, rel=1e-5) and deltas[0, 2] == pytest.approx(0, abs=1e-6)
    np.testing.assert_allclose(bbox_pred(rois, deltas), gts, atol=1e-3)


def test_clip_flip_and_truncated_sqrt_area():
    np.testing.assert_allclose(clip_boxes(np.array([[-5, -1, 120, 50]]), 40, 100), [[0, 0, 99, 39]])
    np.testing.assert_allclose(flip_boxes(np.array([[0, 0, 9, 9]], dtype=np.float32), 100), [[90, 0, 99, 9]])
    sqrt_area, w, h = sqrt_areas_truncated(np.array([[0, 0, 9.7, 3.2]]))
    assert (w[0], h[0]) == (9, 3) and sqrt_area[0] == pytest.approx(np.sqrt(27))
