"""Pre-activation ("v2") ResNet-50/101 backbone as the original's `resnet_mx_*_e2e` (symbols/faster/).

Parameter names are the original MXNet symbol's (`conv0_weight`, `stage1_unit1_bn1_gamma`,
`stage4_unit2_conv2_offset_bias`, ...; BN statistics `*_running_mean/var` for its `*_moving_mean/var`), so
`FIXED_PARAMS` substrings and checkpoint names match the original one to one.

    data (B, 3, H, W) f32 -> bn_data -> conv0 7x7/2 -> [cast] -> bn0-ReLU -> maxpool 3x3/2
    -> stage1 (stride 4, frozen BN) -> stage2 (8) -> stage3 (16) = conv4
    -> stage4: stride 1, dilation 2, deformable 3x3 = conv5
    -> concat(conv4, conv5) (B, 3072, H/16, W/16) -> [cast back to f32]
"""
from mxnet import gluon, init
from mxnet.gluon import nn

FILTERS = (256, 512, 1024, 2048)
UNITS = {"resnet50": (3, 4, 6, 3), "resnet101": (3, 4, 23, 3)}
BN_EPS = 2e-5


def batch_norm(prefix, channels, momentum, frozen, **kwargs):
    """The original's BN: eps 2e-5; `frozen` = global statistics (use_global_stats) in training too."""
    return nn.BatchNorm(epsilon=BN_EPS, momentum=momentum, use_global_stats=frozen,
                        in_channels=channels, prefix=prefix, **kwargs)


def conv(prefix, channels, in_channels, kernel, stride=1, pad=0, dilation=1):
    """Bias-free convolution named `<prefix>weight`."""
    return nn.Conv2D(channels, kernel, stride, pad, dilation, use_bias=False,
                     in_channels=in_channels, prefix=prefix)


class DeformableConv3x3(gluon.HybridBlock):
    """3x3 deformable convolution, stride 1, dilation 2, pad 2, 4 deformable groups, no bias (the original's
    conv5 units, symbols/faster/resnet_mx_101_e2e.py).

    The offsets come from a plain 3x3 conv (same dilation and pad, 2*9*groups channels, with bias,
    zero-initialised) named `<prefix>offset_`. (B, Cin, H, W) -> (B, channels, H, W).
    """

    def __init__(self, channels, in_channels, dilation=2, groups=4, **kwargs):
        super().__init__(**kwargs)
        self._kwargs = dict(kernel=(3, 3), stride=(1, 1), dilate=(dilation, dilation),
                            pad=(dilation, dilation), num_filter=channels,
                            num_deformable_group=groups, no_bias=True)
        with self.name_scope():
            self.offset = nn.Conv2D(2 * 9 * groups, 3, 1, dilation, dilation, in_channels=in_channels,
                                    weight_initializer=init.Zero(), bias_initializer=init.Zero(),
                                    prefix="offset_")
            self.weight = self.params.get("weight", shape=(channels, in_channels, 3, 3))

    def hybrid_forward(self, F, x, weight):
        return F.contrib.DeformableConvolution(x, self.offset(x), weight, **self._kwargs)


class PreActBottleneck(gluon.HybridBlock):
    """BN1-ReLU -> 1x1 (F/4) -> BN2-ReLU -> 3x3 (stride) -> BN3-ReLU -> 1x1 (F), plus the shortcut.

    The shortcut is identity, or a strided 1x1 conv `<unit>_sc` on ReLU1's output when dims change.
    (B, in_channels, H, W) -> (B, channels, H/stride, W/stride).
    """

    def __init__(self, channels, in_channels, stride, momentum, frozen_bn, deformable=False, **kwargs):
        super().__init__(**kwargs)
        mid = channels // 4
        with self.name_scope():
            self.bn1 = batch_norm("bn1_", in_channels, momentum, frozen_bn)
            self.conv1 = conv("conv1_", mid, in_channels, 1)
            self.bn2 = batch_norm("bn2_", mid, momentum, frozen_bn)
            if deformable:
                self.conv2 = DeformableConv3x3(mid, mid, prefix="conv2_")
            else:
                self.conv2 = conv("conv2_", mid, mid, 3, stride, 1)
            self.bn3 = batch_norm("bn3_", mid, momentum, frozen_bn)
            self.conv3 = conv("conv3_", channels, mid, 1)
            self.sc = None
            if channels != in_channels or stride != 1:
                self.sc = conv("sc_", channels, in_channels, 1, stride)

    def hybrid_forward(self, F, x):
        act1 = F.relu(self.bn1(x))
        shortcut = x if self.sc is None else self.sc(act1)
        out = self.conv1(act1)
        out = self.conv2(F.relu(self.bn2(out)))
        out = self.conv3(F.relu(self.bn3(out)))
        return out + shortcut


def make_stage(index, units, channels, in_channels, stride, momentum, frozen_bn=False, deformable=False):
    """A `stage<index>_` sequence of units `stage<index>_unit<k>_`; only the first one strides."""
    stage = nn.HybridSequential(prefix="stage%d_" % index)
    with stage.name_scope():
        for k in range(units):
            stage.add(PreActBottleneck(channels, in_channels if k == 0 else channels,
                                       stride if k == 0 else 1, momentum, frozen_bn, deformable,
                                       prefix="unit%d_" % (k + 1)))
    return stage


class PreActResNet(gluon.HybridBlock):
    """ResNet-50/101 feature extractor returning conv4 ⊕ conv5 at stride 16.

    (B, 3, H, W) float32 -> (B, 3072, ceil(H/16), ceil(W/16)) float32. With dtype 'float16' everything
    between conv0 and the concat (BN parameters excepted) runs in float16.
    """
    stride = 16
    out_channels = FILTERS[2] + FILTERS[3]
    conv4_channels = FILTERS[2]  # the first channels of the output (the mask variant's RPN reads only these)
    rpn_channels, head_channels, fc_channels = 512, 256, 1024

    def __init__(self, depth="resnet101", momentum=0.995, dtype="float32", **kwargs):
        super().__init__(**kwargs)
        units = UNITS[depth]
        self._dtype = dtype
        with self.name_scope():
            self.bn_data = nn.BatchNorm(epsilon=BN_EPS, scale=False, use_global_stats=True,
                                        in_channels=3, prefix="bn_data_")
            self.conv0 = conv("conv0_", 64, 3, 7, 2, 3)
            self.bn0 = batch_norm("bn0_", 64, momentum, True)
            self.stage1 = make_stage(1, units[0], FILTERS[0], 64, 1, momentum, frozen_bn=True)
            self.stage2 = make_stage(2, units[1], FILTERS[1], FILTERS[0], 2, momentum)
            self.stage3 = make_stage(3, units[2], FILTERS[2], FILTERS[1], 2, momentum)
            self.stage4 = make_stage(4, units[3], FILTERS[3], FILTERS[2], 1, momentum, deformable=True)
        for block in (self.bn0, self.stage1, self.stage2, self.stage3, self.stage4):
            block.cast(dtype)

    def hybrid_forward(self, F, x):
        x = self.conv0(self.bn_data(x))
        x = F.cast(x, self._dtype)
        x = F.Pooling(F.relu(self.bn0(x)), kernel=(3, 3), stride=(2, 2), pad=(1, 1), pool_type="max")
        conv4 = self.stage3(self.stage2(self.stage1(x)))
        conv5 = self.stage4(conv4)
        return F.cast(F.concat(conv4, conv5, dim=1), "float32")
