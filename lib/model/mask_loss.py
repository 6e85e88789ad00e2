"""The mask branch's loss (the original's `mask_cls_prob` SoftmaxOutput, resnet_mx_101_e2e_mask.py:395-402),
added to the box losses of lib/model/losses.py.

    binary   (the original) per mask RoI, the two channels of its class (background logit c - 1, mask logit
             c - 1 + K - 1) as a 2-way softmax per cell
    softmax  (new, the paper's "N+1-way" row) a (K)-way softmax per cell over every class's channel: a mask cell
             is labelled with the RoI's class, a background cell 0
    mask_loss = summed cross-entropy over the cells whose target is not -1 / their number (SoftmaxOutput with
                normalization 'valid' and ignore_label -1: every non-ignored cell of the batch weighs the same)
"""
from mxnet import gluon

from lib.model.losses import build_loss, masked_ce
from lib.model.mask_head import MASK_LOSSES, class_channels


def mask_cell_logits(F, mask_score, mask_class, loss, num_classes):
    """(M, channels, S, S) logits, (M,) classes -> per-cell logits (M, 2 or K, S, S) of the loss."""
    if loss == "binary":
        return F.concat(*class_channels(F, mask_score, mask_class, num_classes), dim=1)
    return mask_score


def mask_cell_labels(F, mask_target, mask_class, loss):
    """(M, S, S) targets in {1, 0, -1}, (M,) classes -> (M, S, S) labels of the per-cell softmax (-1 ignored)."""
    if loss == "binary":
        return mask_target
    labels = F.broadcast_mul(mask_target, F.reshape(mask_class, (-1, 1, 1)))
    return F.where(mask_target < 0, mask_target, labels)


def mask_loss(F, mask_score, mask_target, mask_class, loss, num_classes):
    """-> (1,) mean cross-entropy over the cells whose target is not -1 (0 when there is none)."""
    logits = mask_cell_logits(F, mask_score, mask_class, loss, num_classes)
    labels = mask_cell_labels(F, mask_target, mask_class, loss)
    ce, count = masked_ce(F, F.log_softmax(logits, axis=1), labels, axis=1)
    return ce / F.maximum(count, 1.0)


class WithMaskLoss(gluon.HybridBlock):
    """A box loss block (SNIPERLoss) plus the mask loss: inputs are the box block's, then mask_score (M, channels,
    S, S), mask_target (M, S, S), mask_class (M,); outputs the box block's with `total` including the mask loss,
    then mask_loss (1,)."""

    def __init__(self, box_loss, *, loss, num_classes, **kwargs):
        super().__init__(**kwargs)
        if loss not in MASK_LOSSES:
            raise ValueError("TRAIN.MASK_LOSS must be one of %s, got %r" % (MASK_LOSSES, loss))
        self._loss, self._num_classes = loss, num_classes
        self.output_names = tuple(box_loss.output_names) + ("mask_loss",)
        with self.name_scope():
            self.box = box_loss

    def hybrid_forward(self, F, *args):
        box = self.box(*args[:-3])
        mask = mask_loss(F, *args[-3:], loss=self._loss, num_classes=self._num_classes)
        return (box[0] + mask,) + tuple(box[1:]) + (mask,)


def build_loss_with_masks(cfg):
    """The loss block of the config: lib.model.losses.build_loss, wrapped with the mask loss when TRAIN.WITH_MASK
    (TRAIN.MASK_LOSS)."""
    loss = build_loss(cfg)
    if not cfg.TRAIN.WITH_MASK or cfg.TRAIN.ONLY_PROPOSAL:
        return loss
    return WithMaskLoss(loss, loss=cfg.TRAIN.MASK_LOSS, num_classes=cfg.dataset.NUM_CLASSES, prefix="")
