"""SNIPER losses with the original's normalisations (its symbols' SoftmaxOutput / MakeLoss grad_scale values),
unscaled (the trainer applies any fp16 loss scale).

With B the chips in the batch (per device), the total is
    rpn_cls  = mean CE over anchors with label != -1           (SoftmaxOutput, normalization 'valid')
  + rpn_l1   = 3 * sum(w * smoothL1(pred - target)) / (B * RPN_BATCH_SIZE)
  + rcnn_cls = mean CE over rois with label != -1              (ResNet: 'valid')
               or sum CE / (300 * B)                           (MobileNetV2: 'null' with 1/(300 B))
  + rcnn_l1  = sum(w * smoothL1(pred - target)) / (188 * B)
smooth L1 with sigma 1: 0.5 x^2 if |x| < 1 else |x| - 0.5. The reference writes 1/(188*16) with a literal
16 (its BATCH_IMAGES); here B is the actual batch, so B = 16 reproduces it and smaller CPU batches keep
the same per-chip weight. B is read from the batch, not the config.
"""
from mxnet import gluon

from lib.model.focus_head import focus_loss
from lib.model.sniper import TRAIN_OUTPUTS, TrainOutput

RCNN_L1_DENOMINATOR = 188.0
RPN_L1_FACTOR = 3.0
# Output names. The loss terms end in "_loss" (logged); per head <h>, the metrics read <h>_cls_prob, <h>_label and
# <h>_l1_sum (the smooth-L1 sum before its normalisation), so a new head adds its outputs under these names.
LOSS_OUTPUTS = ("total", "rpn_cls_loss", "rpn_l1_loss", "rcnn_cls_loss", "rcnn_l1_loss",
                "rpn_cls_prob", "rpn_label", "rpn_l1_sum", "rcnn_cls_prob", "rcnn_label", "rcnn_l1_sum")
FOCUS_OUTPUTS = ("focus_cls_loss", "focus_cls_prob", "focus_label")  # appended with TRAIN.AUTO_FOCUS
RPN_LOSS_OUTPUTS = ("total", "rpn_cls_loss", "rpn_l1_loss", "rpn_cls_prob", "rpn_label", "rpn_l1_sum")


def batch_size(F, labels):
    """(B, ...) -> (1,) float: B, computed in the graph."""
    first = F.slice_axis(F.reshape(labels, (0, -1)), axis=1, begin=0, end=1)
    return F.sum(F.ones_like(first), axis=(0, 1), keepdims=False)


def masked_ce(F, log_prob, labels, axis):
    """Summed CE over entries with label != -1, and their count. log_prob has classes on `axis`."""
    valid = labels != -1
    picked = F.pick(log_prob, F.relu(labels), axis=axis)
    return -F.sum(picked * valid), F.sum(valid)


def smooth_l1_sum(F, pred, target, weight):
    """sum(weight * smoothL1(pred - target)), sigma 1 -> (1,)."""
    return F.sum(weight * F.smooth_l1(pred - target, scalar=1.0))


def rpn_losses(F, rpn_cls_score, rpn_bbox_pred, rpn_label, rpn_bbox_target, rpn_bbox_weight, rpn_batch_size):
    """(images (1,), RPN CE over non-ignored anchors, RPN smooth L1 * 3 / (images * rpn_batch_size),
    the smooth-L1 sum (1,))."""
    images = batch_size(F, rpn_label)
    ce, count = masked_ce(F, F.log_softmax(rpn_cls_score, axis=1), rpn_label, axis=1)
    l1_sum = smooth_l1_sum(F, rpn_bbox_pred, rpn_bbox_target, rpn_bbox_weight)
    rpn_l1 = l1_sum * RPN_L1_FACTOR / (images * rpn_batch_size)
    return images, ce / F.maximum(count, 1.0), rpn_l1, l1_sum


class SNIPERLoss(gluon.HybridBlock):
    """Losses from the training outputs (sniper.TRAIN_OUTPUTS) and the loader's RPN targets.

    Inputs: rpn_cls_score (B, 2, N), rpn_bbox_pred (B, 4A, fh, fw), rcnn_cls_score (B, R, K),
    rcnn_bbox_pred (B, R, 4), rcnn_label (B, R), rcnn_bbox_target, rcnn_bbox_weight (B, R, 4),
    rpn_label (B, N), rpn_bbox_target, rpn_bbox_weight (B, 4A, fh, fw).
    Returns LOSS_OUTPUTS: total (1,), the four components (1,) each, then for metrics rpn_cls_prob
    (B, 2, N), rpn_label (B, N), rpn_l1_sum (1,), rcnn_cls_prob (B, R, K), rcnn_label (B, R), rcnn_l1_sum (1,)
    (no gradient through these).
    focus (TRAIN.AUTO_FOCUS): two more inputs, focus_score (B, 2, fh, fw) and focus_label (B, fh, fw); the
    total adds the FocusPixel CE (lib/model/focus_head.py, weight 1 as the original) and FOCUS_OUTPUTS follow.
    """

    def __init__(self, rpn_batch_size=256, rcnn_cls_norm="valid", num_rois=300, focus=False, **kwargs):
        super().__init__(**kwargs)
        if rcnn_cls_norm not in ("valid", "rois"):
            raise ValueError("rcnn_cls_norm must be 'valid' or 'rois', got %r" % rcnn_cls_norm)
        self._rpn_batch, self._rcnn_norm, self._num_rois = rpn_batch_size, rcnn_cls_norm, num_rois
        self._focus = focus
        self.output_names = LOSS_OUTPUTS + (FOCUS_OUTPUTS if focus else ())

    def hybrid_forward(self, F, rpn_cls_score, rpn_bbox_pred, rcnn_cls_score, rcnn_bbox_pred, rcnn_label,
                       rcnn_bbox_target, rcnn_bbox_weight, rpn_label, rpn_bbox_target, rpn_bbox_weight,
                       *focus_inputs):
        images, rpn_cls, rpn_l1, rpn_l1_sum = rpn_losses(F, rpn_cls_score, rpn_bbox_pred, rpn_label,
                                                         rpn_bbox_target, rpn_bbox_weight, self._rpn_batch)
        ce, count = masked_ce(F, F.log_softmax(rcnn_cls_score, axis=-1), rcnn_label, axis=-1)
        rcnn_cls = ce / (F.maximum(count, 1.0) if self._rcnn_norm == "valid" else images * self._num_rois)
        rcnn_l1_sum = smooth_l1_sum(F, rcnn_bbox_pred, rcnn_bbox_target, rcnn_bbox_weight)
        rcnn_l1 = rcnn_l1_sum / (images * RCNN_L1_DENOMINATOR)
        total = rpn_cls + rpn_l1 + rcnn_cls + rcnn_l1
        metrics = (F.softmax(rpn_cls_score, axis=1), rpn_label, rpn_l1_sum,
                   F.softmax(rcnn_cls_score, axis=-1), rcnn_label, rcnn_l1_sum)
        outputs = (total, rpn_cls, rpn_l1, rcnn_cls, rcnn_l1) + tuple(F.stop_gradient(m) for m in metrics)
        if not self._focus:
            return outputs
        focus_score, focus_label = focus_inputs
        focus_cls, focus_prob = focus_loss(F, focus_score, focus_label)
        return ((total + focus_cls,) + outputs[1:] +
                (focus_cls, F.stop_gradient(focus_prob), F.stop_gradient(focus_label)))


class RPNLoss(gluon.HybridBlock):
    """The RPN-only network's losses (TRAIN.ONLY_PROPOSAL): RPN_LOSS_OUTPUTS from
    rpn_cls_score (B, 2, N), rpn_bbox_pred (B, 4A, fh, fw) and the loader's RPN targets."""
    output_names = RPN_LOSS_OUTPUTS

    def __init__(self, rpn_batch_size=256, **kwargs):
        super().__init__(**kwargs)
        self._rpn_batch = rpn_batch_size

    def hybrid_forward(self, F, rpn_cls_score, rpn_bbox_pred, rpn_label, rpn_bbox_target, rpn_bbox_weight):
        _, rpn_cls, rpn_l1, l1_sum = rpn_losses(F, rpn_cls_score, rpn_bbox_pred, rpn_label, rpn_bbox_target,
                                                rpn_bbox_weight, self._rpn_batch)
        metrics = (F.softmax(rpn_cls_score, axis=1), rpn_label, l1_sum)
        return (rpn_cls + rpn_l1, rpn_cls, rpn_l1) + tuple(F.stop_gradient(m) for m in metrics)


def build_loss(cfg):
    """The loss block for the config: RPNLoss with TRAIN.ONLY_PROPOSAL, else SNIPERLoss (RPN_BATCH_SIZE, and
    the MobileNetV2 variant's rcnn CE normalisation); lib.model.mask_loss.build_loss_with_masks adds the mask
    branch's."""
    if cfg.TRAIN.ONLY_PROPOSAL:
        return RPNLoss(cfg.TRAIN.RPN_BATCH_SIZE, prefix="rpn_loss_")
    norm = "rois" if cfg.network.BACKBONE == "mobilenetv2" else "valid"
    return SNIPERLoss(cfg.TRAIN.RPN_BATCH_SIZE, norm, focus=bool(cfg.TRAIN.AUTO_FOCUS), prefix="sniper_loss_")


def loss_inputs(outputs, rpn_label, rpn_bbox_target, rpn_bbox_weight, focus_label=None):
    """The loss block's arguments from the network's training outputs (a tuple in sniper.TRAIN_OUTPUTS order,
    focus_score only with the FocusPixel branch, then any mask outputs) and the loader's RPN targets (and its
    FocusPixel labels when the network has the focus output): the box losses' ten, then (focus_score,
    focus_label), then the mask outputs."""
    core = len(TRAIN_OUTPUTS) - 1  # every output but the optional focus_score
    named, rest = TrainOutput(*outputs[:core]), tuple(outputs[core:])
    focus = ()
    if focus_label is not None:
        focus, rest = (rest[0], focus_label), rest[1:]
    return (named.rpn_cls_score, named.rpn_bbox_pred, named.rcnn_cls_score, named.rcnn_bbox_pred,
            named.rcnn_label, named.rcnn_bbox_target, named.rcnn_bbox_weight,
            rpn_label, rpn_bbox_target, rpn_bbox_weight) + focus + rest
