"""A tiny CPU backbone with the ResNet backbone's interface (for tests and the quickstart).

Four strided 3x3 conv-BN-ReLU stages to stride 16 ("conv4"), one dilated 3x3 conv-BN-ReLU at stride 16
("conv5"), and their concatenation, as the ResNet's conv4 ⊕ conv5. BN uses batch statistics in
training (momentum from the config). Its RPN and head are narrowed so that a 512 chip trains in
well under a second on one CPU core.

    (B, 3, H, W) f32 -> (B, 224, ceil(H/16), ceil(W/16)) f32
"""
from mxnet import gluon
from mxnet.gluon import nn

STAGES = (16, 32, 64, 96)
CONV5 = 128


def conv_bn_relu(prefix, channels, in_channels, stride=1, dilation=1, momentum=0.995):
    """3x3 conv (no bias) -> BN -> ReLU, named `<prefix>conv_*` / `<prefix>bn_*`."""
    block = nn.HybridSequential(prefix=prefix)
    with block.name_scope():
        block.add(nn.Conv2D(channels, 3, stride, dilation, dilation, use_bias=False,
                            in_channels=in_channels, prefix="conv_"))
        block.add(nn.BatchNorm(momentum=momentum, in_channels=channels, prefix="bn_"))
        block.add(nn.Activation("relu"))
    return block


class TinyBackbone(gluon.HybridBlock):
    """(B, 3, H, W) float32 -> conv4 ⊕ conv5 (B, 224, H/16, W/16) float32; `dtype` as the ResNet's."""
    stride = 16
    out_channels = STAGES[-1] + CONV5
    conv4_channels = STAGES[-1]  # the first channels of the output (the mask variant's RPN reads only these)
    rpn_channels, head_channels, fc_channels = 64, 32, 128
    focus_channels = 64  # the FocusPixel branch (the original's 256), narrowed as the other heads

    def __init__(self, momentum=0.995, dtype="float32", **kwargs):
        super().__init__(**kwargs)
        self._dtype = dtype
        with self.name_scope():
            self.conv0 = nn.Conv2D(STAGES[0], 3, 2, 1, use_bias=False, in_channels=3, prefix="conv0_")
            self.body = nn.HybridSequential(prefix="")
            self.body.add(nn.BatchNorm(momentum=momentum, in_channels=STAGES[0], prefix="bn0_"))
            self.body.add(nn.Activation("relu"))
            for k in range(1, len(STAGES)):
                self.body.add(conv_bn_relu("stage%d_" % k, STAGES[k], STAGES[k - 1], 2,
                                           momentum=momentum))
            self.conv5 = conv_bn_relu("conv5_", CONV5, STAGES[-1], 1, 2, momentum)
        self.body.cast(dtype)
        self.conv5.cast(dtype)

    def hybrid_forward(self, F, x):
        conv4 = self.body(F.cast(self.conv0(x), self._dtype))
        return F.cast(F.concat(conv4, self.conv5(conv4), dim=1), "float32")
