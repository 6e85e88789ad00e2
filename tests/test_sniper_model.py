"""The assembled SNIPER net: output shapes per backbone, hybridized == imperative, gradients, fp16 structure."""
import mxnet as mx
import numpy as np
import pytest

from lib.model.params import configure_params, initialize_sniper, trainable_params
from lib.model import sniper
from lib.model.sniper import TEST_OUTPUTS, TrainOutput, build_sniper
from tests.model_utils import model_config, synthetic_batch

# backbone -> (chip size, stride, anchors, fc width)
SIZES = {"tiny": (128, 16, 21, 128), "mobilenetv2": (128, 32, 15, 512), "resnet50": (64, 16, 21, 1024),
         "resnet101": (64, 16, 21, 1024)}


def built(backbone, train, *overrides, dtype=None):
    cfg = model_config(backbone, *overrides)
    net = build_sniper(cfg, train=train, dtype=dtype)
    initialize_sniper(net)
    return cfg, net


@pytest.mark.parametrize("backbone", sorted(SIZES))
def test_train_and_test_output_shapes(backbone):
    chip, stride, anchors, fc = SIZES[backbone]
    cfg, net = built(backbone, True)
    batch = synthetic_batch(cfg, 2, chip)
    net.hybridize()
    with mx.autograd.record():
        out = TrainOutput(*net(*batch))
    f, k = chip // stride, cfg.dataset.NUM_CLASSES
    assert out.rpn_cls_score.shape == out.rpn_cls_prob.shape == (2, 2, anchors * f * f)
    assert out.rpn_bbox_pred.shape == (2, 4 * anchors, f, f)
    assert out.rcnn_cls_score.shape == (2, 300, k)
    for name in ("rcnn_bbox_pred", "rcnn_bbox_target", "rcnn_bbox_weight", "rois"):
        assert getattr(out, name).shape == (2, 300, 4), name
    assert out.rcnn_label.shape == (2, 300)
    assert out.focus_score is None  # the plain detector (no TRAIN.AUTO_FOCUS)
    assert all(x.dtype == np.float32 for x in out[:-1])
    assert net.collect_params()["fc_new_1_weight"].shape[0] == fc
    test_net = build_sniper(cfg, train=False)
    test_net.initialize()
    test_net.hybridize()
    result = sniper.TestOutput(*test_net(*batch[:2]))
    assert result.rois.shape == result.bbox_deltas.shape == (2, cfg.TEST.RPN_POST_NMS_TOP_N, 4)
    assert result.roi_scores.shape == (2, cfg.TEST.RPN_POST_NMS_TOP_N)
    assert result.cls_prob.shape == (2, cfg.TEST.RPN_POST_NMS_TOP_N, k)
    np.testing.assert_allclose(result.cls_prob.sum(axis=-1).asnumpy(), 1, rtol=1e-5)


def decisive_rpn(net, seed=0):
    """Spread the RPN scores so that NMS order has no near-ties (tiny float differences then cannot reorder)."""
    rng = np.random.RandomState(seed)
    w = net.collect_params()["rpn_cls_score_weight"]
    w.set_data(mx.nd.array(rng.normal(0, 0.5, w.shape)))


@pytest.mark.parametrize("train", [True, False])
def test_hybridized_equals_imperative(train):
    cfg, net = built("tiny", train)
    decisive_rpn(net)
    batch = synthetic_batch(cfg, 2, 128)[: 4 if train else 2]
    with mx.autograd.record(train_mode=train):
        imperative = [x.asnumpy() for x in net(*batch)]
    net.hybridize()
    with mx.autograd.record(train_mode=train):
        hybrid = [x.asnumpy() for x in net(*batch)]
    names = TrainOutput._fields[:len(imperative)] if train else TEST_OUTPUTS
    a_out, b_out = dict(zip(names, imperative)), dict(zip(names, hybrid))
    # float32 sums run in another order in the fused graph (RPN deltas differ by ~1e-5), which can flip a pair at
    # the NMS threshold and so change a few of the 300 rois per chip; per-roi outputs are compared on the rois
    # both kept (a wrong hybridization changes most of them)
    same = np.all(np.isclose(a_out["rois"], b_out["rois"], rtol=1e-3, atol=1e-3), axis=-1)  # (B, R)
    assert same.mean() > 0.97, "only %.3f of the rois agree" % same.mean()
    for name in names:
        a, b = a_out[name], b_out[name]
        if a.shape[:2] == same.shape:
            a, b = a[same], b[same]
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-3, err_msg=name)


def test_test_proposals_clip_per_image():
    cfg, net = built("tiny", False)
    decisive_rpn(net)
    data, im_info = synthetic_batch(cfg, 2, 128)[:2]  # chip 2 holds a 96x96 image padded to 128
    rois = sniper.TestOutput(*net(data, im_info)).rois.asnumpy()
    scores = sniper.TestOutput(*net(data, im_info)).roi_scores.asnumpy()
    real = scores[1] > 0
    assert real.sum() > 10
    assert rois[1][real].max() <= 95 and rois[0].max() > 95


def rpn_targets(cfg, batch, chip, seed=0):
    """Random RPN labels/targets in the loader's layout (enough to give every RPN weight a gradient)."""
    rng = np.random.RandomState(seed)
    f = chip // cfg.network.RPN_FEAT_STRIDE
    n = cfg.network.NUM_ANCHORS * f * f
    label = rng.choice([-1, 0, 1], size=(batch, n)).astype(np.float32)
    target = rng.normal(0, 0.5, (batch, 4 * cfg.network.NUM_ANCHORS, f, f)).astype(np.float32)
    weight = (label.reshape(batch, cfg.network.NUM_ANCHORS, 1, f, f) == 1).repeat(4, axis=2)
    return [mx.nd.array(x) for x in (label, target, weight.reshape(target.shape).astype(np.float32))]


@pytest.mark.parametrize("backbone", ["tiny", "resnet50"])
def test_gradient_reaches_every_trainable_parameter_and_no_frozen_one(backbone):
    from lib.model.losses import build_loss, loss_inputs
    chip = SIZES[backbone][0]
    cfg, net = built(backbone, True, "network.FIXED_PARAMS", "['conv0', 'bn0', 'stage1']")
    groups = configure_params(net, cfg)
    assert "conv0_weight" in groups["fixed"] and "stage1_" in " ".join(groups["fixed"])
    net.hybridize()
    loss = build_loss(cfg)
    batch = synthetic_batch(cfg, 2, chip)
    frozen = {n: p.data().copy() for n, p in net.collect_params().items() if n in groups["fixed"]}
    trainer = mx.gluon.Trainer(trainable_params(net), "sgd", {"learning_rate": 0.1})
    with mx.autograd.record():
        total = loss(*loss_inputs(TrainOutput(*net(*batch)), *rpn_targets(cfg, 2, chip)))[0]
    total.backward()
    no_grad = [n for n, p in trainable_params(net).items() if float(p.grad().abs().sum().asscalar()) == 0]
    assert not no_grad
    trainer.step(1)
    for name, before in frozen.items():
        assert net.collect_params()[name].grad_req == "null"
        np.testing.assert_array_equal(net.collect_params()[name].data().asnumpy(), before.asnumpy(), name)


def test_configure_params_multipliers():
    cfg, net = built("resnet50", True)
    groups = configure_params(net, cfg)
    params = net.collect_params()
    assert groups["low_lr"] == ["offset_weight", "offset_bias"] and params["offset_bias"].lr_mult == 0.01
    assert params["stage4_unit1_conv2_offset_weight"].lr_mult == 1.0
    for name in ("stage2_unit1_bn1_beta", "rpn_conv_3x3_bias", "bn_data_beta", "cls_score_bias"):
        assert params[name].wd_mult == 0.0, name
    for name in ("stage2_unit1_bn1_gamma", "conv_new_1_weight", "stage4_unit1_conv2_weight"):
        assert params[name].wd_mult == 1.0, name
    assert {"conv0_weight", "bn0_gamma", "stage1_unit3_conv3_weight"} <= set(groups["fixed"])
    assert "bn_data_beta" not in groups["fixed"] and params["bn_data_gamma"].grad_req == "null"


def test_frozen_batchnorms_keep_global_statistics():
    cfg, net = built("resnet50", True)
    batch = synthetic_batch(cfg, 2, 64)
    before = {n: p.data().asnumpy().copy() for n, p in net.collect_params().items() if "running_mean" in n}
    with mx.autograd.record():
        out = TrainOutput(*net(*batch))
    out.rcnn_cls_score.backward()  # the CPU (MKL-DNN) BatchNorm updates its statistics in backward
    after = {n: p.data().asnumpy() for n, p in net.collect_params().items() if "running_mean" in n}
    for name in ("bn_data_running_mean", "bn0_running_mean", "stage1_unit2_bn2_running_mean"):
        np.testing.assert_array_equal(before[name], after[name], name)
    assert np.abs(before["stage3_unit1_bn2_running_mean"] - after["stage3_unit1_bn2_running_mean"]).max() > 0


def output_types(net, train):
    """{internal output name: dtype} of the net's graph for float32 inputs (type inference only)."""
    names = ["data", "im_info", "gt_boxes", "valid_ranges"][: 4 if train else 2]
    sym = net(*[mx.sym.var(n) for n in names])
    internals = mx.sym.Group(list(sym)).get_internals()
    _, types, _ = internals.infer_type(**{n: np.float32 for n in names})
    return dict(zip(internals.list_outputs(), types))


@pytest.mark.parametrize("backbone", ["resnet50", "tiny", "mobilenetv2"])
def test_fp16_structure(backbone):
    cfg, net = built(backbone, True, dtype="float16")
    params = net.collect_params()
    first = "first_conv_weight" if backbone == "mobilenetv2" else "conv0_weight"
    dtype = {n: np.dtype(p.dtype) for n, p in params.items()}
    assert dtype[first] == np.float32
    half = [n for n, t in dtype.items() if t == np.float16]
    assert half and all(n.endswith(("_weight", "_offset_bias")) for n in half)  # convs only, BN stays float32
    assert all(dtype[n] == np.float32 for n in params if n.startswith(("rpn_", "fc_", "cls_", "bbox_", "conv_new")))
    if backbone == "resnet50":
        assert dtype["stage4_unit1_conv2_offset_weight"] == np.float16
        assert dtype["stage2_unit1_bn1_gamma"] == np.float32
    types = output_types(net, True)
    casts = [t for n, t in types.items() if n.startswith("cast")]
    assert casts.count(np.float16) == 1 and casts.count(np.float32) == 1  # one cast in, one cast back
    convs = {n: t for n, t in types.items() if n.endswith("_output") and "conv" in n and not n.startswith(("rpn", "conv_new"))}
    assert types[first.replace("_weight", "_fwd_output")] == np.float32
    assert sum(t == np.float16 for t in convs.values()) == len(convs) - 1
    for name in ("rpn_conv_3x3_fwd_output", "rpn_cls_score_fwd_output", "conv_new_1_fwd_output",
                 "fc_new_1_fwd_output", "cls_score_fwd_output"):
        assert types[name] == np.float32, name
