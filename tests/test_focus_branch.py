"""AutoFocus training side: the FocusPixel branch's shapes and names, its loss, and the loader's labels.

Expected values: the branch is the original's conv_new_2 (3x3, 256) -> conv_new_3 (1x1, 256) -> conv_new_out
(1x1, 2) on the conv4 + conv5 concat (symbols/faster/resnet_mx_101_e2e.py:259-267); its loss is SoftmaxOutput
with use_ignore, ignore_label -1 and normalization 'valid' (:314-315): the mean cross-entropy over the cells
whose label is not -1. Labels: lib/data_utils/data_workers.py:164-192 (`gen_mask`), thresholds 64 / 5 / 90.
"""
import math

import mxnet as mx
import numpy as np
import pytest

from lib.chips.chip import Chip
from lib.data.focus_targets import chip_focus_labels
from lib.model.focus_head import FocusHead, focus_loss
from lib.model.losses import SNIPERLoss, build_loss, loss_inputs
from lib.model.params import initialize_sniper
from lib.model.sniper import TrainOutput, build_sniper
from lib.specs.training import FocusLabelSpec, LoaderSpec
from tests.model_utils import model_config, synthetic_batch
from tests.original_param_names import autofocus_layers

FOCUS = ["TRAIN.AUTO_FOCUS", "True", "TRAIN.AUTO_FOCUS_SMALL_THRESH", "64", "TRAIN.AUTO_FOCUS_DC_LOW", "5",
         "TRAIN.AUTO_FOCUS_DC_HIGH", "90"]


def test_focus_head_has_the_original_names_and_shapes():
    head = FocusHead(3072, prefix="")
    head.initialize()
    shapes = {name: p.shape for name, p in head.collect_params().items()}
    assert shapes == autofocus_layers()


def test_train_and_test_outputs_with_focus():
    cfg = model_config("tiny", *FOCUS, "TEST.AUTO_FOCUS", "True")
    net = build_sniper(cfg, train=True)
    initialize_sniper(net)
    net.hybridize()
    batch = synthetic_batch(cfg, 2, 128)
    out = TrainOutput(*net(*batch))
    assert out.focus_score.shape == (2, 2, 8, 8)
    test_net = build_sniper(cfg, train=False)
    test_net.initialize()
    test_net.hybridize()
    outputs = test_net(mx.nd.zeros((1, 3, 100, 150)), mx.nd.array([[100, 150, 1.0]]))
    assert len(outputs) == 5 and outputs[4].shape == (1, 2, 7, 10)
    np.testing.assert_allclose(outputs[4].sum(axis=1).asnumpy(), 1, rtol=1e-5)


def test_test_network_without_test_autofocus_has_no_focus_output():
    cfg = model_config("tiny", *FOCUS)
    test_net = build_sniper(cfg, train=False)
    test_net.initialize()
    assert len(test_net(mx.nd.zeros((1, 3, 64, 64)), mx.nd.array([[64, 64, 1.0]]))) == 4
    assert "conv_new_out_weight" not in test_net.collect_params()


def test_focus_loss_is_the_mean_over_cells_not_ignored():
    # cells: label 1 with logits (0, ln 3) -> -ln(3/4); label 0 with (0, 0) -> ln 2; label -1 ignored
    score = mx.nd.array([[[[0.0, 0.0, 100.0]], [[math.log(3), 0.0, -100.0]]]])  # (1, 2, 1, 3)
    label = mx.nd.array([[[1, 0, -1]]])
    score.attach_grad()
    with mx.autograd.record():
        loss, prob = focus_loss(mx.nd, score, label)
    loss.backward()
    assert abs(loss.asscalar() - (math.log(4 / 3) + math.log(2)) / 2) < 1e-6
    np.testing.assert_allclose(score.grad.asnumpy()[0, :, 0, 2], 0)  # no gradient into the ignored cell
    np.testing.assert_allclose(prob.asnumpy()[0, 1, 0, :2], [0.75, 0.5], rtol=1e-6)
    all_ignored, _ = focus_loss(mx.nd, score, -mx.nd.ones((1, 1, 3)))
    assert all_ignored.asscalar() == 0


def test_sniper_loss_adds_the_focus_term():
    cfg = model_config("tiny", *FOCUS)
    loss = build_loss(cfg)
    assert isinstance(loss, SNIPERLoss) and loss.output_names[-3:] == ("focus_cls_loss", "focus_cls_prob",
                                                                       "focus_label")
    net = build_sniper(cfg, train=True)
    initialize_sniper(net)
    batch = synthetic_batch(cfg, 2, 128)
    out = TrainOutput(*net(*batch))
    fh = 128 // 16
    anchors = cfg.network.NUM_ANCHORS
    rpn = (mx.nd.full((2, anchors * fh * fh), -1), mx.nd.zeros((2, 4 * anchors, fh, fh)),
           mx.nd.zeros((2, 4 * anchors, fh, fh)))
    focus_label = mx.nd.zeros((2, fh, fh))
    values = dict(zip(loss.output_names, loss(*loss_inputs(out, *rpn, focus_label=focus_label))))
    parts = sum(values[k].asscalar() for k in ("rpn_cls_loss", "rpn_l1_loss", "rcnn_cls_loss", "rcnn_l1_loss",
                                               "focus_cls_loss"))
    assert abs(values["total"].asscalar() - parts) < 1e-5 and values["focus_cls_loss"].asscalar() > 0


def test_loader_focus_labels_from_gts_in_chip_pixels():
    # chip [100, 50, 356, 306) at s = 0.5 -> canvas 128, 8 x 8 cells. gts in original px:
    #   (132, 82, 232, 182): 100 px -> 50 chip px (16..66): 5 < 50 < 64 -> 1 on cells 1..5 x 1..5
    #   (300, 250, 460, 410): 160 -> 80 chip px (100..180 -> clipped 100..127): sqrt(27*27)=27 -> 1 on 6..7
    #   (0, 0, 40, 40): outside -> clipped to the point (0, 0): area 0 <= 5 -> -1 on cell (0, 0)
    boxes = np.array([[132, 82, 232, 182], [300, 250, 460, 410], [0, 0, 40, 40]], np.float32)
    chip = Chip(box=np.array([100, 50, 356, 306], np.float32), scale=0.5, scale_index=1, size=(128, 128),
                canvas=128, valid_range=(-1, -1))
    labels = chip_focus_labels(boxes, chip, 128, FocusLabelSpec(64, 5, 90, 16))
    expected = np.zeros((8, 8), np.float32)
    expected[1:6, 1:6] = 1
    expected[6:8, 6:8] = 1
    expected[0, 0] = -1
    np.testing.assert_array_equal(labels, expected)


def test_loader_spec_and_batch_carry_focus_labels_only_with_auto_focus():
    from lib.data.batchify import batch_layout
    assert LoaderSpec.from_config(model_config("tiny")).focus is None
    spec = LoaderSpec.from_config(model_config("tiny", *FOCUS))
    assert spec.focus == FocusLabelSpec(64.0, 5.0, 90.0, 16)
    assert batch_layout(spec, 3, 256)["focus_label"][0] == (3, 16, 16)


def test_focus_metrics_by_hand():
    from lib.train.metrics import RunningMetrics, read_step
    # focus probs (B=1, 2 classes, 1 x 3 cells), labels 1, 0, -1: argmax (1, 1, 0) -> 1 correct of 2 counted
    losses = {"rpn_cls_loss": mx.nd.array([1.0]), "rpn_cls_prob": mx.nd.array([[[0.4], [0.6]]]),
              "rpn_label": mx.nd.array([[1]]), "rpn_l1_sum": mx.nd.array([0.0]),
              "focus_cls_loss": mx.nd.array([0.5]),
              "focus_cls_prob": mx.nd.array([[[[0.2, 0.3, 0.9]], [[0.8, 0.7, 0.1]]]]),
              "focus_label": mx.nd.array([[[1, 0, -1]]])}
    stats, terms = read_step([losses])
    metrics = RunningMetrics()
    metrics.add_stats(stats)
    values = metrics.values()
    assert list(values) == ["RPNAcc", "RPNLogLoss", "RPNL1Loss", "FocusAcc", "FocusLogLoss"]  # no focus L1
    assert values["FocusAcc"] == pytest.approx(1 / 2)
    assert values["FocusLogLoss"] == pytest.approx(-(np.log(0.8) + np.log(0.3)) / 2, rel=1e-5)
    assert terms["focus_cls_loss"] == pytest.approx(0.5)


def test_original_autofocus_checkpoint_fills_the_focus_head(tmp_path):
    """A released AutoFocus detector (the ResNet-101 layout plus conv_new_2 / conv_new_3 / conv_new_out) loads into
    a ResNet-101 SNIPER tested with TEST.AUTO_FOCUS, each focus array into the focus head's layer of that name."""
    from lib.model.checkpoint_names import load_original_params
    from tests.original_param_names import checkpoint_key, detector_layout
    net = build_sniper(model_config("resnet101", "TEST.AUTO_FOCUS", "True", "dataset.NUM_CLASSES", "81"),
                       train=False)
    initialize_sniper(net)
    shapes = dict(detector_layout("resnet101"), **autofocus_layers())
    values = {name: 1.0 + i for i, name in enumerate(sorted(shapes))}
    mx.nd.save(str(tmp_path / "SNIPER-0007.params"),
               {checkpoint_key(n): mx.nd.array(np.full(shapes[n], values[n], np.float32)) for n in shapes})
    load_original_params(net, tmp_path / "SNIPER-0007.params")
    for layer, block in (("conv_new_2", net.focus.conv2), ("conv_new_3", net.focus.conv3),
                         ("conv_new_out", net.focus.out)):
        for leaf in ("weight", "bias"):
            data = getattr(block, leaf).data().asnumpy()
            assert data.min() == data.max() == values["%s_%s" % (layer, leaf)], (layer, leaf)
