"""MobileNetV2 backbone as the original's `mobilenetv2_e2e` variant (symbols/faster/mobilenetv2_e2e.py).

No stride change and no deformable convolution: total stride 32; the heads sit on the final 1280-channel
map (not a concat). BN eps 1e-5, momentum from the config, trained with batch statistics.

    (B, 3, H, W) f32 -> first 3x3/2 conv (32) -> BN -> ReLU6 -> [cast]
    -> 7 inverted-residual sequences -> 1x1 conv (1280) -> BN -> ReLU6 -> [cast back]
    -> (B, 1280, ceil(H/32), ceil(W/32)) f32
"""
from mxnet import gluon
from mxnet.gluon import nn

# (expansion t, channels c, repeats n, first stride s)
SEQUENCES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2),
             (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))
LAST_CHANNELS = 1280


def conv_bn(prefix, channels, in_channels, kernel, stride, groups, momentum, relu6=True):
    """conv (no bias) -> BN -> optional ReLU6; (B, in, H, W) -> (B, channels, H/stride, W/stride)."""
    block = nn.HybridSequential(prefix=prefix)
    with block.name_scope():
        block.add(nn.Conv2D(channels, kernel, stride, kernel // 2, groups=groups, use_bias=False,
                            in_channels=in_channels, prefix="conv_"))
        block.add(nn.BatchNorm(epsilon=1e-5, momentum=momentum, in_channels=channels, prefix="bn_"))
        if relu6:
            block.add(nn.HybridLambda(lambda F, x: F.clip(x, 0, 6)))
    return block


class InvertedResidual(gluon.HybridBlock):
    """1x1 expand (always, even for t = 1) -> 3x3 depthwise (stride) -> 1x1 linear projection (+ input)."""

    def __init__(self, in_channels, channels, expansion, stride, residual, momentum, **kwargs):
        super().__init__(**kwargs)
        mid = in_channels * expansion
        self._residual = residual
        with self.name_scope():
            self.expand = conv_bn("expand_", mid, in_channels, 1, 1, 1, momentum)
            self.depthwise = conv_bn("dw_", mid, mid, 3, stride, mid, momentum)
            self.project = conv_bn("project_", channels, mid, 1, 1, 1, momentum, relu6=False)

    def hybrid_forward(self, F, x):
        out = self.project(self.depthwise(self.expand(x)))
        return out + x if self._residual else out


class MobileNetV2(gluon.HybridBlock):
    """(B, 3, H, W) float32 -> (B, 1280, H/32, W/32) float32."""
    stride = 32
    out_channels = LAST_CHANNELS
    rpn_channels, head_channels, fc_channels = 256, 256, 512

    def __init__(self, momentum=0.995, dtype="float32", **kwargs):
        super().__init__(**kwargs)
        self._dtype = dtype
        with self.name_scope():
            self.first = conv_bn("first_", 32, 3, 3, 2, 1, momentum)
            self.body = nn.HybridSequential(prefix="")
            in_channels = 32
            for i, (t, c, n, s) in enumerate(SEQUENCES):
                for j in range(n):
                    self.body.add(InvertedResidual(in_channels, c, t, s if j == 0 else 1, j > 0, momentum,
                                                   prefix="seq%d_block%d_" % (i + 1, j + 1)))
                    in_channels = c
            self.body.add(conv_bn("last_", LAST_CHANNELS, in_channels, 1, 1, 1, momentum))
        self.body.cast(dtype)

    def hybrid_forward(self, F, x):
        return F.cast(self.body(F.cast(self.first(x), self._dtype)), "float32")
