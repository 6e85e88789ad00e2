"""dist_sync through MXNet's parameter server: 1 server + 2 workers on 127.0.0.1 end with the same weights."""
import os
import subprocess
import sys

import mxnet as mx
import numpy as np
import pytest

from train_helpers import ROOT, tiny_dataset

pytestmark = pytest.mark.slow


def test_two_workers_end_with_identical_parameters(tmp_path):
    data_dir = tiny_dataset(tmp_path / "data")
    out = tmp_path / "out"
    command = [sys.executable, os.path.join(ROOT, "scripts/launch_dist.py"), "-n", "2", "-s", "1", "--timeout", "300",
               "--", sys.executable, os.path.join(ROOT, "tests/dist_worker.py"), data_dir, str(out)]
    proc = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "worker 0 of 2" in proc.stdout and "worker 1 of 2" in proc.stdout
    weights = [mx.nd.load(str(out / ("worker%d.params" % r))) for r in (0, 1)]
    trained = [k for k in weights[0] if not k.endswith(("running_mean", "running_var"))]
    assert len(trained) > 10
    for key in trained:  # BN statistics stay per worker (not synchronised), as per device in the paper
        np.testing.assert_array_equal(weights[0][key].asnumpy(), weights[1][key].asnumpy(), err_msg=key)
    initial = mx.nd.load(str(out / "worker0.params"))
    assert any(np.abs(initial[k].asnumpy()).sum() > 0 for k in trained)
