"""Proposal NMS IoU conventions: the fork's training op (mixed +1) and its test op (+1), by hand."""
import mxnet as mx
import numpy as np

from lib.model.proposal import nms_top
from lib.model.proposal_nms import fork_nms, fork_nms_rows, fork_nms_top

# A and B: 20 x 20 inclusive-pixel boxes shifted by 2. Intersection 17 x 17 without +1, 18 x 18 with.
# no +1 (box_nms):          289 / (361 + 361 - 289) = 0.667
# +1 everywhere (test op):  324 / (400 + 400 - 324) = 0.681
# training GPU op (inter +1, areas without, multi_proposal_target.cu): 324 / (361 + 361 - 324) = 0.814
A, B, C = [0, 0, 19, 19], [2, 2, 21, 21], [40, 40, 59, 59]


def test_training_op_iou_suppresses_what_box_nms_keeps():
    boxes = np.array([A, B, C], np.float32)
    assert fork_nms(np.array([0.9, 0.8, 0.95]), boxes, 0.7, 300).tolist() == [2, 0]
    assert fork_nms(np.array([0.9, 0.8, 0.95]), boxes, 0.82, 300).tolist() == [2, 0, 1]  # 0.814 <= 0.82


def test_negative_scores_post_and_pre_top_n():
    boxes = np.array([A, C, [100, 100, 120, 120], [200, 200, 220, 220]], np.float32)
    scores = np.array([0.5, -1.0, 0.7, 0.6])
    assert fork_nms(scores, boxes, 0.7, 300).tolist() == [2, 3, 0]  # the -1 box (too small / out of range) never
    assert fork_nms(scores, boxes, 0.7, 2).tolist() == [2, 3]
    assert fork_nms(scores, boxes, 0.7, 300, pre_top_n=1).tolist() == [2]


def test_rows_layout_and_the_custom_op():
    scores = np.array([[0.9, 0.8, 0.95], [0.1, -1.0, -1.0]], np.float32)
    boxes = np.array([[A, B, C], [A, B, C]], np.float32)
    rows = fork_nms_rows(scores, boxes, 0.7, 4)
    np.testing.assert_allclose(rows[0, :2], [[0.95] + C, [0.9] + A], rtol=1e-6)
    np.testing.assert_array_equal(rows[0, 2:], -1)
    np.testing.assert_allclose(rows[1, 0], [0.1] + A, rtol=1e-6)
    op_rows = fork_nms_top(mx.nd, mx.nd.array(scores), mx.nd.array(boxes), 0.7, -1, 4).asnumpy()
    np.testing.assert_array_equal(op_rows, rows)


def test_test_op_nms_uses_the_plus_one_iou():
    # the 2018 fork's test op (multi_proposal.cu, NonMaximumSuppression): +1 areas and intersection
    scores = mx.nd.array([[0.9, 0.8]])
    boxes = mx.nd.array([[A, B]])
    plus_one = nms_top(mx.nd, scores, boxes, 0.67, -1, 3, plus_one=True).asnumpy()
    plain = nms_top(mx.nd, scores, boxes, 0.67, -1, 3).asnumpy()
    np.testing.assert_allclose(plus_one[0, 0], [0.9] + A, rtol=1e-6)  # coordinates come back unshifted
    assert (plus_one[0, 1:, 0] < 0).all()  # 0.681 > 0.67: B suppressed
    np.testing.assert_allclose(plain[0, 1], [0.8] + B, rtol=1e-6)  # 0.667: box_nms keeps it
