"""dist_sync through MXNet's parameter server (ps-lite) on 127.0.0.1: scheduler, 1 server, 1 or 2 workers.

Each test launches tests/dist_worker.py under scripts/launch_dist.py and checks what the workers report and
save: the updates really happened (weights changed, every worker's own optimizer counted them), the workers
agree, the per-parameter wd and lr multipliers hold (against a local run of the same batches), the dynamic
loss scale may change and skips together, and a resumed run continues the lr schedule.
"""
import json
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from train_helpers import ROOT, tiny_config, tiny_dataset

pytestmark = pytest.mark.slow


def _launch(data_dir, out, workers, mode="plain", *overrides):
    command = [sys.executable, os.path.join(ROOT, "scripts/launch_dist.py"), "-n", str(workers), "-s", "1",
               "--timeout", "400", "--", sys.executable, os.path.join(ROOT, "tests/dist_worker.py"), data_dir,
               str(out), mode] + list(overrides)
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=500,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 0, proc.stderr[-3000:]
    reports = [json.load(open(os.path.join(str(out), "worker%d.json" % r))) for r in range(workers)]
    assert [r["num_workers"] for r in reports] == [workers] * workers
    return reports


def _params(path):
    return {k: v.asnumpy() for k, v in mx.nd.load(path).items()}


def _trained(params):
    return [k for k in params if not k.endswith(("running_mean", "running_var"))]


def _assert_workers_agree_and_trained(out, workers):
    final = [_params(os.path.join(str(out), "worker%d.params" % r)) for r in range(workers)]
    initial = _params(os.path.join(str(out), "worker0.init.params"))
    keys = _trained(final[0])
    assert len(keys) > 10
    for key in keys:  # BN statistics stay per worker (not synchronised), as per device in the paper
        for other in final[1:]:
            np.testing.assert_array_equal(final[0][key], other[key], err_msg=key)
    changed = [k for k in keys if not np.array_equal(initial[k], final[0][k])]
    assert len(changed) > len(keys) // 2, "training changed only %d of %d parameters" % (len(changed), len(keys))


def test_two_workers_update_and_end_with_identical_parameters(tmp_path):
    data_dir = tiny_dataset(tmp_path / "data")
    reports = _launch(data_dir, tmp_path / "out", 2)
    updates = [r["optimizer_updates"] for r in reports]
    assert updates[0] > 0 and updates == [reports[0]["iterations"]] * 2, reports
    _assert_workers_agree_and_trained(tmp_path / "out", 2)


def test_dist_sync_update_equals_a_local_run_with_the_multipliers(tmp_path):
    """wd 0.5 magnifies weight decay wrongly put on biases and BN betas; the deformable head's offset layer
    must train at 0.01 x lr. One dist_sync worker sees the same batches as the local run of the same seed."""
    from lib.train.trainer import Session
    data_dir = tiny_dataset(tmp_path / "data")
    words = ["TRAIN.wd", "0.5", "TRAIN.MAX_ITERATIONS", "4", "network.ROI_POOLING", "deformable"]
    reports = _launch(data_dir, tmp_path / "dist", 1, "plain", *words)
    assert reports[0]["optimizer_updates"] == 4
    local = Session(tiny_config(data_dir, tmp_path / "local", *words))
    local.run()
    dist = _params(os.path.join(str(tmp_path / "dist"), "worker0.params"))
    initial = _params(os.path.join(str(tmp_path / "dist"), "worker0.init.params"))
    params = local.net._collect_params_with_prefix()  # the names save_parameters writes
    for key in _trained(dist):
        np.testing.assert_allclose(dist[key], params[key].data().asnumpy(), rtol=1e-5, atol=1e-7, err_msg=key)
    offsets = [k for k in dist if "offset" in k and k.startswith("head.")]
    assert offsets and all(params[k].lr_mult == 0.01 for k in offsets), offsets
    assert not np.array_equal(initial[offsets[0]], dist[offsets[0]])  # the offset layer trained
    # the single worker also wrote its checkpoint with the optimizer states
    folder = os.path.join(str(tmp_path / "dist"), "shapes_cpu", "train")
    assert os.path.exists(os.path.join(folder, "SNIPER-0001.states"))


def test_dynamic_loss_scale_changes_and_skips_together_under_dist_sync(tmp_path):
    data_dir = tiny_dataset(tmp_path / "data")
    reports = _launch(data_dir, tmp_path / "out", 2, "dynamic")
    for report in reports:  # one skip (worker 1's inf at iteration 2 reaches both through the sum)
        assert report["skipped"] == 1 and report["optimizer_updates"] == report["iterations"] - 1, reports
    iterations = reports[0]["iterations"]
    assert iterations >= 3
    # 8, doubled after each of the iterations - 1 clean steps, halved once
    assert [r["loss_scale"] for r in reports] == [8.0 * 2 ** (iterations - 1) / 2] * 2
    _assert_workers_agree_and_trained(tmp_path / "out", 2)


def _lr_rows(out):
    with open(os.path.join(str(out), "shapes_cpu", "train", "metrics.jsonl")) as f:
        return {row["iteration"]: row["lr"] for row in map(json.loads, f)}


def test_resumed_dist_run_continues_the_schedule(tmp_path):
    """Warmup 0.001 -> 0.005 over 100 updates: update n runs at 0.001 + n * 0.004 / 100 (the original's
    WarmupMultiBatchScheduler, lib/train_utils/lr_scheduler.py line 55), also right after the resume."""
    data_dir = tiny_dataset(tmp_path / "data")
    out = tmp_path / "out"
    schedule = ["TRAIN.warmup", "True", "TRAIN.warmup_lr", "0.001", "TRAIN.warmup_step", "100", "TRAIN.lr", "0.005",
                "TRAIN.end_epoch", "2"]
    first = _launch(data_dir, out, 2, "plain", *schedule, "TRAIN.MAX_ITERATIONS", "3")
    assert [r["optimizer_updates"] for r in first] == [3, 3]
    second = _launch(data_dir, out, 2, "plain", *schedule, "TRAIN.RESUME", "True")
    total = second[0]["iterations"]
    assert total > 4 and [r["optimizer_updates"] for r in second] == [total, total]  # counted on from 3
    lrs = _lr_rows(out)
    assert sorted(lrs) == list(range(1, total + 1))
    for n, lr in lrs.items():
        assert lr == pytest.approx(0.001 + n * 0.004 / 100, rel=1e-6), (n, lr)
