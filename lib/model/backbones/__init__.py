"""Backbones chosen by `network.BACKBONE`: each returns one feature map for the RPN and the head.

Every backbone has `stride` (feature stride in pixels), `out_channels` and the widths its heads use
(`rpn_channels`, `head_channels` = conv_new_1, `fc_channels`), following the reference's variants.
"""
from lib.model.backbones.efficientnet_lite import EfficientNetLite0
from lib.model.backbones.mobilenetv2 import MobileNetV2
from lib.model.backbones.resnet import UNITS, PreActResNet
from lib.model.backbones.tiny import TinyBackbone

BACKBONES = ("resnet101", "resnet50", "mobilenetv2", "efficientnet_lite0", "tiny")


def build_backbone(name, momentum=0.995, dtype="float32", frozen_bn=False):
    """The backbone block for `network.BACKBONE`; a wrong name raises ValueError naming the key.

    frozen_bn (network.FREEZE_BN_STATS): every BN keeps its pretrained statistics in training; efficientnet_lite0
    only (the ResNets freeze their stage-1 BN as the original; ValueError for the others).
    """
    if frozen_bn and name != "efficientnet_lite0":
        raise ValueError("network.FREEZE_BN_STATS is supported by network.BACKBONE efficientnet_lite0 only, got %r"
                         % (name,))
    if name in UNITS:
        return PreActResNet(name, momentum, dtype, prefix="")
    if name == "mobilenetv2":
        return MobileNetV2(momentum, dtype, prefix="")
    if name == "efficientnet_lite0":
        return EfficientNetLite0(momentum, dtype, frozen_bn=frozen_bn, prefix="")
    if name == "tiny":
        return TinyBackbone(momentum, dtype, prefix="")
    raise ValueError("network.BACKBONE must be one of %s, got %r" % (", ".join(BACKBONES), name))
