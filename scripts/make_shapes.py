"""Generate the embedded shapes dataset into cfg.dataset.dataset_path (unless complete) and print statistics.

    python scripts/make_shapes.py --cfg configs/quickstart/shapes_cpu.yml [--set KEY VALUE ...]
"""
import argparse
import logging
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.config import add_config_args, config_from_args  # noqa: E402
from lib.dataset import DatasetError, load_dataset  # noqa: E402
from lib.dataset.shapes import ensure_shapes  # noqa: E402
from lib.dataset.stats import dataset_stats, format_stats  # noqa: E402

DEFAULT_CFG = "configs/quickstart/shapes_cpu.yml"


def make_and_describe(cfg):
    """Generate the dataset if incomplete, then print the statistics of the train and test sets."""
    if cfg.dataset.dataset != "shapes":
        raise DatasetError("config key dataset.dataset is %r; this script makes 'shapes'" % cfg.dataset.dataset)
    start = time.time()
    if ensure_shapes(cfg.dataset.dataset_path):
        print("generated %s in %.1f s" % (cfg.dataset.dataset_path, time.time() - start))
    else:
        print("%s is complete, not regenerated" % cfg.dataset.dataset_path)
    for image_set in (cfg.dataset.image_set, cfg.dataset.test_image_set):
        dataset = load_dataset(cfg, image_set)
        print(format_stats(dataset.name, dataset_stats(dataset)))


def main(argv=None):
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = add_config_args(argparse.ArgumentParser(description=__doc__.splitlines()[0]), DEFAULT_CFG)
    cfg = config_from_args(parser.parse_args(argv))
    try:
        make_and_describe(cfg)
    except DatasetError as e:
        print("error: %s" % e, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
