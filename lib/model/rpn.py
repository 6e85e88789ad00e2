"""Region proposal network head (the original's symbols/faster/resnet_mx_101_e2e.py, `rpn_conv_3x3` on).

    feat (B, C, H, W) -> rpn_conv_3x3 (3x3, `channels`, bias) -> ReLU
        -> rpn_cls_score (1x1, 2A) reshaped to (B, 2, A*H*W): index a*H*W + y*W + x, class 0 = background
        -> rpn_bbox_pred (1x1, 4A): (B, 4A, H, W), channel 4a + coordinate
The reshape is the original's (N, 2, A*H, W) flattened: the first A channels are background scores, the
next A foreground, so the label layout of the loader (anchor-major) lines up without a transpose.
"""
from mxnet import gluon, init
from mxnet.gluon import nn


def new_conv(prefix, channels, in_channels, kernel, weight_init=None):
    """A new (not pretrained) conv with bias, N(0, 0.01) weights unless given and zero bias (the original's
    `init_weight_rcnn`)."""
    return nn.Conv2D(channels, kernel, padding=kernel // 2, in_channels=in_channels, prefix=prefix,
                     weight_initializer=weight_init or init.Normal(0.01), bias_initializer=init.Zero())


class RPN(gluon.HybridBlock):
    """(B, C, H, W) -> (cls_score (B, 2, A*H*W), bbox_pred (B, 4A, H, W)); float32."""

    def __init__(self, in_channels, channels, num_anchors, **kwargs):
        super().__init__(**kwargs)
        with self.name_scope():
            self.conv = new_conv("rpn_conv_3x3_", channels, in_channels, 3)
            self.cls_score = new_conv("rpn_cls_score_", 2 * num_anchors, channels, 1)
            self.bbox_pred = new_conv("rpn_bbox_pred_", 4 * num_anchors, channels, 1)

    def hybrid_forward(self, F, feat):
        x = F.relu(self.conv(feat))
        return F.reshape(self.cls_score(x), shape=(0, 2, -1)), self.bbox_pred(x)
