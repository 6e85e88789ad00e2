"""lib.geometry: the numpy side and the MXNet-ops side agree on random inputs (anchors, encode, decode, IoU,
clipping), and the named quirks differ from the main convention exactly as the original's code does."""
import mxnet as mx
import numpy as np

from lib.geometry import ops
from lib.geometry.anchors import generate_base_anchors, position_major_to_maps, shifted_anchors
from lib.geometry.boxes import (areas_no_plus_one, bbox_overlaps, bbox_pred, bbox_transform, clip_boxes,
                                iou_fork_gpu)

F = mx.nd


def _boxes(rng, n, size=200.0):
    """(n, 4) random valid boxes (x2 >= x1, y2 >= y1) inside [0, size)."""
    xy = rng.uniform(0, size * 0.8, (n, 2))
    wh = rng.uniform(1, size * 0.5, (n, 2))
    return np.concatenate([xy, xy + wh], axis=1).astype(np.float32)


def test_grid_anchors_match_shifted_anchors_reordered():
    base = generate_base_anchors(stride=16, ratios=(0.5, 1, 2), scales=(2, 4, 8))
    feat = F.zeros((1, 1, 5, 7))
    grid = ops.grid_anchors(F, F.array(base), feat, 16).asnumpy()[0]  # (A*H*W, 4) anchor-major
    position_major = shifted_anchors(base, 5, 7, 16)  # (H*W*A, 4)
    expected = position_major_to_maps(position_major, 5, 7)  # (A*4, H, W)
    expected = expected.reshape(len(base), 4, 5 * 7).transpose(0, 2, 1).reshape(-1, 4)
    np.testing.assert_array_equal(grid, expected)
    # anchor a at (y, x) is base[a] + (16x, 16y, 16x, 16y): row a*H*W + y*W + x
    np.testing.assert_array_equal(grid[4 * 35 + 2 * 7 + 3], base[4] + [48, 32, 48, 32])


def test_position_major_to_maps_by_hand():
    # H = 1, W = 2, A = 2: position-major rows (x0 a0, x0 a1, x1 a0, x1 a1) -> labels anchor-major
    labels = np.array([10, 11, 20, 21])
    np.testing.assert_array_equal(position_major_to_maps(labels, 1, 2).reshape(-1), [10, 20, 11, 21])


def test_encode_decode_iou_equal_on_random_boxes():
    rng = np.random.default_rng(0)
    rois, gts = _boxes(rng, 64), _boxes(rng, 64)
    deltas = rng.normal(0, 0.5, (64, 4)).astype(np.float32)
    np.testing.assert_allclose(ops.encode(F, F.array(rois), F.array(gts)).asnumpy(), bbox_transform(rois, gts),
                               rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(ops.decode(F, F.array(rois[None]), F.array(deltas[None])).asnumpy()[0],
                               bbox_pred(rois, deltas), rtol=1e-5, atol=1e-3)
    np.testing.assert_allclose(ops.iou(F, F.array(rois[None]), F.array(gts[None, :10])).asnumpy()[0],
                               bbox_overlaps(rois, gts[:10]), rtol=1e-5, atol=1e-6)


def test_clip_equal_on_random_boxes():
    rng = np.random.default_rng(1)
    boxes = rng.uniform(-50, 300, (32, 4)).astype(np.float32)
    clipped = ops.clip_to_images(F, F.array(boxes[None]), F.array([[120, 180, 1.0]])).asnumpy()[0]
    np.testing.assert_array_equal(clipped, clip_boxes(boxes, 120, 180))


def test_fork_iou_equal_and_differs_from_plus_one():
    rng = np.random.default_rng(2)
    a, b = _boxes(rng, 16), _boxes(rng, 5)
    op = ops.iou_fork_gpu(F, F.array(a[None]), F.array(b[None])).asnumpy()[0]
    a64, b64 = a.astype(np.float64), b.astype(np.float64)
    numpy_side = np.stack([iou_fork_gpu(a64[i], b64, areas_no_plus_one(a64[i:i + 1])[0], areas_no_plus_one(b64))
                           for i in range(len(a))])
    np.testing.assert_allclose(op, numpy_side, rtol=1e-5, atol=1e-6)
    # by hand: (0,0,9,9) with itself: intersection 10*10 = 100 (+1), areas 9*9 = 81 (no +1): 100 / 62
    box = np.array([[0, 0, 9, 9]], np.float32)
    np.testing.assert_allclose(ops.iou_fork_gpu(F, F.array(box[None]), F.array(box[None])).asnumpy(), 100 / 62,
                               rtol=1e-6)


def test_gt_centre_half_pixel_quirk_by_hand():
    # roi (0, 0, 9, 9): centre 4.5, w 10; gt (10, 0, 19, 9): the op's centre 10 + 0.5 * 10 = 15 (not 14.5),
    # dx = (15 - 4.5) / (10 + 1e-7) (src/operator/multi_proposal_target.cu, the gt centre without - 1)
    roi, gt = F.array([[0, 0, 9, 9]]), F.array([[10, 0, 19, 9]])
    quirk = ops.encode_gt_centre_half_pixel(F, roi, gt).asnumpy()[0]
    plain = ops.encode(F, roi, gt).asnumpy()[0]
    np.testing.assert_allclose(quirk, [1.05, 0.05, 0, 0], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(plain, [1.0, 0.0, 0, 0], rtol=1e-5, atol=1e-6)
