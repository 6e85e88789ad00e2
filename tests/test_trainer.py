"""The training session on the tiny shapes data: devices, multipliers, schedule, resume, kill -9, dist_sync."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import mxnet as mx
import numpy as np
import pytest

from lib.train.checkpoint import latest_checkpoint, list_checkpoints
from lib.train.metrics import RunningMetrics
from lib.specs.training import LoaderSpec
from lib.train.trainer import Session
from train_helpers import ROOT, tiny_config, tiny_dataset

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("shapes_tiny"))


def _params(net):
    return {k: v.data(v.list_ctx()[0]).asnumpy() for k, v in net.collect_params().items()}


def test_two_cpu_devices_reduce_the_loss_on_a_fixed_batch(data_dir, tmp_path):
    cfg = tiny_config(data_dir, tmp_path, "gpus", "cpu:0,cpu:1", "TRAIN.lr", "0.01")
    session = Session(cfg)
    assert session.contexts == [mx.cpu(0), mx.cpu(1)] and session.first_epoch.batch_size == 2
    from lib.data.loader import batch_items, build_batch
    batch, _ = build_batch(batch_items(session.records, session.first_epoch, 0), LoaderSpec.from_config(cfg))
    losses = []
    for iteration in range(1, 26):
        metrics = RunningMetrics()
        session.run_step(batch, metrics)
        values = metrics.values()
        losses.append(values["RPNLogLoss"] + values["RCNNLogLoss"])
    assert np.mean(losses[-3:]) < 0.6 * np.mean(losses[:3]), losses
    # both devices hold the same weights after the synchronised steps
    for param in session.net.collect_params().values():
        if param.grad_req != "null":
            a, b = (param.data(ctx).asnumpy() for ctx in session.contexts)
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_multipliers_and_frozen_params_reach_the_optimizer(data_dir, tmp_path):
    cfg = tiny_config(data_dir, tmp_path, "network.FIXED_PARAMS", "['stage1']")
    session = Session(cfg)
    optimizer = session.trainer._optimizer
    by_name = {p.name: p for p in optimizer.param_dict.values()}
    biases = [n for n in by_name if n.endswith("_bias")]
    assert biases and all(by_name[n].wd_mult == 0 for n in biases)
    assert all(p.wd_mult == 1 for n, p in by_name.items() if n.endswith(("_weight", "_gamma")))
    frozen = [p for p in session.net.collect_params().values() if "stage1" in p.name]
    assert all(p.grad_req == "null" for p in frozen)
    offsets = [p for n, p in by_name.items() if n in ("offset_weight", "offset_bias")]
    assert all(p.lr_mult == 0.01 for p in offsets)


def test_schedule_steps_from_first_epoch_chip_count(data_dir, tmp_path):
    cfg = tiny_config(data_dir, tmp_path, "TRAIN.lr_step", "1.5", "TRAIN.warmup", "True", "TRAIN.warmup_step", "2",
                      "TRAIN.warmup_lr", "0.001")
    session = Session(cfg)
    scheduler = session.trainer._optimizer.lr_scheduler
    first = session.first_epoch
    step = int(1.5 * first.num_chips / first.batch_size)
    assert scheduler.steps == [step] and step > 2
    assert scheduler(1) == pytest.approx(0.001 + (0.005 - 0.001) / 2)
    assert scheduler(2) == pytest.approx(0.005) and scheduler(step) == pytest.approx(0.005)
    assert scheduler(step + 1) == pytest.approx(0.0005)


def test_resume_continues_exactly_where_an_uninterrupted_run_goes(data_dir, tmp_path):
    straight = Session(tiny_config(data_dir, tmp_path / "a", "TRAIN.end_epoch", "2"))
    straight.run()
    first_half = Session(tiny_config(data_dir, tmp_path / "b", "TRAIN.end_epoch", "1"))
    first_half.run()
    resumed = Session(tiny_config(data_dir, tmp_path / "b", "TRAIN.end_epoch", "2"), resume=True)
    assert resumed.progress["epoch"] == 1 and resumed.progress["num_update"] == first_half.progress["num_update"]
    resumed.run()
    assert resumed.progress["num_update"] == straight.progress["num_update"]
    a, b = _params(straight.net), _params(resumed.net)
    assert a.keys() == b.keys()
    for name in a:
        np.testing.assert_allclose(a[name], b[name], rtol=1e-4, atol=1e-5, err_msg=name)


def _train_command(data_dir, out, *extra):
    words = [w for pair in zip(tiny_config_words(data_dir, out)[0::2], tiny_config_words(data_dir, out)[1::2])
             for w in pair]
    return [sys.executable, os.path.join(ROOT, "main_train.py"), "--cfg",
            os.path.join(ROOT, "configs/quickstart/shapes_cpu.yml")] + list(extra) + ["--set"] + words


def tiny_config_words(data_dir, out):
    """The `--set` words of tiny_config (for subprocess runs)."""
    cfg = tiny_config(data_dir, out)
    keys = ["dataset.dataset_path", "output_path", "TRAIN.CHIP_SIZE", "TRAIN.SCALES", "TRAIN.VALID_RANGES",
            "TRAIN.FLIP", "TRAIN.BATCH_IMAGES", "TRAIN.NUM_PROCESS", "TRAIN.RPN_PRE_NMS_TOP_N",
            "network.ROI_POOLING", "TRAIN.warmup", "TRAIN.lr_step"]
    words = []
    for key in keys:
        section, _, name = key.rpartition(".")
        value = cfg[section][name] if section else cfg[name]
        words += [key, str(value)]
    return words + ["TRAIN.end_epoch", "2", "TRAIN.CHECKPOINT_ITERS", "2", "TRAIN.DISPLAY", "1"]


def test_killed_run_resumes_from_its_last_checkpoint(data_dir, tmp_path):
    command = _train_command(data_dir, tmp_path)
    folder = os.path.join(str(tmp_path), "shapes_cpu", "train")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while not list_checkpoints(folder) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.1)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    progress, stem = latest_checkpoint(folder)
    assert progress is not None, "no checkpoint was written before the kill"
    mx.nd.load(stem + ".params")  # loadable after kill -9
    done = subprocess.run(command[:4] + ["--resume"] + command[4:], cwd=ROOT, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "resumed from" in done.stderr
    final, _ = latest_checkpoint(folder)
    assert (final["epoch"], final["batch"]) == (2, 0)
    assert not glob.glob(os.path.join(folder, ".tmp-*"))
    rows = [json.loads(line) for line in open(os.path.join(folder, "metrics.jsonl"))]
    iterations = [r["iteration"] for r in rows]
    assert iterations == sorted(set(iterations))  # no interval logged twice across the restart
    assert os.path.getsize(os.path.join(folder, "loss_curve.png")) > 1000


def test_max_iterations_cuts_the_run_and_pixels_count_the_inputs(data_dir, tmp_path):
    """Full-image multi-scale training (two canvases, a loader worker) stopped by TRAIN.MAX_ITERATIONS."""
    from lib.chips.full_image import full_image_canvas
    cfg = tiny_config(data_dir, tmp_path, "TRAIN.FULL_IMAGE", "True", "TRAIN.SCALES", "((300, 420), (160, 256))",
                      "TRAIN.end_epoch", "3", "TRAIN.MAX_ITERATIONS", "7", "TRAIN.NUM_PROCESS", "1")
    session = Session(cfg)
    folder = session.run()
    progress, stem = latest_checkpoint(folder)
    assert stem.endswith("SNIPER-0003") and progress["num_update"] == 7 and progress["batch"] == 0
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        rows = [json.loads(line) for line in f]
    assert [r["epoch"] for r in rows] == [1, 1, 1, 2, 2, 2, 3]  # 3 images per epoch, the third cut after one
    canvases = {full_image_canvas(s) ** 2 for s in cfg.TRAIN.SCALES}
    steps = np.diff([0] + [r["pixels"] for r in rows])
    assert set(steps) <= canvases and len(set(steps)) == 2 and rows[-1]["pixels"] == progress["pixels"]
    assert all(np.isfinite(r["RPNLogLoss"]) and np.isfinite(r["RCNNLogLoss"]) for r in rows)
