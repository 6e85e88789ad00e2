"""scripts/check_gpu_setup.py: build features, GPUs, libraries, the memory table, the per-device fit."""
import os
import subprocess
import sys

import mxnet as mx
import pytest

from lib.config import load_config
from train_helpers import QUICKSTART_CFG, ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import check_gpu_setup  # noqa: E402

NO_GPU = mx.context.num_gpus() == 0
NO_NCCL = not mx.runtime.Features().is_enabled("NCCL")


def _run(*args):
    return subprocess.run([sys.executable, "scripts/check_gpu_setup.py"] + list(args), cwd=ROOT, capture_output=True,
                          text=True, timeout=600, env=dict(os.environ, OMP_NUM_THREADS="1"))


@pytest.mark.skipif(not NO_GPU, reason="this machine has a GPU")
def test_paper_config_on_a_machine_without_gpu():
    proc = _run()  # configs/faster/sniper_res101_e2e.yml: 8 GPUs, fp16
    assert proc.returncode == 2, proc.stderr[-2000:]
    out = proc.stdout
    assert "MXNet %s build: CUDA no" % mx.__version__ in out and "GPUs visible to MXNet: none" in out
    assert "CUDA libraries (ldconfig): cuda:" in out and "libmxnet.so dependencies not found: none" in out
    errors = [line for line in proc.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "MXNet sees no GPU" in errors[0]
    rows = {tuple(line.split()[:2]): [float(v) for v in line.split()[2:]] for line in out.splitlines()
            if line.startswith("  ") and line.split()[:1] and line.split()[0] in ("resnet101", "resnet50", "mobilenetv2")}
    assert len(rows) == 6, out
    for backbone in ("resnet101", "resnet50", "mobilenetv2"):
        chip, fp32, fixed, sixteen = rows[(backbone, "fp32")]
        assert chip == 512 and fp32 > 100 and sixteen == pytest.approx(fixed + 16 * fp32, abs=1)
        assert rows[(backbone, "fp16")][1] < 0.75 * fp32  # the fp16 backbone halves most activations
    assert rows[("resnet101", "fp32")][1] > rows[("resnet50", "fp32")][1] > rows[("mobilenetv2", "fp32")][1]


def test_cpu_config_passes():
    proc = _run("--no-table", "--cfg", QUICKSTART_CFG)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "gpus '' = the CPU" in proc.stdout


@pytest.mark.skipif(not NO_NCCL, reason="this build has NCCL")
def test_nccl_refused_on_a_build_without_nccl():
    proc = _run("--no-table", "--cfg", QUICKSTART_CFG, "--set", "default.kvstore", "nccl")
    assert proc.returncode == 2
    assert "default.kvstore: 'nccl' needs an MXNet build with NCCL" in proc.stderr


def test_fit_per_gpu_from_the_plan(monkeypatch):
    monkeypatch.setattr(mx.context, "num_gpus", lambda: 2)
    cfg = load_config(QUICKSTART_CFG, ["gpus", "0,1", "default.kvstore", "device", "TRAIN.BATCH_IMAGES", "4"])
    per_chip, fixed = check_gpu_setup.memory_row(cfg)
    need = fixed + 4 * per_chip
    assert per_chip > 1 and fixed > check_gpu_setup.MARGIN_MB
    features = mx.runtime.Features()
    lines, problems = check_gpu_setup.check_devices(cfg, {0: need + 10, 1: need - 10}, features)
    assert "gpu(0)" in lines[0] and lines[0].endswith("ok") and lines[1].endswith("TOO SMALL")
    assert len(problems) == 1 and "gpu(1) cannot hold TRAIN.BATCH_IMAGES 4 chips" in problems[0]
