"""Loading the original SNIPER's checkpoints (released detectors, `network.pretrained` files) by name, strictly.

The fake checkpoints are built from tests/original_param_names.py (the original's names and shapes written
down from its symbols), never from this project's network. Every array holds its own constant, and each
constant must end in the layer the original's name designates, found here through the blocks' attributes
(`stage4[0].conv2.offset` for `stage4_unit1_offset_*`, `first[1]` for `first-3x3-conv-batchnorm_*`, ...).
"""
import re

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from lib.model.checkpoint_names import CheckpointError, load_gluon_resnet_v2, load_original_params, original_name
from lib.model.params import initialize_sniper
from lib.model.sniper import build_sniper
from tests.model_utils import model_config
from tests.original_param_names import (MOBILENET_SEQUENCES, autofocus_layers, checkpoint_key, detector_layout,
                                        imagenet_layout, mask_layers)

BACKBONES = ("resnet101", "resnet50", "mobilenetv2")
LEAVES = {"weight": "weight", "bias": "bias", "gamma": "gamma", "beta": "beta", "moving_mean": "running_mean",
          "moving_var": "running_var"}
HEAD = {"rpn_conv_3x3": ("rpn", "conv"), "rpn_cls_score": ("rpn", "cls_score"),
        "rpn_bbox_pred": ("rpn", "bbox_pred"), "conv_new_1": ("head", "conv_new_1"), "offset": ("head", "offset"),
        "fc_new_1": ("head", "fc_new_1"), "fc_new_2": ("head", "fc_new_2"), "cls_score": ("head", "cls_score"),
        "bbox_pred": ("head", "bbox_pred")}
MOBILENET_PARTS = {"exp": "expand", "depthwise": "depthwise", "linear": "project"}
MOBILENET_KINDS = {"conv2d": 0, "batchnorm": 1}


@pytest.fixture(scope="module")
def nets():
    """backbone -> an initialised test-mode SNIPER (built once per module)."""
    cache = {}

    def get(backbone):
        if backbone not in cache:
            cache[backbone] = build_sniper(model_config(backbone), train=False)
            initialize_sniper(cache[backbone])
        return cache[backbone]
    return get


def resnet_layer(backbone, layer):
    """'bn_data' / 'conv0' / 'bn0' / 'stage<s>_unit<u>_<bn1|conv1|...|sc|offset>' -> that block."""
    unit = re.match(r"^stage(\d)_unit(\d+)_(\w+)$", layer)
    if not unit:
        return getattr(backbone, layer)
    block = getattr(backbone, "stage" + unit.group(1))[int(unit.group(2)) - 1]
    return block.conv2.offset if unit.group(3) == "offset" else getattr(block, unit.group(3))


def mobilenet_layer(backbone, layer):
    """'first-3x3-conv-conv2d' / 'seq-<i>-block<j>-<part>-<kind>' / 'last-1x1-conv-batchnorm' -> that block."""
    end = re.match(r"^(first-3x3-conv|last-1x1-conv)-(conv2d|batchnorm)$", layer)
    if end:
        unit = backbone.first if end.group(1).startswith("first") else backbone.body[-1]
        return unit[MOBILENET_KINDS[end.group(2)]]
    seq, index, part, kind = re.match(r"^seq-(\d)-block(\d)-(exp|depthwise|linear)-(conv2d|batchnorm)$",
                                      layer).groups()
    position = sum(n for _, _, n, _ in MOBILENET_SEQUENCES[:int(seq)]) + int(index)
    return getattr(backbone.body[position], MOBILENET_PARTS[part])[MOBILENET_KINDS[kind]]


def receiving_param(net, name):
    """The Parameter the original's array `name` belongs in, found through block attributes (not names)."""
    layer, leaf = re.match(r"^(.+)_(weight|bias|gamma|beta|moving_mean|moving_var)$", name).groups()
    if layer in HEAD:
        block = getattr(getattr(net, HEAD[layer][0]), HEAD[layer][1])
    elif layer.startswith(("first-", "seq-", "last-")):
        block = mobilenet_layer(net.backbone, layer)
    else:
        block = resnet_layer(net.backbone, layer)
    return getattr(block, LEAVES[leaf])


def write_checkpoint(path, shapes, first=1.0):
    """A Module-style .params file of `shapes` {original name: shape}; array i (sorted) is all `first + i`.

    Returns {name: value}."""
    values = {name: first + i for i, name in enumerate(sorted(shapes))}
    mx.nd.save(str(path), {checkpoint_key(n): mx.nd.array(np.full(shapes[n], values[n], np.float32)) for n in shapes})
    return values


def non_constant(block):
    return [p for p in block.collect_params().values() if not isinstance(p, gluon.Constant)]


def assert_each_lands(net, values, scope, exempt=()):
    """Each array's constant is in the param `receiving_param` names, and those params are all of `scope`'s
    but `exempt`."""
    receivers = {}
    for name, value in values.items():
        param = receiving_param(net, name)
        data = param.data().asnumpy()
        assert data.min() == data.max() == value, "%s: expected %s in %s" % (name, value, param.name)
        receivers[id(param)] = param
    skip = {id(p) for p in exempt}
    unfilled = [p.name for p in non_constant(scope) if id(p) not in receivers and id(p) not in skip]
    assert not unfilled, unfilled
    assert len(receivers) == len(values)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_released_detector_fills_every_layer(nets, tmp_path, backbone):
    net = nets(backbone)
    path = tmp_path / "SNIPER-0007.params"
    values = write_checkpoint(path, detector_layout(backbone))
    loaded = load_original_params(net, path)
    tester_copies = {"bbox_pred_weight_test", "bbox_pred_bias_test"}  # dropped: un-normalising is in the graph
    assert len(loaded) == len(values) - 2
    assert_each_lands(net, {n: v for n, v in values.items() if n not in tester_copies}, net)


def test_released_detector_feeds_rpn_only_net(tmp_path):
    """Proposal extraction with a released detector: the backbone and RPN arrays land, the head's are skipped."""
    net = build_sniper(model_config("resnet50"), train=False, rpn_only=True)
    initialize_sniper(net)
    path = tmp_path / "SNIPER-0007.params"
    values = write_checkpoint(path, detector_layout("resnet50"))
    loaded = load_original_params(net, path, rpn_only=True)
    kept = {n: v for n, v in values.items() if not n.startswith(("conv_new_1", "offset", "fc_new", "cls_score",
                                                                   "bbox_pred"))}
    assert len(loaded) == len(kept)
    assert_each_lands(net, kept, net)
    with pytest.raises(CheckpointError, match="unexpected"):
        load_original_params(net, path)  # without rpn_only the head arrays are still refused


def outside_backbone(net):
    """[(Parameter, copy of its data)] for the RPN and head parameters."""
    in_backbone = {id(p) for p in non_constant(net.backbone)}
    return [(p, p.data().asnumpy().copy()) for p in non_constant(net) if id(p) not in in_backbone]


def poisoned_offsets(net):
    """The backbone's deformable offset params, set to -3 so that zeroing them shows."""
    offsets = [p for n, p in net.backbone.collect_params().items() if "offset" in n]
    for param in offsets:
        param.set_data(mx.nd.ones(param.shape) * -3)
    return offsets


def assert_backbone_only(net, values, offsets, rest):
    """`values` filled the backbone, offsets are zero (the original zeroes them after loading,
    resnet_mx_101_e2e.py:451-456), the RPN and head are untouched."""
    assert_each_lands(net, values, net.backbone, offsets)
    for param in offsets:
        assert not param.data().asnumpy().any(), param.name
    for param, old in rest:
        np.testing.assert_array_equal(param.data().asnumpy(), old, param.name)


@pytest.mark.parametrize("backbone", BACKBONES)
def test_imagenet_file_fills_the_backbone_only(nets, tmp_path, backbone):
    net = nets(backbone)
    rest, offsets = outside_backbone(net), poisoned_offsets(net)
    assert len(offsets) == (6 if backbone.startswith("resnet") else 0)
    path = tmp_path / "pretrained-0000.params"
    shapes = imagenet_layout(backbone)
    values = write_checkpoint(path, shapes)
    load_original_params(net, path, backbone_only=True)
    classifier = {n for n in shapes if n.startswith(("bn1_", "fc1_", "fc_"))}
    assert len(classifier) == (6 if backbone.startswith("resnet") else 2)
    assert_backbone_only(net, {n: v for n, v in values.items() if n not in classifier}, offsets, rest)


@pytest.mark.parametrize("backbone", ["resnet50", "mobilenetv2"])
def test_detector_as_pretrained_file_gives_its_backbone(nets, tmp_path, backbone):
    """The original re-initialises conv5 offsets, RPN, head, AutoFocus and mask layers of any pretrained file."""
    net = nets(backbone)
    rest, offsets = outside_backbone(net), poisoned_offsets(net)
    path = tmp_path / "SNIPER-0007.params"
    shapes = dict(detector_layout(backbone), **autofocus_layers())
    shapes.update(mask_layers())
    values = write_checkpoint(path, shapes)
    load_original_params(net, path, backbone_only=True)
    backbone_names = [n for n in imagenet_layout(backbone) if not n.startswith(("bn1_", "fc1_", "fc_"))]
    assert_backbone_only(net, {n: values[n] for n in backbone_names}, offsets, rest)


def test_name_map_examples():
    """Hand-written pairs: this network's name -> the name in the original's symbol."""
    assert original_name("stage4_unit2_conv2_offset_bias") == "stage4_unit2_offset_bias"
    assert original_name("stage4_unit2_conv2_weight") == "stage4_unit2_conv2_weight"
    assert original_name("stage3_unit6_bn2_running_var") == "stage3_unit6_bn2_moving_var"
    assert original_name("first_bn_beta") == "first-3x3-conv-batchnorm_beta"
    assert original_name("seq3_block2_dw_bn_running_mean") == "seq-2-block1-depthwise-batchnorm_moving_mean"
    assert original_name("seq1_block1_expand_conv_weight") == "seq-0-block0-exp-conv2d_weight"
    assert original_name("last_conv_weight") == "last-1x1-conv-conv2d_weight"
    assert original_name("fc_new_2_bias") == "fc_new_2_bias"


def drop(name):
    return lambda a: a.pop(checkpoint_key(name))


def add(name, shape):
    return lambda a: a.update({checkpoint_key(name): mx.nd.zeros(shape)})


@pytest.mark.parametrize("backbone, backbone_only, change, message", [
    ("resnet50", False, drop("stage4_unit3_offset_weight"), "missing 1: stage4_unit3_offset_weight"),
    ("resnet50", True, drop("stage2_unit1_conv1_weight"), "missing 1: stage2_unit1_conv1_weight"),
    ("resnet50", True, add("stage5_unit1_conv1_weight", (1,)), "unexpected 1: stage5_unit1"),
    ("resnet50", True, add("conv0_weight", (64, 3, 3, 3)), "wrong shape 1: conv0_weight"),
    ("mobilenetv2", False, drop("cls_score_bias"), "missing 1: cls_score_bias"),
    ("mobilenetv2", False, add("conv_new_2_weight", (256, 1280, 3, 3)), "unexpected 1: conv_new_2_weight"),
    ("mobilenetv2", False, add("cls_score_weight", (21, 512)), "wrong shape 1: cls_score_weight"),
    ("mobilenetv2", True, drop("seq-6-block0-linear-batchnorm_moving_var"),
     "missing 1: seq-6-block0-linear-batchnorm_moving_var"),
    ("mobilenetv2", True, add("seq-1-block0-depthwise-conv2d_weight", (96, 96, 3, 3)),
     "wrong shape 1: seq-1-block0-depthwise-conv2d_weight"),
])
def test_mismatches_fail_loudly(nets, tmp_path, backbone, backbone_only, change, message):
    layout = imagenet_layout if backbone_only else detector_layout
    shapes = layout(backbone)
    arrays = {checkpoint_key(n): mx.nd.ones(s) for n, s in shapes.items()}
    change(arrays)
    path = tmp_path / "bad.params"
    mx.nd.save(str(path), arrays)
    with pytest.raises(CheckpointError, match=message):
        load_original_params(nets(backbone), path, backbone_only=backbone_only)


def test_gluon_model_zoo_resnet_v2(nets, tmp_path):
    from mxnet.gluon.model_zoo import vision
    net = nets("resnet50")
    zoo = vision.get_model("resnet50_v2")
    zoo.initialize(mx.init.Normal(1.0))
    zoo(mx.nd.zeros((1, 3, 32, 32)))
    zoo.save_parameters(str(tmp_path / "resnet50_v2.params"))
    load_gluon_resnet_v2(net, tmp_path / "resnet50_v2.params")
    params = net.collect_params()
    np.testing.assert_array_equal(params["stage3_unit2_conv3_weight"].data().asnumpy(),
                                  zoo.features[7][1].conv3.weight.data().asnumpy())
    np.testing.assert_array_equal(params["stage1_unit1_sc_weight"].data().asnumpy(),
                                  zoo.features[5][0].downsample.weight.data().asnumpy())
    # the data BN now maps this project's input (RGB 0-255 minus means) to the zoo's normalised input
    x = np.random.RandomState(0).uniform(0, 255, (1, 3, 8, 8))
    ours = (x[:, ::-1] - np.array([103.939, 116.779, 123.68])[:, None, None])[:, ::-1]
    zoo_in = (x / 255 - np.array([0.485, 0.456, 0.406])[:, None, None]) / np.array([0.229, 0.224, 0.225])[:, None, None]
    a = net.backbone.bn_data(mx.nd.array(ours)).asnumpy()
    b = zoo.features[0](mx.nd.array(zoo_in)).asnumpy()
    np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3)
