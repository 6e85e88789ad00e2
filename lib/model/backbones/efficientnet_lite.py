"""EfficientNet-Lite0 (Tan & Le 2019, the "Lite" variant: no squeeze-excite, ReLU6) as a SNIPER backbone.

The ImageNet weights come from a PyTorch state dict; layers are named after it (`_blocks.3._bn1.weight` ->
`blocks3_bn1_gamma`), see `torch_name`. Strided convolutions pad as TensorFlow's "SAME" on even inputs
(nothing before, the rest after), which is how the weights were trained; inputs are padded to a multiple of 32.

Detection (`dilated=True`): the last stride-2 stage (stage 6) runs at stride 1 with its depthwise convs and
those after it dilated by 2, so the network stays at stride 16, as SNIPER's ResNet does with conv5. The
features are stage 5's output (112 channels, stride 16, SNIPER's "conv4") concatenated with the 1x1 head conv
(1280 channels, SNIPER's "conv5"):

    (B, 3, H, W) f32 -> stem 3x3/2 (32) -> 16 MBConv blocks -> head 1x1 (1280) -> (B, 1392, H/16, W/16) f32
Classification (`dilated=False`): stride 32, global average pool and the 1000-way FC: (B, 3, H, W) -> (B, 1000).
"""
from mxnet import gluon
from mxnet.gluon import nn

# Per stage: (expansion, kernel, first stride, output channels, repeats); EfficientNet-B0's table (Lite0 keeps
# B0's width and depth).
STAGES = ((1, 3, 1, 16, 1), (6, 3, 2, 24, 2), (6, 5, 2, 40, 2), (6, 3, 2, 80, 3),
          (6, 5, 1, 112, 3), (6, 5, 2, 192, 4), (6, 3, 1, 320, 1))
STEM, HEAD = 32, 1280
CONV4_BLOCK = 10  # last block of stage 5, the stride-16 features concatenated with the head
BN_EPS = 1e-3  # the weights' BN epsilon (TensorFlow's default for EfficientNet)
INPUT_STD = 128.0  # Lite models take (RGB - 127) / 128; SNIPER subtracts PIXEL_MEANS, the network divides


def block_specs(dilated):
    """[(expansion, kernel, stride, dilation, in_channels, out_channels)] for the 16 MBConv blocks."""
    specs, channels, dilation = [], STEM, 1
    for stage, (expansion, kernel, stride, out, repeats) in enumerate(STAGES):
        if dilated and stage == 5:
            stride, dilation = 1, 2
        for r in range(repeats):
            specs.append((expansion, kernel, stride if r == 0 else 1, dilation, channels, out))
            channels = out
    return specs


class SamePad(gluon.HybridBlock):
    """Zero padding of (kernel - 2) // 2 before and the rest after, TensorFlow "SAME" for stride 2 on even sizes."""

    def __init__(self, kernel, **kwargs):
        super().__init__(**kwargs)
        total = kernel - 2
        self._pad = (0, 0, 0, 0, total // 2, total - total // 2, total // 2, total - total // 2)

    def hybrid_forward(self, F, x):
        return F.pad(x, mode="constant", pad_width=self._pad)


def conv_bn(prefix, bn_prefix, *, channels, in_channels, kernel, stride=1, dilation=1, groups=1,
            relu6=True, momentum=0.99, frozen=False):
    """[same pad] -> conv (no bias) -> BN -> [ReLU6] as a list of blocks; names `<prefix>weight`, `<bn_prefix>*`.

    frozen: the BN uses its running (pretrained) statistics in training too (use_global_stats) and never updates them.
    """
    layers = []
    if stride == 2:
        layers.append(SamePad(kernel))
        padding = 0
    else:
        padding = dilation * (kernel - 1) // 2
    layers.append(nn.Conv2D(channels, kernel, stride, padding, dilation, groups=groups, use_bias=False,
                            in_channels=in_channels, prefix=prefix))
    layers.append(nn.BatchNorm(epsilon=BN_EPS, momentum=momentum, use_global_stats=frozen, in_channels=channels,
                               prefix=bn_prefix))
    if relu6:
        layers.append(nn.HybridLambda(lambda F, x: F.clip(x, 0, 6)))
    return layers


class MBConv(gluon.HybridBlock):
    """1x1 expand (unless expansion 1) -> k x k depthwise -> 1x1 linear projection (+ input when shapes match)."""

    def __init__(self, index, expansion, kernel, stride, dilation, in_channels, out_channels, momentum, frozen=False,
                 **kwargs):
        super().__init__(prefix="blocks%d_" % index, **kwargs)
        mid = in_channels * expansion
        self._residual = stride == 1 and in_channels == out_channels
        bn = dict(momentum=momentum, frozen=frozen)
        with self.name_scope():
            self.body = nn.HybridSequential(prefix="")
            if expansion != 1:
                self.body.add(*conv_bn("expand_conv_", "bn0_", channels=mid, in_channels=in_channels,
                                       kernel=1, **bn))
            self.body.add(*conv_bn("depthwise_conv_", "bn1_", channels=mid, in_channels=mid, kernel=kernel,
                                   stride=stride, dilation=dilation, groups=mid, **bn))
            self.body.add(*conv_bn("project_conv_", "bn2_", channels=out_channels, in_channels=mid, kernel=1,
                                   relu6=False, **bn))

    def hybrid_forward(self, F, x):
        out = self.body(x)
        return out + x if self._residual else out


class EfficientNetLite0(gluon.HybridBlock):
    """(B, 3, H, W) RGB minus the pixel means, f32 -> (B, 1392, H/16, W/16) features, or (B, 1000) logits."""
    stride = 16
    out_channels = STAGES[4][3] + HEAD
    rpn_channels, head_channels, fc_channels = 256, 256, 512

    def __init__(self, momentum=0.99, dtype="float32", dilated=True, classes=0, frozen_bn=False, **kwargs):
        """frozen_bn: every BN keeps its pretrained statistics in training (network.FREEZE_BN_STATS)."""
        super().__init__(**kwargs)
        self._dtype, self._classify = dtype, classes > 0
        with self.name_scope():
            self.stem = nn.HybridSequential(prefix="")
            self.stem.add(*conv_bn("conv_stem_", "bn0_", channels=STEM, in_channels=3, kernel=3, stride=2,
                                   momentum=momentum, frozen=frozen_bn))
            specs = block_specs(dilated)
            self.conv4 = nn.HybridSequential(prefix="")
            self.conv5 = nn.HybridSequential(prefix="")
            for index, spec in enumerate(specs):
                part = self.conv4 if index <= CONV4_BLOCK else self.conv5
                part.add(MBConv(index, *spec, momentum=momentum, frozen=frozen_bn))
            self.conv5.add(*conv_bn("conv_head_", "bn1_", channels=HEAD, in_channels=specs[-1][-1], kernel=1,
                                    momentum=momentum, frozen=frozen_bn))
            if self._classify:
                self.fc = nn.Dense(classes, in_units=HEAD, prefix="fc_")
        self.conv4.cast(dtype)
        self.conv5.cast(dtype)

    def hybrid_forward(self, F, x):
        x = F.cast(self.stem(x / INPUT_STD), self._dtype)
        conv4 = self.conv4(x)
        conv5 = self.conv5(conv4)
        if self._classify:
            return self.fc(F.cast(F.mean(conv5, axis=(2, 3)), "float32"))
        return F.cast(F.concat(conv4, conv5, dim=1), "float32")


def torch_name(name):
    """This network's parameter name -> the PyTorch state-dict key it is loaded from.

    `blocks3_bn1_gamma` -> `_blocks.3._bn1.weight`, `conv_stem_weight` -> `_conv_stem.weight`,
    BN gamma/beta -> weight/bias, running statistics keep their names.
    """
    suffix = {"gamma": "weight", "beta": "bias"}
    for stat in ("running_mean", "running_var"):
        if name.endswith(stat):
            layer, leaf = name[:-len(stat) - 1], stat
            break
    else:
        layer, leaf = name.rsplit("_", 1)
        leaf = suffix.get(leaf, leaf)
    if layer.startswith("blocks"):
        index, rest = layer[len("blocks"):].split("_", 1)
        return "_blocks.%s._%s.%s" % (index, rest, leaf)
    return "_%s.%s" % (layer, leaf)
