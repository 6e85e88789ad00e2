"""Promises of the training loop checked by hand: the NaN/inf stop, the metrics read from the loss outputs, the
pretrained-weights dispatch by file name, and each worker's share of a global batch."""
import math
import os

import mxnet as mx
import numpy as np
import pytest

from lib.data.epoch import EpochChips
from lib.train import pretrained
from lib.train.metrics import RunningMetrics, read_step
from lib.train.trainer import NonFiniteLoss, Session, check_finite, worker_share
from train_helpers import QUICKSTART_CFG, tiny_config, tiny_dataset


# ---------------------------------------------------------------- the NaN / inf stop

def test_check_finite_names_the_term_and_the_iteration():
    check_finite({"rpn_cls_loss": 0.7, "rcnn_l1_loss": 0.0}, 3)
    with pytest.raises(NonFiniteLoss, match=r"^iteration 5: loss rcnn_l1_loss is inf; lower TRAIN.lr"):
        check_finite({"rpn_cls_loss": 0.7, "rcnn_l1_loss": math.inf}, 5)
    with pytest.raises(NonFiniteLoss, match="loss rpn_cls_loss is nan"):
        check_finite({"rpn_cls_loss": math.nan}, 1)


@pytest.mark.slow
def test_a_nan_loss_stops_the_run_before_its_update(tmp_path):
    data_dir = tiny_dataset(tmp_path / "data")
    session = Session(tiny_config(data_dir, tmp_path / "out", "TRAIN.end_epoch", "3"))
    compute = session._device_losses

    def poisoned(part):  # the second update's losses become NaN (its gradients too)
        out = compute(part)
        if session.progress["num_update"] == 2:
            out["total"] = out["total"] * float("nan")
            out["rpn_cls_loss"] = out["rpn_cls_loss"] * float("nan")
        return out
    session._device_losses = poisoned
    with pytest.raises(NonFiniteLoss, match="^iteration 2: loss rpn_cls_loss is nan"):
        session.run()
    assert session.progress["num_update"] == 2
    for name, param in session.net.collect_params().items():  # the NaN gradients never reached the weights
        assert np.isfinite(param.data().asnumpy()).all(), name
    folder = os.path.join(str(tmp_path / "out"), "shapes_cpu", "train")
    assert not any(f.endswith(".params") for f in os.listdir(folder))  # no checkpoint of a diverged run


# ---------------------------------------------------------------- metrics from the named loss outputs

def _device(rpn_prob, rpn_label, rpn_l1_sum, rcnn=None):
    out = {"rpn_cls_loss": mx.nd.array([0.5]), "rpn_l1_loss": mx.nd.array([0.25]),
           "rpn_cls_prob": mx.nd.array(rpn_prob), "rpn_label": mx.nd.array(rpn_label),
           "rpn_l1_sum": mx.nd.array([rpn_l1_sum])}
    if rcnn is not None:
        prob, label, l1_sum = rcnn
        out.update({"rcnn_cls_loss": mx.nd.array([1.0]), "rcnn_cls_prob": mx.nd.array(prob),
                    "rcnn_label": mx.nd.array(label), "rcnn_l1_sum": mx.nd.array([l1_sum])})
    return out


def test_metrics_from_two_devices_by_hand():
    # RPN probs (B=1, 2 classes, 3 anchors); device 1: labels 0, 0, -1, argmax (1, 0, 1): 1 correct of 2
    rpn_a = [[[0.4, 0.7, 0.2], [0.6, 0.3, 0.8]]]
    rpn_b = [[[0.1, 0.5, 0.9], [0.9, 0.5, 0.1]]]  # labels 1, -1, 0: argmax (1, 0, 0): 2 correct of 2
    rcnn = ([[[0.2, 0.8], [0.7, 0.3]]], [[1, 1]], 3.0)  # per device: argmax (1, 0), 1 correct of 2
    stats, terms = read_step([_device(rpn_a, [[0, 0, -1]], 2.0, rcnn), _device(rpn_b, [[1, -1, 0]], 4.0, rcnn)])
    assert terms == pytest.approx({"rpn_cls_loss": 1.0, "rpn_l1_loss": 0.5, "rcnn_cls_loss": 2.0})
    metrics = RunningMetrics()
    metrics.add_stats(stats)
    values = metrics.values()
    assert list(values) == ["RPNAcc", "RPNLogLoss", "RPNL1Loss", "RCNNAcc", "RCNNLogLoss", "RCNNL1Loss"]
    assert values["RPNAcc"] == pytest.approx(3 / 4)
    # -log p(label) over the 4 counted anchors: 0.4 and 0.7 (device 1), 0.9 and 0.9 (device 2)
    assert values["RPNLogLoss"] == pytest.approx(-(np.log(0.4) + np.log(0.7) + 2 * np.log(0.9)) / 4, rel=1e-5)
    assert values["RPNL1Loss"] == pytest.approx((2.0 + 4.0) / 4)  # the raw sums over the counted anchors
    assert values["RCNNAcc"] == pytest.approx(2 / 4)
    assert values["RCNNL1Loss"] == pytest.approx(6.0 / 4)
    metrics.reset()
    assert metrics.values() == {}


def test_an_rpn_only_network_reports_rpn_metrics_only():
    stats, _ = read_step([_device([[[0.4], [0.6]]], [[1]], 1.5)])
    metrics = RunningMetrics()
    metrics.add_stats(stats)
    assert list(metrics.values()) == ["RPNAcc", "RPNLogLoss", "RPNL1Loss"]
    assert metrics.values()["RPNAcc"] == 1.0 and metrics.values()["RPNL1Loss"] == 1.5


def test_the_loss_names_the_raw_smooth_l1_sums():
    from lib.model.losses import RPN_LOSS_OUTPUTS, RPNLoss
    rpn_label = mx.nd.array([[1, 0]])  # B = 1, 2 anchors (A = 1 on a 1 x 2 map)
    pred = mx.nd.array([[[[0.5, 3.0]], [[0, 0]], [[0, 0]], [[0, 0]]]])  # (1, 4, 1, 2)
    target = mx.nd.zeros((1, 4, 1, 2))
    weight = mx.nd.ones((1, 4, 1, 2))
    out = dict(zip(RPN_LOSS_OUTPUTS, RPNLoss(rpn_batch_size=4)(mx.nd.zeros((1, 2, 2)), pred, rpn_label, target,
                                                                  weight)))
    # smooth L1 (sigma 1): 0.5 * 0.5^2 = 0.125 and 3 - 0.5 = 2.5; the loss term is 3 x sum / (B x 4)
    assert out["rpn_l1_sum"].asscalar() == pytest.approx(2.625)
    assert out["rpn_l1_loss"].asscalar() == pytest.approx(3 * 2.625 / 4)


# ---------------------------------------------------------------- load_pretrained picks the loader by file name

@pytest.mark.parametrize("name, loader", [("resnet101_v2", "load_gluon_resnet_v2"),
                                          ("resnet50_v2", "load_gluon_resnet_v2"),
                                          ("resnet_mx_101", "load_original_params"),
                                          ("efficientnet_lite0", "load_efficientnet_lite0")])
def test_load_pretrained_dispatches_by_file_name(tmp_path, monkeypatch, name, loader):
    from lib.config import load_config
    calls = []
    for fn in ("load_gluon_resnet_v2", "load_original_params", "load_efficientnet_lite0"):
        monkeypatch.setattr(pretrained, fn, lambda *a, fn=fn, **k: calls.append((fn, a, k)))
    path = tmp_path / ("%s-0007.params" % name)
    path.write_bytes(b"")
    cfg = load_config(QUICKSTART_CFG, ["network.pretrained", str(tmp_path / name), "network.pretrained_epoch", "7"])
    net = type("Net", (), {"backbone": "the backbone"})()
    assert pretrained.load_pretrained(net, cfg) == str(path)
    assert [c[0] for c in calls] == [loader]
    fn, args, kwargs = calls[0]
    if loader == "load_efficientnet_lite0":
        assert args == ("the backbone", str(path))
    elif loader == "load_original_params":
        assert args == (net, str(path)) and kwargs == {"backbone_only": True}
    else:
        assert args == (net, str(path), cfg.network.PIXEL_MEANS)


def test_load_pretrained_missing_file_and_empty_key(tmp_path):
    from lib.config import load_config
    cfg = load_config(QUICKSTART_CFG, ["network.pretrained", str(tmp_path / "resnet_mx_101")])
    with pytest.raises(FileNotFoundError, match=r"resnet_mx_101-0000\.params not found .*network.pretrained"):
        pretrained.load_pretrained(None, cfg)
    assert pretrained.load_pretrained(None, load_config(QUICKSTART_CFG, ["network.pretrained", ""])) is None


# ---------------------------------------------------------------- worker_share

def test_worker_share_takes_each_workers_part_of_every_global_batch():
    epoch = EpochChips(entries=[(i, "chip%d" % i) for i in range(12)], batch_size=4, seed=3, epoch=0, stride=32,
                       num_chips=12, num_negative=0)
    assert worker_share(epoch, 0, 1) is epoch
    first, second = worker_share(epoch, 0, 2), worker_share(epoch, 1, 2)
    assert [i for i, _ in first.entries] == [0, 1, 4, 5, 8, 9]
    assert [i for i, _ in second.entries] == [2, 3, 6, 7, 10, 11]
    assert first.batch_size == second.batch_size == 2 and first.num_batches == second.num_batches == 3
    assert (first.seed, second.seed) == (3 * 1009, 3 * 1009 + 1)  # each worker samples labels from its own seed
