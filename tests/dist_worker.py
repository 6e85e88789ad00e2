"""A dist_sync training worker for tests/test_dist.py: trains the tiny config, saves its weights by rank.

usage (under scripts/launch_dist.py): python tests/dist_worker.py DATA_DIR OUT_DIR
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from lib.train.trainer import Session  # noqa: E402
from train_helpers import tiny_config  # noqa: E402


def main(data_dir, out_dir):
    session = Session(tiny_config(data_dir, out_dir, "default.kvstore", "dist_sync"))
    session.run()
    session.net.save_parameters(os.path.join(out_dir, "worker%d.params" % session.rank))
    print("worker %d of %d: %d updates" % (session.rank, session.num_workers, session.progress["num_update"]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
