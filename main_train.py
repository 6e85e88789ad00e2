"""Train SNIPER (or, with TRAIN.ONLY_PROPOSAL, the RPN-only short schedule for negative chip mining).

    python main_train.py [--cfg FILE] [--resume | --overwrite] [--set KEY VALUE ...]

Without --cfg the paper's COCO ResNet-101 config is used; on a machine without COCO try
`python main_train.py --cfg configs/quickstart/shapes_cpu.yml --set TRAIN.USE_NEG_CHIPS False`.

Exit codes: 0 done; 2 a user mistake (config, data, an output folder holding another run or locked by one, a
corrupt or mismatched checkpoint, an unwritable output folder); 1 a fault of the machine (disk full, I/O error);
128 + the signal number when stopped by a signal (130 Ctrl-C, 143 SIGTERM, 129 SIGHUP), after writing a
checkpoint of the last finished step.
"""
import argparse
import logging
import signal
import sys

import init_paths  # noqa: F401  (repository root on sys.path, logging set up)
from lib.config import ConfigError, add_config_args, config_from_args
from lib.dataset.errors import DatasetError

DEFAULT_CFG = "configs/faster/sniper_res101_e2e.yml"
QUICKSTART = "python main_train.py --cfg configs/quickstart/shapes_cpu.yml --set TRAIN.USE_NEG_CHIPS False"
QUICKSTART_HINT = "(no COCO here? try the CPU quickstart: %s)" % QUICKSTART
GPU_HINT = "(no GPU here? the CPU quickstart trains on generated data: %s)" % QUICKSTART


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    parser.add_argument("--overwrite", action="store_true",
                        help="delete the checkpoints and logs of a previous run in the output folder first")
    add_config_args(parser, DEFAULT_CFG)
    return parser.parse_args(argv)


def _interrupted(err):
    """One line for a run stopped by a signal; returns the exit code 128 + signal number."""
    signum = getattr(err, "signum", signal.SIGINT)
    if getattr(err, "checkpoint", None):
        where = "checkpoint %s written; continue with --resume" % err.checkpoint
    elif getattr(err, "in_run", False):
        where = "nothing trained since the last checkpoint; continue with --resume"
    else:
        where = "before training started"
    sys.stderr.write("interrupted by %s: %s\n" % (signal.Signals(signum).name, where))
    return 128 + signum


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    from lib.train.signals import InterruptGuard
    try:
        with InterruptGuard():
            from lib.data.loader_worker import LoaderError
            from lib.model.checkpoint_names import CheckpointError
            from lib.train.output_errors import OutputError
            from lib.train.run_dir import RunFolderError
            from lib.train.trainer import Session  # after the config: a config mistake must not wait for MXNet
            try:
                folder = Session(cfg, resume=args.resume or None, overwrite=args.overwrite).run()
            except OutputError as err:
                sys.stderr.write("error: %s\n" % err)
                sys.exit(err.exit_code)
            except LoaderError as err:  # a loader worker stalled or died: a fault, not a user mistake
                sys.stderr.write("error: %s\n" % err)
                sys.exit(1)
            except (ConfigError, DatasetError, FileNotFoundError, CheckpointError, RunFolderError) as err:
                if isinstance(err, ConfigError) and str(err).startswith("config key gpus:"):
                    err = "%s %s" % (err, GPU_HINT)  # devices are checked before the training set
                if cfg.dataset.dataset == "coco" and isinstance(err, DatasetError):
                    from lib.inference.prerequisites import with_dataset_hint  # + the download for an absent set
                    err = "%s %s" % (with_dataset_hint(cfg, cfg.dataset.image_set, err), QUICKSTART_HINT)
                sys.stderr.write("error: %s\n" % err)
                sys.exit(2)
    except KeyboardInterrupt as err:
        sys.exit(_interrupted(err))
    logging.info("training done: checkpoints in %s", folder)


if __name__ == "__main__":
    main()
