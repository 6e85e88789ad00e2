"""soft_nms / nms / suppress against hand-computed cases and a literal port of the reference's Cython loop."""
import math

import numpy as np
import pytest

from lib.config import default_config
from lib.inference.nms import nms, soft_nms, suppress
from lib.specs import NMSSpec


def _cython_soft_nms(dets, sigma, nt, threshold, method):
    """Line-by-line port of the reference's cpu_soft_nms (method 2 Gaussian, 1 linear, 0 hard)."""
    boxes = np.array(dets, dtype=np.float32)
    sigma, nt, threshold = np.float32(sigma), np.float32(nt), np.float32(threshold)  # C floats
    n = len(boxes)
    i = 0
    while i < n:
        maxpos = i + int(np.argmax(boxes[i:n, 4]))
        boxes[[i, maxpos]] = boxes[[maxpos, i]]
        tx1, ty1, tx2, ty2 = boxes[i, :4]
        pos = i + 1
        while pos < n:
            x1, y1, x2, y2 = boxes[pos, :4]
            area = (x2 - x1 + 1) * (y2 - y1 + 1)
            iw = min(tx2, x2) - max(tx1, x1) + 1
            if iw > 0:
                ih = min(ty2, y2) - max(ty1, y1) + 1
                if ih > 0:
                    ua = np.float32((tx2 - tx1 + 1) * (ty2 - ty1 + 1) + area - iw * ih)
                    ov = np.float32(iw * ih / ua)
                    if method == 1:
                        weight = np.float32(1 - ov) if ov > nt else np.float32(1)
                    elif method == 2:
                        weight = np.float32(math.exp(-(ov * ov) / sigma))
                    else:
                        weight = np.float32(0) if ov > nt else np.float32(1)
                    boxes[pos, 4] = weight * boxes[pos, 4]
                    if boxes[pos, 4] < threshold:
                        boxes[pos] = boxes[n - 1]
                        n -= 1
                        pos -= 1
            pos += 1
        i += 1
    return boxes[:n]


def test_gaussian_decay_by_hand():
    # b overlaps a: inter 10x5 = 50, union 100 + 100 - 50 = 150, IoU 1/3.
    dets = [[0, 0, 9, 9, 0.9], [0, 5, 9, 14, 0.8], [100, 100, 109, 109, 0.5]]
    out = soft_nms(dets, sigma=0.55)
    expected_b = 0.8 * math.exp(-(1 / 3) ** 2 / 0.55)  # 0.6543...; 2 sigma^2 would give 0.7431
    np.testing.assert_allclose(out[:, 4], [0.9, expected_b, 0.5], rtol=1e-6)
    np.testing.assert_array_equal(out[:, :4], [[0, 0, 9, 9], [0, 5, 9, 14], [100, 100, 109, 109]])
    assert out.dtype == np.float32


def test_order_is_by_decayed_score():
    # c (0.7) does not overlap a; b (0.75) does, decays to 0.75 * exp(-1/9/0.55) = 0.613 < 0.7.
    dets = [[0, 5, 9, 14, 0.75], [50, 50, 59, 59, 0.7], [0, 0, 9, 9, 0.9]]
    out = soft_nms(dets, sigma=0.55)
    np.testing.assert_array_equal(out[:, 0], [0, 50, 0])
    assert np.all(np.diff(out[:, 4]) <= 0)


def test_threshold_drops_only_overlapping_boxes():
    # Identical boxes: IoU 1, 0.002 * exp(-1/0.55) = 3.2e-4 < 1e-3 -> dropped.
    # A lone box below the threshold is never checked (reference behaviour) and survives.
    dets = [[0, 0, 9, 9, 0.9], [0, 0, 9, 9, 0.002], [200, 200, 210, 210, 0.0005]]
    out = soft_nms(dets, sigma=0.55, score_thresh=0.001)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.0005], rtol=1e-6)


def test_linear_by_hand():
    # IoU 1/3 > 0.3: 0.8 * (1 - 1/3); with Nt 0.5 the box is untouched.
    dets = [[0, 0, 9, 9, 0.9], [0, 5, 9, 14, 0.8]]
    out = soft_nms(dets, method="linear", iou_thresh=0.3)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8 * 2 / 3], rtol=1e-6)
    out = soft_nms(dets, method="linear", iou_thresh=0.5)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8], rtol=1e-6)


def test_hard_by_hand():
    dets = [[0, 0, 9, 9, 0.9], [0, 5, 9, 14, 0.8], [0, 1, 9, 10, 0.85]]
    out = soft_nms(dets, method="hard", iou_thresh=0.3)  # IoU(a, b) 1/3 and IoU(a, c) 0.8 -> both go
    np.testing.assert_allclose(out, [[0, 0, 9, 9, 0.9]])
    out = soft_nms(dets, method="hard", iou_thresh=0.5, score_thresh=0.0)  # b survives untouched
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8], rtol=1e-6)


@pytest.mark.parametrize("method,code", [("gaussian", 2), ("linear", 1), ("hard", 0)])
def test_matches_reference_loop_on_random_sets(method, code):
    rng = np.random.RandomState(0)
    for trial in range(20):
        n = rng.randint(1, 60)
        xy = rng.randint(0, 60, size=(n, 2)).astype(np.float32)
        wh = rng.randint(1, 40, size=(n, 2)).astype(np.float32)
        scores = rng.choice([0.9, 0.5, 0.3, 0.01, 0.002], size=n) if trial % 2 else rng.rand(n)
        dets = np.concatenate([xy, xy + wh, scores[:, None]], axis=1).astype(np.float32)
        ours = soft_nms(dets, sigma=0.55, score_thresh=0.001, method=method, iou_thresh=0.3)
        ref = _cython_soft_nms(dets, 0.55, 0.3, 0.001, code)
        np.testing.assert_array_equal(ours, ref)


def test_empty_and_bad_method():
    assert soft_nms(np.zeros((0, 5))).shape == (0, 5)
    with pytest.raises(ValueError, match="method"):
        soft_nms(np.zeros((1, 5)), method="box")


def test_greedy_nms_keeps_at_threshold():
    # IoU(a, b) = 1/3 exactly: survives at thresh 1/3 (ovr <= thresh), suppressed at 0.3.
    dets = np.array([[0, 5, 9, 14, 0.8], [0, 0, 9, 9, 0.9], [0, 0, 9, 9, 0.1]], dtype=np.float64)
    np.testing.assert_array_equal(nms(dets, 0.3), [1])
    np.testing.assert_array_equal(nms(dets, 1 / 3), [1, 0])
    assert nms(np.zeros((0, 5)), 0.7).shape == (0,)


def test_suppress_returns_dets_in_every_mode():
    dets = [[0, 0, 9, 9, 0.9], [0, 1, 9, 10, 0.85], [50, 50, 59, 59, 0.5]]
    cfg = default_config()
    cfg.TEST.NMS = 0.3  # reference threshold mode: returned indices at HEAD, detections here
    hard = suppress(dets, NMSSpec.from_config(cfg))
    np.testing.assert_allclose(hard, [[0, 0, 9, 9, 0.9], [50, 50, 59, 59, 0.5]])
    cfg.TEST.NMS, cfg.TEST.NMS_SIGMA = -1, 0.55
    assert NMSSpec.from_config(cfg).method == "gaussian"
    soft = suppress(dets, NMSSpec.from_config(cfg))
    assert soft.shape == (3, 5) and soft[1, 4] < 0.85
    cfg.TEST.NMS_METHOD = "linear"
    assert NMSSpec.from_config(cfg) == NMSSpec("linear", 0.55, 0.3, 1e-3, max_per_image=100)
    cfg.TEST.NMS_METHOD = "soft"
    with pytest.raises(ValueError, match="TEST.NMS_METHOD"):
        NMSSpec.from_config(cfg)
