"""The training proposal-target layer on hand-made proposals and gts, against the fork's GPU op
(src/operator/multi_proposal_target.cu in the SNIPER mxnet fork)."""
import mxnet as mx
import numpy as np
import pytest

from lib.geometry.anchors import generate_base_anchors
from lib.model.proposal_target import ProposalTarget
from lib.specs.training import AnchorSpec, RoITargetSpec

SCALES, RATIOS, A, GRID, CHIP = (2, 4, 7, 10, 13, 16, 24), (0.5, 1, 2), 21, 4, 64
SQUARE32 = 7  # ratio 1, scale 2: a 32x32 anchor (-8, -8, 23, 23) around cell (0, 0)
P1, P2, P3 = (8, 8, 39, 39), (24, 8, 55, 39), (8, 24, 39, 55)
GT_IN = (8, 8, 39, 39, 2)      # area 961: inside the (0, 35) range
GT_OUT = (20, 4, 60, 44, 3)    # area 1600 > 35^2: never appended, but still labels rois


def cell(a, y, x):
    return a * GRID * GRID + y * GRID + x


def hand_made_rpn():
    """RPN outputs whose only valid proposals are P1 (0.9), a duplicate of P1 (0.85), P2 (0.8), P3 (0.7).

    Every other anchor is decoded to a 1x1 box (invalid: both sides < 3).
    """
    base = generate_base_anchors(16, RATIOS, SCALES)
    widths, heights = base[:, 2] - base[:, 0] + 1, base[:, 3] - base[:, 1] + 1
    prob = np.zeros((2, A * GRID * GRID), np.float32)
    deltas = np.zeros((4 * A, GRID, GRID), np.float32)
    deltas[2::4] = np.log(1.0 / widths)[:, None, None]
    deltas[3::4] = np.log(1.0 / heights)[:, None, None]
    for (y, x), score, shift in (((1, 1), 0.9, 0), ((0, 0), 0.85, 0.5), ((1, 2), 0.8, 0), ((2, 1), 0.7, 0)):
        prob[1, cell(SQUARE32, y, x)] = score
        deltas[4 * SQUARE32:4 * SQUARE32 + 4, y, x] = [shift, shift, 0, 0]
    prob[0] = 1 - prob[1]
    return np.stack([prob, prob]), np.stack([deltas, deltas])


def run_layer(**options):
    """The layer with the GPU op's settings (threshold 0.7, every anchor into NMS, fg 0.5), max_gts 4, and
    `options` replacing RoITargetSpec fields."""
    spec = dict(num_rois=300, fg_thresh=0.5, bbox_stds=(0.1, 0.1, 0.2, 0.2), nms_thresh=0.7, pre_nms_top_n=-1,
                ignore_outside_range=False, max_gts=4)
    spec.update(options)
    layer = ProposalTarget(AnchorSpec(stride=16, scales=SCALES, ratios=RATIOS), RoITargetSpec(**spec))
    layer.initialize()
    layer.hybridize()
    prob, deltas = hand_made_rpn()
    gts = -np.ones((2, 4, 5), np.float32)
    gts[:, 0], gts[:, 1] = GT_IN, GT_OUT
    ranges = np.array([[0, 35], [32, 64]], np.float32)  # chip 2: lo^2 = 1024 > every proposal's 961
    im_info = np.array([[CHIP, CHIP, 1], [CHIP, CHIP, 1]], np.float32)
    outs = layer(*[mx.nd.array(x) for x in (prob, deltas, im_info, gts, ranges)])
    return [o.asnumpy() for o in outs]


@pytest.fixture(scope="module")
def targets():
    return run_layer()


@pytest.fixture(scope="module")
def targets_ignoring():
    return run_layer(ignore_outside_range=True)


def test_proposals_are_nms_survivors_by_score(targets):
    rois = targets[0]
    np.testing.assert_allclose(rois[0, :3], [P1, P2, P3])  # the duplicate of P1 was suppressed


def test_empty_slots_hold_dummies_and_in_range_gts_are_appended(targets):
    rois = targets[0]
    np.testing.assert_allclose(rois[0, 3], [3, 3, 203, 203])
    np.testing.assert_allclose(rois[0, 296], [96, 96, 296, 296])  # G = 2: slots 298, 299 take the gts
    np.testing.assert_allclose(rois[0, 298], GT_IN[:4])
    np.testing.assert_allclose(rois[0, 299], [99, 99, 299, 299])  # the out-of-range gt is not appended


def test_labels_as_the_fork(targets):
    # The GPU op sets every label to 0, then to the class of a gt with IoU > 0.5 (multi_proposal_target.cu,
    # the labels loop and the overlaps loop): dummies (IoU 0.03 with the gts) are background, out of range or not.
    labels = targets[1]
    np.testing.assert_array_equal(labels[0, :3], [2, 3, 0])  # P2 takes the out-of-range gt (IoU 0.67)
    assert labels[0, 298] == 2
    assert (labels[0, 3:298] == 0).all() and labels[0, 299] == 0
    # chip 2 (range 32-64): no proposal in range, GT_IN below lo, dummies above hi; GT_OUT fits here
    assert (labels[1, :299] == 0).all() and labels[1, 299] == 3


def test_labels_ignoring_rois_outside_the_range(targets_ignoring):
    labels = targets_ignoring[1]
    np.testing.assert_array_equal(labels[0, :3], [2, 3, 0])
    assert labels[0, 298] == 2
    assert (labels[0, 3:298] == -1).all() and labels[0, 299] == -1  # dummies lie outside the range (0, 35)
    assert (labels[1, :299] == -1).all() and labels[1, 299] == 3
    np.testing.assert_array_equal(targets_ignoring[3], run_layer()[3])  # no positive lies outside here


def test_chip_range_decides_which_gts_are_appended(targets):
    np.testing.assert_allclose(targets[0][1, 298], [98, 98, 298, 298])
    np.testing.assert_allclose(targets[0][1, 299], GT_OUT[:4])


def test_targets_and_weights(targets):
    bbox_targets, weights = targets[2], targets[3]
    # P2 against GT_OUT: roi centre x1 + 0.5 (w - 1), gt centre x1 + 0.5 w (the op's quirk); / stds
    d = (20 + 0.5 * 41 - (24 + 0.5 * 31)) / 32
    np.testing.assert_allclose(bbox_targets[0, 1], [d / 0.1, (4 + 20.5 - 23.5) / 32 / 0.1,
                                                    np.log(41 / 32) / 0.2, np.log(41 / 32) / 0.2], rtol=1e-5)
    np.testing.assert_allclose(bbox_targets[0, 0], [0.5 / 32 / 0.1, 0.5 / 32 / 0.1, 0, 0], atol=1e-5)
    np.testing.assert_array_equal(weights[0, :, 0] > 0, targets[1][0] > 0)
    assert (bbox_targets[0][targets[1][0] <= 0] == 0).all()
    assert weights[1, :299].sum() == 0 and (weights[1, 299] == 1).all()


def test_fg_thresh_is_honoured():
    # TRAIN.FG_THRESH (the op's hard-coded 0.5 by default): at 0.7, P2's IoU 0.67 with GT_OUT is background
    labels = run_layer(fg_thresh=0.7)[1]
    np.testing.assert_array_equal(labels[0, :3], [2, 0, 0])


def test_rois_per_chip_shortens_the_roi_list_and_keeps_the_gt_slots():
    # TRAIN.ROIS_PER_CHIP 8 (the op's 300 by default): the 3 NMS survivors, dummies, and the in-range gt in the
    # tail slot 8 - 2 + 0 = 6 (G = 2 gts, as slot 298 of 300)
    rois, labels = run_layer(num_rois=8)[:2]
    assert rois.shape == (2, 8, 4) and labels.shape == (2, 8)
    np.testing.assert_allclose(rois[0, :3], [P1, P2, P3])
    np.testing.assert_allclose(rois[0, 6], GT_IN[:4])
    np.testing.assert_array_equal(labels[1, 7], 3)


def test_rois_per_chip_must_leave_room_beside_the_gts():
    with pytest.raises(ValueError, match="ROIS_PER_CHIP"):
        run_layer(num_rois=4)  # max_gts 4: no slot would be left for a proposal
