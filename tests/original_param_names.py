"""The parameter names and shapes of the original SNIPER's checkpoints, written down from reading its symbols.

Nothing of the original is run or parsed: each group below names the file and lines it was read from
(github.com/mahyarnajibi/SNIPER at 66d7d5b, `symbols/faster/`; R101 = resnet_mx_101_e2e.py, R50 =
resnet_mx_50_e2e.py, MNV2 = mobilenetv2_e2e.py, MASK = resnet_mx_101_e2e_mask.py), and its loops are
mirrored by the loops here.

Shapes follow MXNet's shape rules for the layers the symbols declare:
  Convolution / DeformableConvolution  weight (num_filter, in_channels / num_group, kh, kw); bias (num_filter,)
                                       unless no_bias=True
  Deconvolution                        weight (in_channels, num_filter / num_group, kh, kw); no bias (its
                                       no_bias defaults to true, SNIPER-mxnet src/operator/nn/deconvolution-inl.h:98)
  FullyConnected                       weight (num_hidden, flattened input size), bias (num_hidden,)
  BatchNorm                            gamma, beta (arguments) and moving_mean, moving_var (auxiliary states),
                                       each (channels,); gamma exists even with fix_gamma=True
in_channels is the channel count of the layer's input, followed through the symbol. The paper configs
(configs/faster/sniper_{res101,res50,mobilenetv2}_e2e.yml) give 81 classes (COCO, dataset.NUM_CLASSES),
NUM_ANCHORS 21 (ResNet) / 15 (MobileNetV2) and class-agnostic regression (num_reg_classes = 1 in the symbols,
so bbox_pred has 4 outputs). mx.model.save_checkpoint writes arguments as 'arg:<name>' and auxiliary states
as 'aux:<name>'.

Layouts:
* detector: what the original's training writes each epoch (main_train.py:139-140): every parameter of
  get_symbol_rcnn plus the epoch callback's bbox_pred_weight_test / bbox_pred_bias_test
  (R101:6-17, R50:5-16, MNV2:138-149: the stds-scaled copies of bbox_pred, same shapes).
* imagenet: what `network.pretrained` must supply (main_train.py:98, train_utils/utils.py:45-100): every
  backbone parameter init_weight_rcnn does not set (R101:450-485 sets the conv5 offsets and all new layers;
  MNV2:370-391 only new layers), plus the classifier the file was trained with. The classifier is not in the
  SNIPER repository; it is the one of the symbols these backbones come from: MXNet's pre-activation ResNet
  (final BatchNorm `bn1` (2048) and FullyConnected `fc1`) and liangfu/mxnet-mobilenet-v2, which MNV2:1-6
  credits (`fc`, 1000 x 1280, its models/mobilenetv2-1_0-symbol.json). Their class count does not matter:
  they are dropped.
"""
NUM_CLASSES = 81
RESNET_ANCHORS, MOBILENET_ANCHORS = 21, 15
RESNET_UNITS = {"resnet101": (3, 4, 23, 3), "resnet50": (3, 4, 6, 3)}  # R101:28, R50:26
FILTERS = (64, 256, 512, 1024, 2048)  # filter_list, R101:29, R50:27
# (t, c, n, s) bottleneck settings, MNV2:124-132; first conv 32 (MNV2:122), last conv 1280 (MNV2:133)
MOBILENET_SEQUENCES = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                       (6, 160, 3, 2), (6, 320, 1, 1))
AUX_SUFFIXES = ("_moving_mean", "_moving_var")


def conv(name, num_filter, in_channels, kernel, bias=True, groups=1):
    shapes = {name + "_weight": (num_filter, in_channels // groups, kernel, kernel)}
    if bias:
        shapes[name + "_bias"] = (num_filter,)
    return shapes


def batch_norm(name, channels):
    return {name + suffix: (channels,) for suffix in ("_gamma", "_beta") + AUX_SUFFIXES}


def dense(name, num_hidden, in_size):
    return {name + "_weight": (num_hidden, in_size), name + "_bias": (num_hidden,)}


def checkpoint_key(name):
    """'arg:<name>' or 'aux:<name>' as mx.model.save_checkpoint writes it."""
    return ("aux:" if name.endswith(AUX_SUFFIXES) else "arg:") + name


def resnet_unit(name, num_filter, in_channels, deformable, first):
    """One pre-activation bottleneck.

    residual_unit R101:36-69 (R50:34-67): bn1 on the input, conv1 1x1 F/4, bn2, conv2 3x3 F/4, bn3,
    conv3 1x1 F, all no_bias; `_sc` 1x1 F on act1 when dim_match is False (`first`: the first unit of a
    stage, R101:412 and 431).
    residual_unit_deform R101:106-145 (R50:104-143) for conv5: the offset conv is named `<unit>_offset`
    (R101:121-123: 72 filters, 3x3, with bias, on act2) and conv2 is a DeformableConvolution with 512
    filters, no bias (R101:124-128).
    """
    mid = num_filter // 4
    shapes = dict(batch_norm(name + "_bn1", in_channels))
    shapes.update(conv(name + "_conv1", mid, in_channels, 1, bias=False))
    shapes.update(batch_norm(name + "_bn2", mid))
    if deformable:
        shapes.update(conv(name + "_offset", 72, mid, 3))
    shapes.update(conv(name + "_conv2", mid, mid, 3, bias=False))
    shapes.update(batch_norm(name + "_bn3", mid))
    shapes.update(conv(name + "_conv3", num_filter, mid, 1, bias=False))
    if first:
        shapes.update(conv(name + "_sc", num_filter, in_channels, 1, bias=False))
    return shapes


def resnet_backbone(depth, deformable=True):
    """resnetc4 R101:394-420 (R50:373-399) and resnetc5 R101:422-448 (R50:401-427).

    bn_data on the 3-channel image (R101:402), conv0 7x7 64 no bias (R101:403), bn0 (R101:407); stages 1-3
    of `units` residual_units named 'stage%d_unit%d' (R101:411-418), stage 4 of residual_unit_deform
    (R101:429-446). deformable=False: the ImageNet file's plain stage 4 (no offset convs).
    """
    units = RESNET_UNITS[depth]
    shapes = dict(batch_norm("bn_data", 3))
    shapes.update(conv("conv0", FILTERS[0], 3, 7, bias=False))
    shapes.update(batch_norm("bn0", FILTERS[0]))
    in_channels = FILTERS[0]
    for i, count in enumerate(units):
        for j in range(count):
            shapes.update(resnet_unit("stage%d_unit%d" % (i + 1, j + 1), FILTERS[i + 1], in_channels,
                                      deformable and i == 3, j == 0))
            in_channels = FILTERS[i + 1]
    return shapes


def rcnn_head(in_channels, anchors, rpn_channels, fc_channels):
    """RPN and RCNN head of get_symbol_rcnn.

    get_rpn R101:147-155 (R50:145-153, MNV2:162-170): rpn_conv_3x3 3x3 (512 ResNet / 256 MNV2) with bias,
    rpn_cls_score 1x1 2A, rpn_bbox_pred 1x1 4A. conv_new_1 1x1 256 (R101:256, R50:255, MNV2:244); the
    `offset` FC with 7*7*2 outputs on the 256x7x7 pooled map (R101:288, R50:277, MNV2:261); fc_new_1 and
    fc_new_2 (1024 ResNet R101:295-298, R50:284-287; 512 MNV2:271-274); cls_score 81 and bbox_pred 4
    (R101:302-303, R50:291-292, MNV2:279-280).
    """
    pooled = 256 * 7 * 7
    shapes = dict(conv("rpn_conv_3x3", rpn_channels, in_channels, 3))
    shapes.update(conv("rpn_cls_score", 2 * anchors, rpn_channels, 1))
    shapes.update(conv("rpn_bbox_pred", 4 * anchors, rpn_channels, 1))
    shapes.update(conv("conv_new_1", 256, in_channels, 1))
    shapes.update(dense("offset", 7 * 7 * 2, pooled))
    shapes.update(dense("fc_new_1", fc_channels, pooled))
    shapes.update(dense("fc_new_2", fc_channels, fc_channels))
    shapes.update(dense("cls_score", NUM_CLASSES, fc_channels))
    shapes.update(dense("bbox_pred", 4, fc_channels))
    return shapes


def tester_copies(fc_channels):
    """The epoch callback's stds-scaled bbox_pred copies (R101:12-13, R50:10-11, MNV2:143-144)."""
    return {"bbox_pred_weight_test": (4, fc_channels), "bbox_pred_bias_test": (4,)}


def mobilenet_unit(prefix, num_filter, in_channels, kernel, groups=1):
    """MNV2:27-42: `<prefix>-conv2d` (no bias) and `<prefix>-batchnorm`."""
    shapes = conv(prefix + "-conv2d", num_filter, in_channels, kernel, bias=False, groups=groups)
    shapes.update(batch_norm(prefix + "-batchnorm", num_filter))
    return shapes


def mobilenet_backbone():
    """first-3x3-conv (MNV2:194-203), the bottleneck loop (MNV2:208-215) and last-1x1-conv (MNV2:217-225).

    invresi_blocks (MNV2:89-117) names blocks 'seq-%d-block0' then 'seq-%d-block%d' for 1..n-1 with the
    sequence index from 0; inverted_residual_unit (MNV2:45-86): `-exp` 1x1 to round(in*t) (also for t = 1),
    `-depthwise` 3x3 with num_group = that width, `-linear` 1x1 to c.
    """
    shapes = mobilenet_unit("first-3x3-conv", 32, 3, 3)
    in_channels = 32
    for i, (t, c, n, _) in enumerate(MOBILENET_SEQUENCES):
        for j in range(n):
            prefix, mid = "seq-%d-block%d" % (i, j), int(round(in_channels * t))
            shapes.update(mobilenet_unit(prefix + "-exp", mid, in_channels, 1))
            shapes.update(mobilenet_unit(prefix + "-depthwise", mid, mid, 3, groups=mid))
            shapes.update(mobilenet_unit(prefix + "-linear", c, mid, 1))
            in_channels = c
    shapes.update(mobilenet_unit("last-1x1-conv", 1280, in_channels, 1))
    return shapes


def detector_layout(backbone):
    """{name: shape} of a released / epoch checkpoint of `backbone` (resnet101, resnet50, mobilenetv2)."""
    if backbone == "mobilenetv2":
        shapes = mobilenet_backbone()
        shapes.update(rcnn_head(1280, MOBILENET_ANCHORS, 256, 512))
        shapes.update(tester_copies(512))
        return shapes
    shapes = resnet_backbone(backbone)
    shapes.update(rcnn_head(FILTERS[3] + FILTERS[4], RESNET_ANCHORS, 512, 1024))  # concat of conv4, conv5 (R101:250)
    shapes.update(tester_copies(1024))
    return shapes


def imagenet_layout(backbone):
    """{name: shape} of the `network.pretrained` file of `backbone` (see the module docstring)."""
    if backbone == "mobilenetv2":
        return dict(mobilenet_backbone(), **dense("fc", 1000, 1280))
    shapes = resnet_backbone(backbone, deformable=False)
    shapes.update(batch_norm("bn1", FILTERS[4]))
    shapes.update(dense("fc1", 1000, FILTERS[4]))
    return shapes


# The extra layers of the original's AutoFocus and mask symbols, on top of the ResNet-101 detector layout.
def autofocus_layers():
    """FocusPixel branch on the 3072-channel concat, built when TRAIN/TEST.AUTO_FOCUS (R101:259-267):
    conv_new_2 3x3 256, conv_new_3 1x1 256, conv_new_out 1x1 2, all with bias."""
    shapes = dict(conv("conv_new_2", 256, 3072, 3))
    shapes.update(conv("conv_new_3", 256, 256, 1))
    shapes.update(conv("conv_new_out", 2, 256, 1))
    return shapes


def mask_layers():
    """Mask head of resnet_mx_101_e2e_mask (MASK:238-254, 376-389; initialised in MASK:524-541).

    mask_offset FC 14*14*2 on the 256x14x14 pooled map (MASK:379); four mask_conv_3x3_<k> 3x3 256 with bias
    (MASK:240-243); mask_deconv 2x2 stride 2 to 256, no bias (MASK:247-248); mask_out 1x1 to 80*2
    (MASK:252-253).
    """
    shapes = dict(dense("mask_offset", 14 * 14 * 2, 256 * 14 * 14))
    for k in range(1, 5):
        shapes.update(conv("mask_conv_3x3_%d" % k, 256, 256, 3))
    shapes["mask_deconv_weight"] = (256, 256, 2, 2)
    shapes.update(conv("mask_out", 160, 256, 1))
    return shapes
