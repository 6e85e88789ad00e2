"""RPN anchor labels and targets on hand-made cases (the original's anchor_worker)."""
import numpy as np

from lib.data.anchor_targets import anchor_grid, anchor_targets, label_anchors, sample_labels
from lib.geometry.boxes import bbox_overlaps, bbox_transform
from lib.specs.training import AnchorSpec, RPNTargetSpec
from loader_helpers import paper_cfg


def _targets(valid_gts, invalid_gts, cfg, rng):
    """anchor_targets with the specs of `cfg`, on a TRAIN.CHIP_SIZE chip."""
    return anchor_targets(valid_gts, invalid_gts, anchors=AnchorSpec.from_config(cfg),
                          rpn=RPNTargetSpec.from_config(cfg), chip_size=cfg.TRAIN.CHIP_SIZE, rng=rng)

SCALES, RATIOS = (2, 4, 7, 10, 13, 16, 24), (0.5, 1, 2)
A, F = 21, 32


def grid():
    return anchor_grid(512, 16, SCALES, RATIOS)


def anchor_at(a, y, x):
    """The anchor of base a at grid cell (y, x) and its index in the position-major list."""
    index = (y * F + x) * A + a
    return grid()[0][index], index


def test_inside_anchors_within_32px_border():
    anchors, inside, num, fh, fw = grid()
    assert (num, fh, fw) == (21, 32, 32) and len(anchors) == 21504
    is_in = np.zeros(len(anchors), dtype=bool)
    is_in[inside] = True
    box = anchors[is_in]
    assert box[:, :2].min() >= -32 and box[:, 2:].max() < 544
    out = anchors[~is_in]
    assert np.all((out[:, 0] < -32) | (out[:, 1] < -32) | (out[:, 2] >= 544) | (out[:, 3] >= 544))


def test_gt_on_an_anchor_gives_positive_at_anchor_major_index_and_zero_target():
    box, _ = anchor_at(5, 10, 12)  # ratio 0.5, scale 16: 368 x 192 at cell (10, 12)
    out = _targets(box[None], np.zeros((0, 4)), paper_cfg(), np.random.default_rng(0))
    assert out["rpn_label"].shape == (A * F * F,)
    assert out["rpn_bbox_target"].shape == out["rpn_bbox_weight"].shape == (4 * A, F, F)
    assert out["rpn_label"][5 * F * F + 10 * F + 12] == 1
    np.testing.assert_array_equal(out["rpn_bbox_weight"][20:24, 10, 12], 1)
    np.testing.assert_allclose(out["rpn_bbox_target"][20:24, 10, 12], 0, atol=1e-6)
    # weights exactly on the positives' 4 coordinates
    positive = out["rpn_label"].reshape(A, F, F) == 1
    np.testing.assert_array_equal(out["rpn_bbox_weight"].reshape(A, 4, F, F).any(axis=1), positive)
    assert np.all(out["rpn_bbox_weight"].reshape(A, 4, F, F).all(axis=1) == positive)


def test_regression_targets_are_bbox_transform_against_best_valid_gt():
    gts = np.array([[100, 100, 180, 160], [300, 320, 420, 480]], dtype=np.float32)
    out = _targets(gts, np.zeros((0, 4)), paper_cfg(), np.random.default_rng(1))
    anchors = grid()[0]
    labels = out["rpn_label"].reshape(A, F, F).transpose(1, 2, 0).reshape(-1)
    targets = out["rpn_bbox_target"].reshape(4 * A, F, F).transpose(1, 2, 0).reshape(-1, 4)
    positive = np.flatnonzero(labels == 1)
    assert len(positive) > 2
    best = bbox_overlaps(anchors[positive], gts).argmax(axis=1)
    np.testing.assert_allclose(targets[positive], bbox_transform(anchors[positive], gts[best]), rtol=1e-5,
                               atol=1e-6)
    assert np.all(targets[labels != 1] == 0)


def test_invalid_gt_ignores_anchors_and_overrides_positives():
    box, index = anchor_at(8, 12, 14)
    inside = grid()[1]
    anchors = grid()[0][inside]
    labels, _ = label_anchors(anchors, box[None], box[None], 0.5, 0.4)
    position = np.flatnonzero(inside == index)[0]
    assert labels[position] == -1  # IoU 1 with the valid gt, but also > 0.3 with the invalid one
    iou_invalid = bbox_overlaps(anchors, box[None])[:, 0]
    np.testing.assert_array_equal(labels[iou_invalid > 0.3], -1)
    np.testing.assert_array_equal(labels[iou_invalid <= 0.3], 0)  # the valid gt is the same box: IoU < 0.4


def test_no_valid_gt_gives_negatives_then_ignore_zone():
    anchors = grid()[0][grid()[1]]
    invalid = np.array([[200, 200, 300, 300]], dtype=np.float32)
    labels, _ = label_anchors(anchors, np.zeros((0, 4)), invalid, 0.5, 0.4)
    hit = (bbox_overlaps(anchors, invalid)[:, 0] > 0.3)
    assert hit.any()
    np.testing.assert_array_equal(labels[hit], -1)
    np.testing.assert_array_equal(labels[~hit], 0)


def test_ties_with_a_gts_best_iou_are_all_positive():
    anchors = np.array([[0, 0, 9, 9], [10, 0, 19, 9], [100, 100, 109, 109]], dtype=np.float32)
    gt = np.array([[5, 0, 14, 9]], dtype=np.float32)  # IoU 1/3 with anchors 0 and 1: below both thresholds
    labels, argmax = label_anchors(anchors, gt, np.zeros((0, 4)), 0.5, 0.4)
    np.testing.assert_array_equal(labels, [1, 1, 0])
    np.testing.assert_array_equal(argmax, [0, 0, 0])


def test_gt_overlapping_no_anchor_makes_no_positive():
    """Deviation: the reference marks every anchor tied at a best IoU of 0 positive; we don't."""
    anchors = np.array([[0, 0, 9, 9], [10, 0, 19, 9]], dtype=np.float32)
    gts = np.array([[5, 0, 14, 9], [500, 500, 520, 520]], dtype=np.float32)
    labels, _ = label_anchors(anchors, gts, np.zeros((0, 4)), 0.5, 0.4)
    np.testing.assert_array_equal(labels, [1, 1])  # from gt 0's ties only; gt 1 marks nothing
    labels, _ = label_anchors(anchors, gts[1:], np.zeros((0, 4)), 0.5, 0.4)
    np.testing.assert_array_equal(labels, [0, 0])


def test_sampling_caps_positives_then_negatives():
    labels = np.array([1] * 300 + [0] * 1000 + [-1] * 50, dtype=np.int32)
    sample_labels(labels, 256, 0.5, np.random.default_rng(0))
    assert np.sum(labels == 1) == 128 and np.sum(labels == 0) == 128
    assert np.all(labels[1300:] == -1)
    labels = np.array([1] * 20 + [0] * 1000, dtype=np.int32)
    sample_labels(labels, 256, 0.5, np.random.default_rng(0))
    assert np.sum(labels == 1) == 20 and np.sum(labels == 0) == 236
    labels = np.array([1] * 20 + [0] * 100, dtype=np.int32)
    sample_labels(labels, 256, 0.5, np.random.default_rng(0))
    assert np.sum(labels == 1) == 20 and np.sum(labels == 0) == 100


def test_full_chip_sampling_is_capped_and_seeded():
    ys, xs = np.mgrid[0:8, 0:8]
    gts = np.stack([xs.ravel() * 60, ys.ravel() * 60, xs.ravel() * 60 + 40, ys.ravel() * 60 + 40], 1)
    cfg = paper_cfg()
    first = _targets(gts.astype(np.float32), np.zeros((0, 4)), cfg, np.random.default_rng(7))
    again = _targets(gts.astype(np.float32), np.zeros((0, 4)), cfg, np.random.default_rng(7))
    assert np.sum(first["rpn_label"] == 1) == 128 and np.sum(first["rpn_label"] == 0) == 128
    np.testing.assert_array_equal(first["rpn_label"], again["rpn_label"])
    other = _targets(gts.astype(np.float32), np.zeros((0, 4)), cfg, np.random.default_rng(8))
    assert not np.array_equal(first["rpn_label"], other["rpn_label"])
