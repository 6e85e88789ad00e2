"""Loading weights saved by the original SNIPER (MXNet Module .params) and ImageNet backbones.

The original's files hold `arg:<name>` / `aux:<name>` arrays (mx.model.save_checkpoint), named by its
symbols. This network keeps most of those names; `original_name` maps the rest:
* BN statistics: the original's `<bn>_moving_mean/var` are Gluon's `<bn>_running_mean/var`;
* ResNet conv5: the deformable unit's offset conv is `stage4_unit<k>_offset` in the original
  (symbols/faster/resnet_mx_101_e2e.py, residual_unit_deform) and `stage4_unit<k>_conv2_offset` here;
* MobileNetV2: the original's `first-3x3-conv-conv2d_weight`, `seq-<i>-block<j>-exp|depthwise|linear-
  conv2d|batchnorm_*` (0-based) and `last-1x1-conv-*` (symbols/faster/mobilenetv2_e2e.py, mobilenet_unit and
  inverted_residual_unit) are `first_conv_weight`, `seq<i+1>_block<j+1>_expand|dw|project_conv|bn_*` and
  `last_*` here.
Known extras are dropped by rule, each for a stated reason; anything else missing, unexpected or of the wrong
shape raises `CheckpointError` naming the file and the offending names.

    load_original_params(net, "SNIPER-0007.params")                          # a released SNIPER model
    load_original_params(net, "resnet_mx_101_open-0000.params", backbone_only=True) # network.pretrained
    load_gluon_resnet_v2(net, "~/.mxnet/models/resnet101_v2-18e93e4f.params")
"""
import os
import re

import mxnet as mx
import numpy as np
from mxnet import gluon

# In SNIPER checkpoints: the un-normalised copies of bbox_pred the original's epoch callback adds for its tester
# (checkpoint_callback in each symbol file). This network un-normalises in the graph, so only the trained
# (normalised) `bbox_pred_*` are loaded.
SNIPER_EXTRAS = re.compile(r"^bbox_pred_(weight|bias)_test$")
# In `network.pretrained` files: the ImageNet classifiers SNIPER does not use (the final BN `bn1` and FC `fc1`
# of MXNet's pre-activation ResNet, the FC `fc` of the MobileNetV2 the original's symbol comes from), and the
# layers the original re-initialises after loading whatever the file holds (init_weight_rcnn: conv5 offsets
# zero, RPN and head N(0, 0.01), AutoFocus layers; the mask symbol's init_weight_mask: its mask head), so a
# released detector can be the pretrained file too.
CONV5_OFFSETS = r"stage\d+_unit\d+_offset_"
PRETRAINED_EXTRAS = re.compile(r"^(bn1_|fc1_|fc_|%s|rpn_|conv_new_\d+_|conv_new_out_|offset_|fc_new_\d+_|"
                               r"cls_score_|bbox_pred_|mask_)" % CONV5_OFFSETS)
MOBILENET_LAYERS = {"first": "first-3x3-conv", "last": "last-1x1-conv"}
MOBILENET_PARTS = {"expand": "exp", "dw": "depthwise", "project": "linear"}
MOBILENET_KINDS = {"conv": "conv2d", "bn": "batchnorm"}


class CheckpointError(ValueError):
    """A checkpoint that does not fit the network; the message names the file and the names."""


def mobilenet_name(name):
    """This MobileNetV2's name -> the original's, or None for a name outside it.

    'seq3_block2_dw_bn_gamma' -> 'seq-2-block1-depthwise-batchnorm_gamma', 'first_conv_weight' ->
    'first-3x3-conv-conv2d_weight'.
    """
    block = re.match(r"^seq(\d+)_block(\d+)_(expand|dw|project)_(conv|bn)_(\w+)$", name)
    if block:
        seq, index, part, kind, leaf = block.groups()
        return "seq-%d-block%d-%s-%s_%s" % (int(seq) - 1, int(index) - 1, MOBILENET_PARTS[part],
                                            MOBILENET_KINDS[kind], leaf)
    end = re.match(r"^(first|last)_(conv|bn)_(\w+)$", name)
    if end:
        return "%s-%s_%s" % (MOBILENET_LAYERS[end.group(1)], MOBILENET_KINDS[end.group(2)], end.group(3))
    return None


def original_name(name):
    """This network's parameter name -> the original's (without the arg:/aux: prefix)."""
    name = re.sub(r"_running_(mean|var)$", r"_moving_\1", name)
    name = re.sub(r"^(stage\d+_unit\d+)_conv2_offset_", r"\1_offset_", name)
    return mobilenet_name(name) or name


def strip_prefix(key):
    """'arg:conv0_weight' / 'aux:bn0_moving_mean' / 'conv0_weight' -> 'conv0_weight'."""
    return key.split(":", 1)[1] if key[:4] in ("arg:", "aux:") else key


def expected_params(block):
    """{original name: Parameter} for every non-constant parameter of `block`."""
    return {original_name(name): p for name, p in block.collect_params().items()
            if not isinstance(p, gluon.Constant)}


def _summary(names, limit=8):
    names = sorted(names)
    more = " ... (+%d more)" % (len(names) - limit) if len(names) > limit else ""
    return ", ".join(names[:limit]) + more


def assign_arrays(params, arrays, source):
    """Copy arrays {name: NDArray} into params {name: Parameter}; same name sets and shapes required."""
    missing, unexpected = set(params) - set(arrays), set(arrays) - set(params)
    problems = []
    if missing:
        problems.append("missing %d: %s" % (len(missing), _summary(missing)))
    if unexpected:
        problems.append("unexpected %d: %s" % (len(unexpected), _summary(unexpected)))
    wrong = ["%s %s (network %s)" % (n, arrays[n].shape, params[n].shape)
             for n in sorted(set(params) & set(arrays)) if tuple(arrays[n].shape) != tuple(params[n].shape)]
    if wrong:
        problems.append("wrong shape %d: %s" % (len(wrong), _summary(wrong)))
    if problems:
        raise CheckpointError("%s does not fit the network: %s" % (source, "; ".join(problems)))
    for name, param in params.items():
        if param._data is None:
            raise CheckpointError("initialise the network before loading %s (%s)" % (source, name))
        param.set_data(arrays[name].astype(param.dtype))


def load_original_params(net, path, backbone_only=False, rpn_only=False):
    """Load an original MXNet .params file (Module checkpoint names) into a SNIPER net, strictly.

    backbone_only: a `network.pretrained` file (ImageNet `resnet_mx_*` / `mobilenetv2`, or a detector): only
    the backbone is loaded, as the original's trainer does; the classifier and the layers the original
    re-initialises are dropped, and the conv5 offset convs are set to zero (init_weight_rcnn). The new
    layers keep their initialisation. Otherwise every parameter of the network must be in the file.
    rpn_only: the net is backbone + RPN (proposal extraction); a full detector's head arrays are skipped.
    Returns the names loaded.
    """
    arrays = {strip_prefix(k): v for k, v in mx.nd.load(os.path.expanduser(path)).items()}
    extras = PRETRAINED_EXTRAS if backbone_only else SNIPER_EXTRAS
    arrays = {k: v for k, v in arrays.items() if not extras.match(k)}
    params = expected_params(net.backbone if backbone_only else net)
    offsets = [params.pop(k) for k in list(params) if backbone_only and re.match(CONV5_OFFSETS, k)]
    if rpn_only:
        arrays = {k: v for k, v in arrays.items() if k in params}
    assign_arrays(params, arrays, path)
    for param in offsets:
        param.set_data(mx.nd.zeros(param.shape, dtype=param.dtype))
    return sorted(params)


def gluon_v2_name(name):
    """This network's backbone name -> the structural name in a gluon model-zoo ResNetV2 file, or None.

    features.0 = data BN, .1 = conv0, .2 = bn0, .4+s = stage s with units .u-1; `sc` is `downsample`.
    """
    fixed = {"bn_data": "features.0", "conv0": "features.1", "bn0": "features.2"}
    stem = re.match(r"^(bn_data|conv0|bn0)_(\w+)$", name)
    if stem:
        return "%s.%s" % (fixed[stem.group(1)], stem.group(2))
    unit = re.match(r"^stage(\d)_unit(\d+)_(bn\d|conv\d|sc)_(\w+)$", name)
    if not unit or "offset" in unit.group(4):
        return None
    stage, index, layer, leaf = unit.groups()
    return "features.%d.%d.%s.%s" % (4 + int(stage), int(index) - 1, "downsample" if layer == "sc" else layer,
                                     leaf)


def fold_input_normalisation(arrays, pixel_means_bgr, eps=2e-5, zoo_eps=1e-5):
    """Rewrite the data BN statistics for this project's input (RGB 0-255 minus PIXEL_MEANS).

    The zoo's data BN saw z = (x/255 - mean) / std (ImageNet mean/std); with x' = x - PIXEL_MEANS,
    z = (x' - 255 (mean - PIXEL_MEANS/255)) / (255 std), so the BN's mean and variance absorb that map.
    """
    mean, std = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
    means_rgb = np.array(pixel_means_bgr, dtype=np.float64)[::-1]
    rm = arrays["features.0.running_mean"].asnumpy().astype(np.float64)
    rv = arrays["features.0.running_var"].asnumpy().astype(np.float64)
    arrays["features.0.running_mean"] = mx.nd.array(255 * std * rm + 255 * mean - means_rgb)
    arrays["features.0.running_var"] = mx.nd.array((255 * std) ** 2 * (rv + zoo_eps) - eps)


def load_gluon_resnet_v2(net, path, pixel_means_bgr=(103.939, 116.779, 123.68)):
    """Load `mxnet.gluon.model_zoo` resnet50_v2 / resnet101_v2 ImageNet weights into a ResNet SNIPER net.

    Backbone only; the zoo's final BN and classifier are unused; stride, dilation and the deformable conv5
    do not change weight shapes; offsets stay zero. Returns the names loaded.
    """
    from mxnet.gluon.model_zoo import vision
    depth = 50 if len(net.backbone.stage3) == 6 else 101
    zoo = vision.get_model("resnet%d_v2" % depth)
    zoo.load_parameters(os.path.expanduser(path))
    arrays = {k: p.data() for k, p in zoo._collect_params_with_prefix().items()}
    fold_input_normalisation(arrays, pixel_means_bgr)
    params = {gluon_v2_name(n): p for n, p in net.backbone.collect_params().items() if gluon_v2_name(n)}
    wanted = {k: v for k, v in arrays.items() if k in params or not re.match(r"^(features\.9\.|output\.)", k)}
    assign_arrays(params, wanted, path)
    return sorted(params)
