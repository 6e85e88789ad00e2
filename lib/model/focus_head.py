"""FocusPixel branch of AutoFocus (the original's symbols/faster/resnet_mx_101_e2e.py:259-267, 313-315, 385-386).

On the backbone's conv4 ⊕ conv5 features, per stride cell, two logits (class 1 = a small object is here):

    feat (B, C, H, W) -> conv_new_2 (3x3, W, pad 1) -> ReLU -> conv_new_3 (1x1, W) -> ReLU
                      -> conv_new_out (1x1, 2)  = focus_score (B, 2, H, W)

W = 256 as the original's ResNet-101 symbol (the tiny CPU backbone narrows it, as it narrows its other heads).
New layers: N(0, 0.01) weights, zero bias (the original's init_weight_rcnn, :468-474). The names are the
original's, so its checkpoints load by name. Loss: softmax cross-entropy per cell over the cells whose label is
not -1, averaged over them (its SoftmaxOutput with multi_output, use_ignore, ignore_label -1 and
normalization 'valid', :314-315). Test output: the softmax over the two channels (:386).
"""
from mxnet import gluon

from lib.model.rpn import new_conv

FOCUS_CHANNELS = 256


class FocusHead(gluon.HybridBlock):
    """(B, C, H, W) float32 features -> (B, 2, H, W) focus logits."""

    def __init__(self, in_channels, channels=FOCUS_CHANNELS, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv2 = new_conv("conv_new_2_", channels, in_channels, 3)
            self.conv3 = new_conv("conv_new_3_", channels, channels, 1)
            self.out = new_conv("conv_new_out_", 2, channels, 1)

    def hybrid_forward(self, F, feat):
        return self.out(F.relu(self.conv3(F.relu(self.conv2(feat)))))


def focus_loss(F, focus_score, focus_label):
    """focus_score (B, 2, H, W) logits, focus_label (B, H, W) with 1 / 0 / -1 (ignored) ->
    (mean CE over the cells not ignored (1,), softmax probabilities (B, 2, H, W)).

    With no cell left the loss is 0 (the mean divides by max(count, 1), as SoftmaxOutput's 'valid')."""
    log_prob = F.log_softmax(focus_score, axis=1)
    valid = focus_label != -1
    picked = F.pick(log_prob, F.relu(focus_label), axis=1)
    return -F.sum(picked * valid) / F.maximum(F.sum(valid), 1.0), F.softmax(focus_score, axis=1)
