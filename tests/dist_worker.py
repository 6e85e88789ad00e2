"""A dist_sync training worker for tests/test_dist.py: trains the tiny config and reports what it did.

usage (under scripts/launch_dist.py): python tests/dist_worker.py DATA_DIR OUT_DIR MODE [KEY VALUE ...]
MODE: plain, or dynamic (a dynamic loss scale that doubles after every clean step, and worker 1's loss made
infinite at iteration 2). KEY VALUE pairs are config overrides. Writes OUT_DIR/worker<rank>.init.params (before
training), worker<rank>.params (after) and worker<rank>.json (updates made by its optimizer, loss scale, skips).
"""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.train.mixed_precision import LossScaler  # noqa: E402
from lib.train.trainer import Session  # noqa: E402
from train_helpers import tiny_config  # noqa: E402

POISONED_ITERATION = 2


def poison_worker_one(session):
    """Worker 1's total loss becomes inf at POISONED_ITERATION (its terms stay finite): only the summed
    gradient shows it, so every worker must skip that step."""
    compute = session._device_losses

    def losses(part):
        out = compute(part)
        if session.rank == 1 and session.progress["num_update"] == POISONED_ITERATION:
            out["total"] = out["total"] * float("inf")
        return out
    session._device_losses = losses


def main(data_dir, out_dir, mode, *overrides):
    session = Session(tiny_config(data_dir, out_dir, "default.kvstore", "dist_sync", *overrides))
    if mode == "dynamic":
        session.scaler = LossScaler(scale=8.0, dynamic=True, growth_interval=1)
        poison_worker_one(session)
    rank = session.rank
    session.net.save_parameters(os.path.join(out_dir, "worker%d.init.params" % rank))
    session.run()
    session.net.save_parameters(os.path.join(out_dir, "worker%d.params" % rank))
    report = {"rank": rank, "num_workers": session.num_workers, "iterations": session.progress["num_update"],
              "optimizer_updates": session.trainer.optimizer.num_update, "loss_scale": session.scaler.scale,
              "skipped": session.scaler.skipped}
    with open(os.path.join(out_dir, "worker%d.json" % rank), "w") as f:
        json.dump(report, f)
    print("worker %d of %d: %d updates" % (rank, session.num_workers, report["optimizer_updates"]))


if __name__ == "__main__":
    main(*sys.argv[1:])
