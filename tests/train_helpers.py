"""A tiny shapes dataset and CPU config for trainer/tester tests (seconds per epoch)."""
import os
import sys

from lib.config import load_config
from lib.dataset.shapes import ShapesSpec, ensure_shapes

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
QUICKSTART_CFG = os.path.join(ROOT, "configs/quickstart/shapes_cpu.yml")
TINY_SPEC = ShapesSpec(num_train=3, num_val=2, min_side=300, max_side=420, objects=(2, 5), distractors=(0, 1))


def tiny_dataset(folder):
    """Generate (once) the tiny shapes dataset in `folder`; returns the folder."""
    ensure_shapes(str(folder), TINY_SPEC, workers=1)
    return str(folder)


def tiny_words(data_dir, output_dir):
    """The `--set` words that shrink the quickstart config for tests (see `tiny_config`)."""
    return ["dataset.dataset_path", data_dir, "output_path", str(output_dir), "TRAIN.CHIP_SIZE", "256",
            "TRAIN.SCALES", "(1.5, 256.0)", "TRAIN.VALID_RANGES", "((-1, 60), (40, -1))", "TRAIN.FLIP", "False",
            "TRAIN.BATCH_IMAGES", "1", "TRAIN.NUM_PROCESS", "0", "TRAIN.end_epoch", "1", "TRAIN.DISPLAY", "1",
            "TRAIN.RPN_PRE_NMS_TOP_N", "1000", "network.ROI_POOLING", "roialign", "TRAIN.warmup", "False",
            "TRAIN.lr", "0.005", "TRAIN.lr_step", "", "TEST.SCALES", "((300, 420), (160, 256))",
            "TEST.VALID_RANGES", "((-1, 60), (40, -1))", "TEST.BATCH_IMAGES", "(1, 2)", "TEST.TEST_EPOCH", "1"]


def tiny_config(data_dir, output_dir, *overrides):
    """The quickstart config shrunk for tests: 256 px chips, 2 scales, ROIAlign, no flip, 1 chip per device."""
    return load_config(QUICKSTART_CFG, tiny_words(data_dir, output_dir) + list(overrides))


def train_tiny(data_dir, output_dir, *overrides):
    """Train the tiny config (1 epoch, ~2 s) into `output_dir`; returns the config it was trained with."""
    from lib.train.trainer import Session
    cfg = tiny_config(data_dir, output_dir, *overrides)
    Session(cfg).run()
    return cfg


def train_command(data_dir, output_dir, *overrides, flags=()):
    """main_train.py's command line for the tiny config plus `overrides` (--set words), for subprocess runs."""
    return ([sys.executable, os.path.join(ROOT, "main_train.py"), "--cfg", QUICKSTART_CFG] + list(flags)
            + ["--set"] + tiny_words(data_dir, output_dir) + list(overrides))
