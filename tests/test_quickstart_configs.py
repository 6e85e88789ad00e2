"""The quickstart configs keep the promises their comments and README rows make."""
import json
import os

import pytest

from lib.config import load_config
from lib.specs.training import RoITargetSpec
from train_helpers import QUICKSTART_CFG, ROOT

EFFNET_SHAPES_CFG = os.path.join(ROOT, "configs/quickstart/shapes_effnet_cpu.yml")
FOREST_CFG = os.path.join(ROOT, "configs/quickstart/deepforest_cpu.yml")
FOREST_VAL = os.path.join(ROOT, "data/deepforest/annotations/instances_val.json")
# what the two shapes rows share, so that they differ by the backbone (and its training budget) only
SHARED = ("dataset.dataset", "dataset.image_set", "dataset.test_image_set", "dataset.NUM_CLASSES",
          "TRAIN.CHIP_SIZE", "TRAIN.SCALES", "TRAIN.VALID_RANGES", "TRAIN.FLIP", "TRAIN.USE_NEG_CHIPS",
          "network.ANCHOR_SCALES", "network.ANCHOR_RATIOS", "TEST.SCALES", "TEST.VALID_RANGES", "TEST.NMS",
          "TEST.NMS_SIGMA", "TEST.MAX_PER_IMAGE", "TEST.EVAL_MAX_DETS", "RNG_SEED")


def _get(cfg, key):
    for part in key.split("."):
        cfg = getattr(cfg, part)
    return cfg


@pytest.mark.parametrize("key", SHARED)
def test_effnet_shapes_row_shares_the_tiny_quickstarts_data_chips_and_tester(key):
    assert _get(load_config(EFFNET_SHAPES_CFG), key) == _get(load_config(QUICKSTART_CFG), key)


def test_effnet_shapes_row_uses_the_pretrained_backbone_with_room_for_its_gts():
    cfg = load_config(EFFNET_SHAPES_CFG)
    assert cfg.network.BACKBONE == "efficientnet_lite0" and cfg.network.pretrained.endswith("efficientnet_lite0")
    assert cfg.dataset.MAX_GTS < RoITargetSpec.from_config(cfg).num_rois
    # the lr decays inside the 100 batches: 0.2 epochs of 2978 chips (the tiny quickstart's count) / 8
    assert int(float(cfg.TRAIN.lr_step) * 2978 / cfg.TRAIN.BATCH_IMAGES) < cfg.TRAIN.MAX_ITERATIONS


def test_deepforest_tests_at_its_training_factor_and_counts_every_tree():
    cfg = load_config(FOREST_CFG)
    train = dict(zip(cfg.TRAIN.SCALES, cfg.TRAIN.VALID_RANGES))
    test = dict(zip(cfg.TEST.SCALES, cfg.TEST.VALID_RANGES))
    assert test[1.5] == train[1.5] == (-1, -1)  # the training factor, every tree valid, is one of the test scales
    assert cfg.dataset.MAX_GTS < RoITargetSpec.from_config(cfg).num_rois
    if not os.path.exists(FOREST_VAL):
        pytest.skip("deepforest data not converted (make setup)")
    with open(FOREST_VAL) as f:
        val = json.load(f)
    most = max(sum(a["image_id"] == im["id"] for a in val["annotations"]) for im in val["images"])
    assert most == 279  # the big val scene (README)
    # COCOeval's maxDets and the tester's cap leave room for every tree, and the RPN keeps more proposals than trees
    assert cfg.TEST.EVAL_MAX_DETS >= most and cfg.TEST.MAX_PER_IMAGE >= most
    assert cfg.TEST.RPN_POST_NMS_TOP_N > most
