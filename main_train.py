"""Train SNIPER (or the RPN-only short schedule): python main_train.py [--cfg FILE] [--set KEY VALUE ...]."""
import argparse
import logging

import init_paths  # noqa: F401  (repository root on sys.path, logging set up)
from lib.config import add_config_args, config_from_args

DEFAULT_CFG = "configs/faster/sniper_res101_e2e.yml"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__)
    add_config_args(parser, DEFAULT_CFG)
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    logging.info("config %s loaded; training is not implemented at this stage (foundation only)", args.cfg)


if __name__ == "__main__":
    main()
