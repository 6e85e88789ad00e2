"""Loading the original SNIPER's Module checkpoints and ImageNet ResNets by name (strict)."""
import mxnet as mx
import numpy as np
import pytest

from lib.model.checkpoint_names import CheckpointError, load_gluon_resnet_v2, load_original_params
from lib.model.params import initialize_sniper
from lib.model.sniper import build_sniper
from tests.model_utils import model_config

UNITS50 = (3, 4, 6, 3)


def original_resnet_names(units=UNITS50):
    """The original `resnet_mx_50_e2e` backbone names, written out from its symbol's naming rules."""
    args, aux = ["bn_data_gamma", "bn_data_beta", "conv0_weight", "bn0_gamma", "bn0_beta"], []
    bns = ["bn_data", "bn0"]
    for s, n in enumerate(units, 1):
        for u in range(1, n + 1):
            unit = "stage%d_unit%d_" % (s, u)
            args += [unit + "conv%d_weight" % k for k in (1, 2, 3)]
            bns += [unit + "bn%d" % k for k in (1, 2, 3)]
            if u == 1:
                args.append(unit + "sc_weight")
            if s == 4:
                args += [unit + "conv2_offset_weight", unit + "conv2_offset_bias"]
    args += [b + "_gamma" for b in bns[2:]] + [b + "_beta" for b in bns[2:]]
    aux += [b + "_moving_mean" for b in bns] + [b + "_moving_var" for b in bns]
    return args, aux


HEAD = ["rpn_conv_3x3", "rpn_cls_score", "rpn_bbox_pred", "conv_new_1", "offset", "fc_new_1", "fc_new_2",
        "cls_score", "bbox_pred"]


@pytest.fixture(scope="module")
def net():
    model = build_sniper(model_config("resnet50"))
    initialize_sniper(model)
    return model


def shapes_of(net):
    return {n.replace("running_", "moving_"): p.shape for n, p in net.collect_params().items()}


def write_checkpoint(path, shapes, args, aux, seed=0):
    """A Module-style .params file: 'arg:'/'aux:' keys, the original's names, random values."""
    rng = np.random.RandomState(seed)
    arrays = {"arg:" + n: mx.nd.array(rng.normal(size=shapes[n])) for n in args}
    arrays.update({"aux:" + n: mx.nd.array(rng.uniform(0.5, 1, size=shapes[n])) for n in aux})
    mx.nd.save(str(path), arrays)
    return arrays


def test_sniper_checkpoint_loads_every_parameter(net, tmp_path):
    args, aux = original_resnet_names()
    args += [h + "_weight" for h in HEAD] + [h + "_bias" for h in HEAD]
    args += ["bbox_pred_weight_test", "bbox_pred_bias_test"]  # written by the original's checkpoint callback
    shapes = shapes_of(net)
    shapes["bbox_pred_weight_test"], shapes["bbox_pred_bias_test"] = shapes["bbox_pred_weight"], (4,)
    arrays = write_checkpoint(tmp_path / "SNIPER-0007.params", shapes, args, aux)
    loaded = load_original_params(net, tmp_path / "SNIPER-0007.params")
    assert len(loaded) == len(args) - 2 + len(aux)
    params = net.collect_params()
    for ours, theirs in (("stage4_unit2_conv2_offset_bias", "arg:stage4_unit2_conv2_offset_bias"),
                         ("stage3_unit6_bn2_running_var", "aux:stage3_unit6_bn2_moving_var"),
                         ("bbox_pred_weight", "arg:bbox_pred_weight"), ("bn_data_beta", "arg:bn_data_beta")):
        np.testing.assert_array_equal(params[ours].data().asnumpy(), arrays[theirs].asnumpy(), ours)


def test_imagenet_checkpoint_loads_the_backbone_only(net, tmp_path):
    args, aux = original_resnet_names()
    args = [n for n in args if "offset" not in n]  # ImageNet models have no deformable offsets
    path = tmp_path / "resnet_mx_50-0000.params"
    arrays = write_checkpoint(path, shapes_of(net), args, aux, seed=1)
    extra = {"arg:fc1_weight": mx.nd.zeros((1000, 2048)), "arg:bn1_gamma": mx.nd.ones(2048)}
    mx.nd.save(str(path), dict(arrays, **extra))
    before = net.collect_params()["rpn_conv_3x3_weight"].data().asnumpy().copy()
    load_original_params(net, path, backbone_only=True)
    params = net.collect_params()
    np.testing.assert_array_equal(params["stage2_unit3_conv2_weight"].data().asnumpy(),
                                  arrays["arg:stage2_unit3_conv2_weight"].asnumpy())
    np.testing.assert_array_equal(params["rpn_conv_3x3_weight"].data().asnumpy(), before)


@pytest.mark.parametrize("change, message", [
    (lambda a: a.pop("arg:stage2_unit1_conv1_weight"), "missing 1: stage2_unit1_conv1_weight"),
    (lambda a: a.update({"arg:stage5_unit1_conv1_weight": mx.nd.zeros(1)}), "unexpected 1: stage5_unit1"),
    (lambda a: a.update({"arg:conv0_weight": mx.nd.zeros((64, 3, 3, 3))}), "wrong shape 1: conv0_weight"),
])
def test_mismatches_fail_loudly(net, tmp_path, change, message):
    args, aux = original_resnet_names()
    path = tmp_path / "bad.params"
    arrays = write_checkpoint(path, shapes_of(net), [n for n in args if "offset" not in n], aux)
    change(arrays)
    mx.nd.save(str(path), arrays)
    with pytest.raises(CheckpointError, match=message):
        load_original_params(net, path, backbone_only=True)


def test_gluon_model_zoo_resnet_v2(net, tmp_path):
    from mxnet.gluon.model_zoo import vision
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
