"""Train SNIPER (or, with TRAIN.ONLY_PROPOSAL, the RPN-only short schedule for negative chip mining).

    python main_train.py [--cfg FILE] [--resume] [--set KEY VALUE ...]

Without --cfg the paper's COCO ResNet-101 config is used; on a machine without COCO try
`python main_train.py --cfg configs/quickstart/shapes_cpu.yml --set TRAIN.USE_NEG_CHIPS False`.
"""
import argparse
import logging
import sys

import init_paths  # noqa: F401  (repository root on sys.path, logging set up)
from lib.config import ConfigError, add_config_args, config_from_args
from lib.dataset.errors import DatasetError

DEFAULT_CFG = "configs/faster/sniper_res101_e2e.yml"
QUICKSTART_HINT = ("(no COCO here? try the CPU quickstart: python main_train.py --cfg configs/quickstart/shapes_cpu.yml "
                   "--set TRAIN.USE_NEG_CHIPS False)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--resume", action="store_true", help="continue from the latest checkpoint")
    add_config_args(parser, DEFAULT_CFG)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    from lib.train.trainer import Session  # after the config: a config mistake must not wait for MXNet
    try:
        folder = Session(cfg, resume=args.resume or None).run()
    except (ConfigError, DatasetError, FileNotFoundError) as err:
        hint = " " + QUICKSTART_HINT if cfg.dataset.dataset == "coco" and isinstance(err, DatasetError) else ""
        sys.stderr.write("error: %s%s\n" % (err, hint))
        sys.exit(2)
    logging.info("training done: checkpoints in %s", folder)


if __name__ == "__main__":
    main()
