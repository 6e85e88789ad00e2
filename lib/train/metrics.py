"""Training metrics of the original (RPNAcc, RPNLogLoss, RPNL1Loss and the RCNN twins), reduced on the device.

Per head: accuracy and log loss over the labels that are not -1, L1 = summed smooth-L1 / that count. The loss
block names what they need (lib/model/losses.py): <head>_cls_prob, <head>_label, <head>_l1_sum. Each device
reduces its outputs to 4 numbers per head (correct, summed -log p(label), count, summed smooth-L1); one host copy
per step brings every device's numbers and loss terms over (instead of the class probabilities and labels:
megabytes per device and one wait each).
"""
from collections import OrderedDict

import mxnet as mx
import numpy as np

# (metric prefix, loss-output prefix, class axis of <prefix>_cls_prob); a head is measured when its outputs exist
HEADS = (("RPN", "rpn", 1), ("RCNN", "rcnn", -1), ("Focus", "focus", 1))
NO_L1 = ("Focus",)  # heads without a box regression (AutoFocus's FocusPixel map): no L1 metric
STATS_PER_HEAD = 4


def classification_sums(probs, labels, class_axis):
    """NDArrays probs (..., K along class_axis), labels (...) with -1 = ignore -> (3,) NDArray:
    correct, summed -log p(label), count over the labels that are not -1."""
    keep = labels >= 0
    correct = (mx.nd.argmax(probs, axis=class_axis) == labels) * keep
    picked = mx.nd.pick(probs, mx.nd.maximum(labels, 0), axis=class_axis)
    logloss = -mx.nd.log(picked + 1e-14) * keep
    return mx.nd.stack(correct.sum(), logloss.sum(), keep.sum()).reshape(-1)


def measured_heads(losses):
    """The metric prefixes of the heads whose outputs are in `losses` (HEADS order)."""
    return [name for name, key, _ in HEADS if key + "_label" in losses]


def device_stats(losses):
    """One device's loss outputs (dict name -> NDArray) -> (4 x heads,) float32 NDArray on its device.

    Per measured head: correct, log-loss sum, count, smooth-L1 sum."""
    parts = []
    for _, key, axis in HEADS:
        if key + "_label" in losses:
            labels = losses[key + "_label"].astype("float32")
            l1_sum = losses[key + "_l1_sum"] if key + "_l1_sum" in losses else labels.sum() * 0
            parts += [classification_sums(losses[key + "_cls_prob"], labels, class_axis=axis), l1_sum.reshape(-1)]
    return mx.nd.concat(*[p.astype("float32") for p in parts], dim=0)


def read_step(results):
    """All devices' metric statistics and loss terms in one host copy.

    results: one dict of loss outputs per device. Returns ({head: (D, 4) float64 statistics}, {loss term: sum
    over devices}) where the loss terms are the outputs named "*_loss".
    """
    terms = [k for k in results[0] if k.endswith("_loss")]
    heads = measured_heads(results[0])
    rows = [mx.nd.concat(device_stats(r), *[r[k].reshape(-1).astype("float32") for k in terms],
                         dim=0).as_in_context(mx.cpu()) for r in results]
    values = mx.nd.stack(*rows).asnumpy().astype(np.float64)
    width = STATS_PER_HEAD * len(heads)
    stats = {head: values[:, k * STATS_PER_HEAD:(k + 1) * STATS_PER_HEAD] for k, head in enumerate(heads)}
    return stats, dict(zip(terms, values[:, width:].sum(axis=0).tolist()))


class RunningMetrics:
    """Sums of numerators and denominators per metric since the last reset (in the order first added)."""

    def __init__(self):
        self.reset()

    def reset(self):
        self.num = OrderedDict()
        self.den = OrderedDict()

    def add(self, name, numerator, denominator):
        self.num[name] = self.num.get(name, 0.0) + float(numerator)
        self.den[name] = self.den.get(name, 0) + denominator

    def add_stats(self, stats):
        """Add {head: (D, 4) or (4,) statistics} (device_stats' layout per head: correct, log loss, count, L1)."""
        for head, rows in stats.items():
            for correct, logloss, count, l1_sum in np.asarray(rows, dtype=np.float64).reshape(-1, STATS_PER_HEAD):
                self.add(head + "Acc", correct, int(count))
                self.add(head + "LogLoss", logloss, int(count))
                if head not in NO_L1:
                    self.add(head + "L1Loss", l1_sum, int(count))

    def values(self):
        """OrderedDict name -> value for metrics that saw data."""
        return OrderedDict((n, self.num[n] / self.den[n]) for n in self.num if self.den[n])
