"""lr schedule, devices, loss scaling, checkpoints and metrics of the trainer."""
import os

import mxnet as mx
import numpy as np
import pytest
from mxnet import gluon

from lib.config import ConfigError, load_config
from lib.train.checkpoint import latest_checkpoint, list_checkpoints, output_dir, save_checkpoint
from lib.runtime.devices import parse_contexts, split_batch
from lib.train.lr_schedule import WarmupMultiStepScheduler, build_scheduler, step_iterations
from lib.train.metrics import RunningMetrics, classification_sums
from lib.train.mixed_precision import LossScaler, check_fp16_contexts


def test_step_iterations_from_first_epoch_chip_count():
    # reference: int(e * N0 / 128) for e in lr_step epochs > begin_epoch
    assert step_iterations("5.33", 12800, 128) == [533]
    assert step_iterations("3,5", 1000, 10, begin_epoch=4) == [100]
    assert step_iterations("", 1000, 10) == []


def test_warmup_then_steps():
    sched = WarmupMultiStepScheduler(0.015, [533], factor=0.1, warmup_steps=1000, warmup_lr=0.0005)
    assert sched(0) == pytest.approx(0.0005)
    assert sched(500) == pytest.approx(0.0005 + 500 * (0.015 - 0.0005) / 1000)
    sched = WarmupMultiStepScheduler(0.01, [100, 200], factor=0.1, warmup_steps=10, warmup_lr=0.001)
    assert sched(10) == pytest.approx(0.01) and sched(100) == pytest.approx(0.01)
    assert sched(101) == pytest.approx(0.001) and sched(201) == pytest.approx(0.0001)


def test_build_scheduler_honours_warmup_switch():
    cfg = load_config(None, ["TRAIN.lr", "0.02", "TRAIN.lr_step", "2", "TRAIN.warmup", "False",
                             "TRAIN.warmup_step", "50", "TRAIN.warmup_lr", "0.001"])
    sched = build_scheduler(cfg, chips_per_epoch=400, global_batch=8)
    assert sched.steps == [100] and sched(1) == pytest.approx(0.02) and sched(101) == pytest.approx(0.002)


def test_parse_contexts():
    assert parse_contexts("") == [mx.cpu(0)]
    assert parse_contexts("cpu:0,cpu:1") == [mx.cpu(0), mx.cpu(1)]
    with pytest.raises(ConfigError, match="gpus: GPUs 0,1 requested but MXNet sees no GPU"):
        parse_contexts("0,1", num_gpus=0)
    assert parse_contexts("0,1", num_gpus=2) == [mx.gpu(0), mx.gpu(1)]
    with pytest.raises(ConfigError, match="only 1 GPUs"):
        parse_contexts("0,3", num_gpus=1)
    with pytest.raises(ConfigError, match="gpus"):
        parse_contexts("a,b")


def test_split_batch_keeps_order_and_dtype():
    batch = {"data": np.arange(8, dtype=np.float32).reshape(4, 2), "label": np.arange(4, dtype=np.int32)}
    parts = split_batch(batch, [mx.cpu(0), mx.cpu(1)])
    assert parts[1]["data"].asnumpy().tolist() == [[4, 5], [6, 7]] and parts[1]["label"].dtype == np.int32
    with pytest.raises(ValueError, match="evenly"):
        split_batch({"x": np.zeros((3, 1))}, [mx.cpu(0), mx.cpu(1)])


def test_fp16_on_cpu_is_one_clear_error():
    cfg = load_config(None, ["TRAIN.fp16", "True"])
    with pytest.raises(ConfigError, match="TRAIN.fp16.*needs a GPU"):
        check_fp16_contexts(cfg, [mx.cpu(0)])
    check_fp16_contexts(load_config(), [mx.cpu(0)])


def _net_with_grad(value):
    net = gluon.nn.Dense(2, in_units=2)
    net.initialize()
    with mx.autograd.record():
        loss = (net(mx.nd.ones((1, 2))) * value).sum()
    loss.backward()
    return net


def test_dynamic_loss_scale_skips_non_finite_steps():
    scaler = LossScaler(scale=128.0, dynamic=True, growth_interval=2)
    assert scaler.step_ok(_net_with_grad(float("inf")).weight.list_grad(), 7) is False
    assert scaler.scale == 64.0 and scaler.skipped == 1
    good = _net_with_grad(1.0).weight.list_grad()
    assert scaler.step_ok(good, 8) and scaler.step_ok(good, 9)
    assert scaler.scale == 128.0
    static = LossScaler(scale=100.0)
    assert static.step_ok(_net_with_grad(float("nan")).weight.list_grad(), 1) is True
    cfg = load_config(None, ["TRAIN.fp16", "True", "TRAIN.scale", "100", "TRAIN.DYNAMIC_LOSS_SCALE", "True"])
    assert LossScaler.from_config(cfg).dynamic and LossScaler.from_config(cfg).scale == 100.0
    assert LossScaler.from_config(load_config(None, ["TRAIN.scale", "100"])).scale == 1.0


def _trained_net_and_trainer():
    net = gluon.nn.Dense(3, in_units=4)
    net.initialize(mx.init.Constant(0.5))
    trainer = gluon.Trainer(net.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    with mx.autograd.record():
        loss = net(mx.nd.ones((2, 4))).sum()
    loss.backward()
    trainer.step(1)
    return net, trainer


def test_checkpoint_layout_and_latest(tmp_path):
    cfg = load_config(None, ["output_path", str(tmp_path), "dataset.image_set", "train+val"])
    folder = output_dir(cfg)
    assert folder == os.path.join(str(tmp_path), "default", "train_val")
    net, trainer = _trained_net_and_trainer()
    save_checkpoint(net, trainer, folder, {"epoch": 1, "batch": 0, "num_update": 5})
    save_checkpoint(net, trainer, folder, {"epoch": 1, "batch": 3, "num_update": 8})
    progress, stem = latest_checkpoint(folder)
    assert progress["num_update"] == 8 and stem.endswith("SNIPER-0001-000003")
    save_checkpoint(net, trainer, folder, {"epoch": 2, "batch": 0, "num_update": 10})
    assert [(e, b) for e, b, _ in list_checkpoints(folder)] == [(1, 0), (2, 0)]  # iteration ckpt removed


def test_incomplete_checkpoint_is_ignored(tmp_path):
    net, trainer = _trained_net_and_trainer()
    save_checkpoint(net, trainer, str(tmp_path), {"epoch": 1, "batch": 0, "num_update": 5})
    # a run killed while writing epoch 2: params and a temp file exist, the progress marker does not
    (tmp_path / "SNIPER-0002.params").write_bytes(b"partial")
    (tmp_path / ".tmp-SNIPER-0002.states-x").write_bytes(b"partial")
    progress, stem = latest_checkpoint(str(tmp_path))
    assert progress["epoch"] == 1
    restored = gluon.nn.Dense(3, in_units=4)
    restored.load_parameters(stem + ".params")
    np.testing.assert_allclose(restored.weight.data().asnumpy(), net.weight.data().asnumpy())


def test_trainer_states_round_trip(tmp_path):
    net, trainer = _trained_net_and_trainer()
    save_checkpoint(net, trainer, str(tmp_path), {"epoch": 1, "batch": 0, "num_update": 1})
    net2 = gluon.nn.Dense(3, in_units=4)
    net2.load_parameters(str(tmp_path / "SNIPER-0001.params"))
    trainer2 = gluon.Trainer(net2.collect_params(), "sgd", {"learning_rate": 0.1, "momentum": 0.9})
    trainer2.load_states(str(tmp_path / "SNIPER-0001.states"))
    for n, t in ((net, trainer), (net2, trainer2)):
        with mx.autograd.record():
            loss = n(mx.nd.ones((2, 4))).sum()
        loss.backward()
        t.step(1)
    np.testing.assert_allclose(net.weight.data().asnumpy(), net2.weight.data().asnumpy(), rtol=1e-6)


def test_classification_metrics_ignore_minus_one():
    probs = np.array([[0.9, 0.1], [0.2, 0.8], [0.5, 0.5], [0.3, 0.7]])
    labels = np.array([0, 0, -1, 1])
    correct, logloss, count = classification_sums(mx.nd.array(probs), mx.nd.array(labels), class_axis=1).asnumpy()
    assert (correct, count) == (2.0, 3)
    assert logloss == pytest.approx(-(np.log(0.9) + np.log(0.2) + np.log(0.7)), rel=1e-6)
    metrics = RunningMetrics()
    metrics.add_stats({"RPN": [correct, logloss, count, 1.5]})
    values = metrics.values()
    assert values["RPNAcc"] == pytest.approx(2 / 3) and values["RPNL1Loss"] == pytest.approx(0.5)
    assert "RCNNAcc" not in values
