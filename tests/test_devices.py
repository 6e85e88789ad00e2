"""GPU requests are honoured or refused; test jobs get their own devices; cuDNN autotuning per use."""
import os
import subprocess
import sys

import mxnet as mx
import pytest

from lib.config import ConfigError, load_config
from lib.inference import network
from lib.inference.jobs import deal_contexts, shard_bounds
from lib.runtime import devices
from lib.runtime.devices import parse_contexts
from train_helpers import QUICKSTART_CFG, ROOT


def test_gpu_request_without_gpu_is_refused():
    with pytest.raises(ConfigError, match="gpus: GPUs 0,1 requested but MXNet sees no GPU"):
        parse_contexts("0,1", num_gpus=0)
    assert parse_contexts("", num_gpus=0) == [mx.cpu(0)]
    assert parse_contexts("0,1", num_gpus=2) == [mx.gpu(0), mx.gpu(1)]


@pytest.mark.skipif(mx.context.num_gpus() > 0, reason="this machine has a GPU")
def test_main_train_with_gpus_on_a_cpu_machine_exits_2_with_one_line(tmp_path):
    command = [sys.executable, "main_train.py", "--cfg", QUICKSTART_CFG, "--set", "gpus", "0,1",
               "output_path", str(tmp_path), "dataset.dataset_path", str(tmp_path / "absent")]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300,
                          env=dict(os.environ, OMP_NUM_THREADS="1"))
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "gpus" in lines[0] and "no GPU" in lines[0], proc.stderr
    assert not os.listdir(str(tmp_path))  # refused before any dataset or output folder


def test_concurrent_jobs_deal_the_gpus_out():
    gpus = [mx.gpu(i) for i in range(4)]
    assert deal_contexts(gpus, 1) == [gpus]
    assert deal_contexts(gpus, 2) == [[gpus[0], gpus[2]], [gpus[1], gpus[3]]]
    assert deal_contexts(gpus, 4) == [[g] for g in gpus]
    assert deal_contexts(gpus[:3], 2) == [[gpus[0], gpus[2]], [gpus[1]]]
    assert deal_contexts(gpus[:2], 3) == [[gpus[0]], [gpus[1]], [gpus[0]]]
    assert deal_contexts([mx.cpu(0)], 2) == [[mx.cpu(0)], [mx.cpu(0)]]


def test_shards_follow_the_jobs_device_counts():
    assert shard_bounds(9, [2, 1]) == [(0, 0, 6), (1, 6, 9)]
    assert shard_bounds(10, [1, 1]) == [(0, 0, 5), (1, 5, 10)]
    assert shard_bounds(1, [1, 1, 1]) == [(1, 0, 1)]  # the empty jobs are dropped


def test_cudnn_autotune_off_for_the_test_network_on_for_training(monkeypatch, tmp_path):
    monkeypatch.setattr(devices, "_USER_AUTOTUNE", None)
    monkeypatch.setenv(devices.AUTOTUNE_ENV, "1")
    with pytest.raises(Exception):  # no checkpoint: the switch comes before the weights are read
        network.build_test_network(load_config(), str(tmp_path / "none.params"), [mx.cpu()])
    assert os.environ[devices.AUTOTUNE_ENV] == "0"
    devices.set_cudnn_autotune(True)
    assert os.environ[devices.AUTOTUNE_ENV] == "1"
    monkeypatch.setattr(devices, "_USER_AUTOTUNE", "2")  # a value the user exported is kept
    devices.set_cudnn_autotune(False)
    assert os.environ[devices.AUTOTUNE_ENV] == "1"
