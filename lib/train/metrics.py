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
