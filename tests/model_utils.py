"""Shared helpers for the model tests: small configs and synthetic batches."""
import mxnet as mx
import numpy as np

from lib.config import load_config

PAPER = {"resnet101": "configs/faster/sniper_res101_e2e.yml", "resnet50": "configs/faster/sniper_res50_e2e.yml",
         "mobilenetv2": "configs/faster/sniper_mobilenetv2_e2e.yml", "tiny": "configs/quickstart/shapes_cpu.yml"}


def model_config(backbone, *overrides):
    """The backbone's paper (or quickstart) config, fp32, without the AutoFocus branch (the quickstart trains it;
    tests/test_focus_branch.py turns it on), with the fork's 300 RoIs per chip and RoIAlign's default 2 samples
    per bin (the quickstart trains 128 with 1 for CPU time), with `--set`-style overrides."""
    return load_config(PAPER[backbone], ["TRAIN.fp16", "False", "TRAIN.AUTO_FOCUS", "False", "TRAIN.ROIS_PER_CHIP",
                                         "300", "network.ROIALIGN_SAMPLES", "2"] + list(overrides))


def synthetic_batch(cfg, batch, chip, seed=0):
    """(data, im_info, gt_boxes, valid_ranges) mx.nd arrays: 2 gts per chip, the second chip cropped."""
    rng = np.random.RandomState(seed)
    data = rng.normal(0, 50, (batch, 3, chip, chip)).astype(np.float32)
    im_info = np.array([[chip, chip, 1.0]] * batch, dtype=np.float32)
    im_info[1:, :2] = chip * 3 // 4
    gts = -np.ones((batch, cfg.dataset.MAX_GTS, 5), dtype=np.float32)
    gts[:, 0] = [4, 6, chip // 2, chip // 2 + 3, 1]
    gts[:, 1] = [chip // 4, chip // 3, chip // 2 + 10, chip - 20, 2]
    valid = np.array([[0, chip]] * batch, dtype=np.float32)
    return [mx.nd.array(x) for x in (data, im_info, gts, valid)]
