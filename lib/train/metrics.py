"""Training metrics of the reference (§6 item 10), accumulated in numpy.

RPN: accuracy and log loss over anchors whose label is not -1, L1 = summed smooth-L1 / that count.
RCNN: the same over RoIs whose label is not -1.
"""
from collections import OrderedDict

import numpy as np

METRIC_NAMES = ("RPNAcc", "RPNLogLoss", "RPNL1Loss", "RCNNAcc", "RCNNLogLoss", "RCNNL1Loss")


def classification_stats(probs, labels):
    """(N, K) class probabilities, (N,) labels with -1 = ignore -> (correct, summed -log p(label), count)."""
    labels = labels.reshape(-1).astype(np.int64)
    keep = labels >= 0
    probs = probs.reshape(len(labels), -1)[keep]
    labels = labels[keep]
    if not len(labels):
        return 0.0, 0.0, 0
    correct = float((probs.argmax(axis=1) == labels).sum())
    picked = probs[np.arange(len(labels)), labels]
    return correct, float(-np.log(picked + 1e-14).sum()), int(len(labels))


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

    def add_classification(self, prefix, probs, labels, l1_sum):
        """Accuracy, log loss and L1 for one head ('RPN' or 'RCNN') from numpy outputs."""
        correct, logloss, count = classification_stats(probs, labels)
        self.add(prefix + "Acc", correct, count)
        self.add(prefix + "LogLoss", logloss, count)
        self.add(prefix + "L1Loss", l1_sum, count)

    def values(self):
        """OrderedDict name -> value for metrics that saw data."""
        return OrderedDict((n, self.num[n] / self.den[n]) for n in self.names if self.den[n])


def update_metrics(metrics, losses, rpn_batch_size, rcnn_l1_denominator=188.0):
    """Add one device's loss outputs (dict of NDArrays, lib.model.losses.LOSS_OUTPUTS) to `metrics`.

    The L1 metrics are the summed smooth-L1 over the count of non-ignored labels, as the reference's
    RPNL1Loss / RCNNL1LossCRCNN; the sums are recovered from the normalised loss terms.
    """
    rpn_label = losses["rpn_label"].asnumpy()
    images = rpn_label.shape[0]
    rpn_prob = losses["rpn_cls_prob"].asnumpy().transpose(0, 2, 1).reshape(-1, 2)
    rpn_l1_sum = float(losses["rpn_l1_loss"].asscalar()) * images * rpn_batch_size / 3.0
    metrics.add_classification("RPN", rpn_prob, rpn_label, rpn_l1_sum)
    if "rcnn_label" in losses:
        rcnn_label = losses["rcnn_label"].asnumpy()
        rcnn_prob = losses["rcnn_cls_prob"].asnumpy()
        rcnn_prob = rcnn_prob.reshape(-1, rcnn_prob.shape[-1])
        rcnn_l1_sum = float(losses["rcnn_l1_loss"].asscalar()) * images * rcnn_l1_denominator
        metrics.add_classification("RCNN", rcnn_prob, rcnn_label, rcnn_l1_sum)
