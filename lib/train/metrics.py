"""Training metrics of the original (RPNAcc, RPNLogLoss, RPNL1Loss and the RCNN twins), reduced on the device.

RPN: accuracy and log loss over anchors whose label is not -1, L1 = summed smooth-L1 / that count.
RCNN: the same over RoIs whose label is not -1. Each device reduces its outputs to 8 numbers (per head: correct,
summed -log p(label), count, summed smooth-L1); one host copy per step brings every device's numbers and
loss terms over (instead of the class probabilities and labels: megabytes per device and one wait each).
"""
from collections import OrderedDict

import mxnet as mx
import numpy as np

METRIC_NAMES = ("RPNAcc", "RPNLogLoss", "RPNL1Loss", "RCNNAcc", "RCNNLogLoss", "RCNNL1Loss")
HEADS = ("RPN", "RCNN")


def classification_sums(probs, labels, class_axis):
    """NDArrays probs (..., K along class_axis), labels (...) with -1 = ignore -> (3,) NDArray:
    correct, summed -log p(label), count over the labels that are not -1."""
    keep = labels >= 0
    correct = (mx.nd.argmax(probs, axis=class_axis) == labels) * keep
    picked = mx.nd.pick(probs, mx.nd.maximum(labels, 0), axis=class_axis)
    logloss = -mx.nd.log(picked + 1e-14) * keep
    return mx.nd.stack(correct.sum(), logloss.sum(), keep.sum()).reshape(-1)


def device_stats(losses, rpn_batch_size, rcnn_l1_denominator=188.0):
    """One device's loss outputs (dict of NDArrays, lib.model.losses.LOSS_OUTPUTS) -> (8,) NDArray on its device.

    Per head: correct, log-loss sum, count, smooth-L1 sum. The L1 sums are recovered from the normalised loss
    terms, as the original's RPNL1Loss / RCNNL1LossCRCNN metrics: RPN L1 x B x RPN_BATCH_SIZE / 3, RCNN L1 x
    B x 188. The RCNN part is zero for the RPN-only network.
    """
    rpn_label = losses["rpn_label"].astype("float32")
    images = rpn_label.shape[0]
    rpn = classification_sums(losses["rpn_cls_prob"], rpn_label, class_axis=1)
    parts = [rpn, losses["rpn_l1_loss"].reshape(-1) * (images * rpn_batch_size / 3.0)]
    if "rcnn_label" in losses:
        rcnn = classification_sums(losses["rcnn_cls_prob"], losses["rcnn_label"].astype("float32"), class_axis=-1)
        parts += [rcnn, losses["rcnn_l1_loss"].reshape(-1) * (images * rcnn_l1_denominator)]
    else:
        parts.append(mx.nd.zeros((4,), ctx=rpn.context))
    return mx.nd.concat(*[p.astype("float32") for p in parts], dim=0)


def read_step(results, rpn_batch_size):
    """All devices' metric statistics and loss terms in one host copy.

    results: one dict of loss outputs per device. Returns (stats (D, 8) float64, {loss term: sum over devices}).
    """
    terms = [k for k in results[0] if k.endswith("_loss")]
    rows = [mx.nd.concat(device_stats(r, rpn_batch_size), *[r[k].reshape(-1).astype("float32") for k in terms],
                         dim=0).as_in_context(mx.cpu()) for r in results]
    values = mx.nd.stack(*rows).asnumpy().astype(np.float64)
    return values[:, :8], dict(zip(terms, values[:, 8:].sum(axis=0).tolist()))


class RunningMetrics:
    """Sums of numerators and denominators per metric since the last reset."""

    def __init__(self, names=METRIC_NAMES):
        self.names = tuple(names)
        self.reset()

    def reset(self):
        self.num = dict.fromkeys(self.names, 0.0)
        self.den = dict.fromkeys(self.names, 0)

    def add(self, name, numerator, denominator):
        self.num[name] += float(numerator)
        self.den[name] += denominator

    def add_stats(self, stats):
        """Add (D, 8) or (8,) device statistics (device_stats' layout)."""
        for row in np.asarray(stats, dtype=np.float64).reshape(-1, 8):
            for head, (correct, logloss, count, l1_sum) in zip(HEADS, row.reshape(2, 4)):
                self.add(head + "Acc", correct, int(count))
                self.add(head + "LogLoss", logloss, int(count))
                self.add(head + "L1Loss", l1_sum, int(count))

    def values(self):
        """OrderedDict name -> value for metrics that saw data."""
        return OrderedDict((n, self.num[n] / self.den[n]) for n in self.names if self.den[n])
