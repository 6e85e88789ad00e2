"""SNIPER losses on hand-computed inputs (the normalisations of the original's symbols/faster/resnet_mx_101_e2e.py)."""
import mxnet as mx
import numpy as np
import pytest

from lib.model.losses import LOSS_OUTPUTS, SNIPERLoss


def log_softmax(x, axis):
    x = x - x.max(axis=axis, keepdims=True)
    return x - np.log(np.exp(x).sum(axis=axis, keepdims=True))


def inputs():
    """B = 2 chips, A = 1 anchor on a 1x3 map, R = 2 rois, K = 3 classes."""
    rpn_score = np.array([[[0.0, 1.0, 2.0], [1.0, 0.0, 0.0]], [[0.5, 0.0, 3.0], [0.0, 0.0, 1.0]]], np.float32)
    rpn_label = np.array([[1, 0, -1], [-1, -1, 0]], np.float32)
    rpn_pred = np.zeros((2, 4, 1, 3), np.float32)
    rpn_target = np.zeros_like(rpn_pred)
    rpn_target[0, :, 0, 0] = [0.5, -2.0, 0.0, 0.0]  # smooth L1: 0.125 + 1.5
    rpn_target[1, 0, 0, 2] = 3.0  # weight 0: ignored
    rpn_weight = np.zeros_like(rpn_pred)
    rpn_weight[0, :, 0, 0] = 1
    rcnn_score = np.array([[[1.0, 2.0, 0.0], [0.0, 0.0, 5.0]], [[2.0, 1.0, 1.0], [0.0, 3.0, 0.0]]], np.float32)
    rcnn_label = np.array([[2, -1], [0, 1]], np.float32)
    rcnn_pred = np.zeros((2, 2, 4), np.float32)
    rcnn_pred[1, 1] = [0.2, 0.0, 1.5, 0.0]  # smooth L1 against 0: 0.02 + 1.0
    rcnn_weight = np.zeros_like(rcnn_pred)
    rcnn_weight[1, 1] = 1
    return (rpn_score, rpn_pred, rcnn_score, rcnn_pred, rcnn_label, np.zeros_like(rcnn_pred), rcnn_weight,
            rpn_label, rpn_target, rpn_weight)


def expected(norm):
    rpn_score, _, rcnn_score, _, rcnn_label, _, _, rpn_label, _, _ = inputs()
    lp = log_softmax(rpn_score, 1)
    rpn_cls = -(lp[0, 1, 0] + lp[0, 0, 1] + lp[1, 0, 2]) / 3
    lp = log_softmax(rcnn_score, 2)
    rcnn_ce = -(lp[0, 0, 2] + lp[1, 0, 0] + lp[1, 1, 1])
    rcnn_cls = rcnn_ce / 3 if norm == "valid" else rcnn_ce / (300 * 2)
    rpn_l1 = 3 * (0.125 + 1.5) / (2 * 256)
    rcnn_l1 = (0.02 + 1.0) / (188 * 2)
    return rpn_cls, rpn_l1, rcnn_cls, rcnn_l1


@pytest.mark.parametrize("norm", ["valid", "rois"])
@pytest.mark.parametrize("hybrid", [False, True])
def test_losses_match_hand_computation(norm, hybrid):
    loss = SNIPERLoss(256, norm)
    if hybrid:
        loss.hybridize()
    outs = dict(zip(LOSS_OUTPUTS, loss(*[mx.nd.array(x) for x in inputs()])))
    want = expected(norm)
    got = [outs[k].asscalar() for k in ("rpn_cls_loss", "rpn_l1_loss", "rcnn_cls_loss", "rcnn_l1_loss")]
    np.testing.assert_allclose(got, want, rtol=1e-5)
    np.testing.assert_allclose(outs["total"].asscalar(), sum(want), rtol=1e-5)
    assert outs["rpn_cls_prob"].shape == (2, 2, 3) and outs["rcnn_cls_prob"].shape == (2, 2, 3)


def test_rpn_cls_gradient_is_softmax_minus_onehot_over_valid_count():
    args = [mx.nd.array(x) for x in inputs()]
    args[0].attach_grad()
    with mx.autograd.record():
        outs = SNIPERLoss(256)(*args)
    outs[1].backward()
    p = np.exp(log_softmax(inputs()[0], 1))
    want = np.zeros_like(p)
    for b, n, label in ((0, 0, 1), (0, 1, 0), (1, 2, 0)):
        want[b, :, n] = p[b, :, n] - np.eye(2)[label]
    np.testing.assert_allclose(args[0].grad.asnumpy(), want / 3, rtol=1e-5, atol=1e-7)
