"""scripts/chip_stats.py --write-config: the scale plan by hand (lib/chips/scale_plan.py) and the written config
(COCO and VOC with its own class names) loading back with the derived keys."""
import math
import os
import sys

import numpy as np
import pytest

from dataset_helpers import coco_json, write_coco_set, write_voc
from lib.chips.scale_plan import anchor_scales, band, plan_scales
from lib.config import load_config
from lib.dataset import load_dataset
from train_helpers import QUICKSTART_CFG, ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import chip_stats  # noqa: E402

MIDDLE_256 = math.sqrt(53 * 250) / 2  # the middle of the band of a 256 px chip, 57.55 px


def test_band_and_anchors_scale_with_the_chip():
    assert band(512) == (53.0, 250.0) and band(256) == (26.5, 125.0)
    assert anchor_scales(512, 16) == (2, 4, 7, 10, 13, 16, 24)  # the paper's (configs/faster/sniper_res101_e2e.yml)
    assert anchor_scales(256, 16) == (1, 2, 3.5, 5, 6.5, 8, 12)  # the quickstart's, halved with the chip


def test_one_window_by_hand():
    # boxes of 20 and 80 px (p2 = 20, max = 80) in 1000 px images, 256 px chips: the whole-image factor is 0.256,
    # which suits boxes from 26.5 / 0.256 = 103.5 px; 20..80 is a ratio 4 <= the band's 125 / 26.5 = 4.72: one
    # window, mapped by 57.55 / sqrt(20 * 80) = 1.439; ranges widened by 1.25 (MIN_OVERLAP > sqrt(4.72 / 4)).
    plan = plan_scales([20.0] * 50 + [80.0] * 50, [1000.0] * 10, 256)
    assert plan.scales == (round(MIDDLE_256 / 40, 3), 256.0) and plan.scales[0] == 1.439
    assert plan.valid_ranges == ((-1, 100), (64, -1))  # 80 x 1.25, 80 / 1.25


def test_two_windows_and_the_factor_cap_by_hand():
    # aerial-like: 10..100 px boxes in 2400 px images. Ratio 10 needs 2 windows of ratio sqrt(10): [10, 31.62],
    # [31.62, 100]; factors 57.554 / 17.783 = 3.24 -> capped at 3, 57.554 / 56.234 = 1.02347; m = max(1.25, 1.221).
    plan = plan_scales([10.0] * 50 + [100.0] * 50, [2400.0], 256)
    assert plan.scales[0] == 3.0 and plan.scales[1] == 1.023 and plan.scales[2] == 256.0
    assert plan.valid_ranges == ((-1, 40), (25, 125), (80, -1))  # 31.62 x 1.25, 31.62 / 1.25, 100 x 1.25, 100 / 1.25
    assert plan.notes["windows"] == [[10.0, 31.6], [31.6, 100.0]]


def test_objects_the_whole_image_suits_need_one_scale():
    # 256 px images in 256 px chips: factor 1 suits boxes from 26.5 px; all boxes are 60..200 px
    plan = plan_scales([60.0, 200.0] * 10, [256.0] * 3, 256)
    assert plan.scales == (256.0,) and plan.valid_ranges == ((-1, -1),)
    with pytest.raises(ValueError, match="no gt boxes"):
        plan_scales([], [256.0], 256)


def _coco_dataset(root):
    """train: two 500 x 400 images, one of them dense (120 boxes of 10 px); val: one image. 3 classes."""
    dense = [(1, 1 + k % 3, (5 + 40 * (k % 12), 5 + 40 * (k // 12), 10, 10), {}) for k in range(120)]
    sparse = [(2, 1, (10, 10, 60, 60), {}), (2, 2, (200, 100, 90, 90), {}), (2, 3, (300, 250, 30, 20), {})]
    categories = ((1, "disc"), (5, "square"), (9, "triangle"))
    dense = [(i, (1, 5, 9)[c - 1], b, e) for i, c, b, e in dense]
    sparse = [(i, (1, 5, 9)[c - 1], b, e) for i, c, b, e in sparse]
    write_coco_set(root, "train", coco_json([(1, "a.jpg", 500, 400), (2, "b.jpg", 500, 400)], dense + sparse,
                                            categories))
    write_coco_set(root, "val", coco_json([(1, "c.jpg", 500, 400)], sparse[:1], categories))
    return str(root)


def test_written_coco_config_loads_back_with_the_derived_keys(tmp_path, capsys):
    data = _coco_dataset(tmp_path / "mydata")
    path = str(tmp_path / "mydata.yml")
    code = chip_stats.main(["--cfg", QUICKSTART_CFG, "--write-config", path, "--set", "dataset.dataset", "coco",
                            "dataset.dataset_path", data, "dataset.image_set", "train", "dataset.test_image_set",
                            "val", "TRAIN.end_epoch", "7", "TRAIN.lr_step", "5"])
    out = capsys.readouterr().out
    assert code == 0 and "wrote %s" % path in out and "gts never valid: outside every valid range         0" in out
    text = open(path).read()
    assert text.startswith("# Starting config written by scripts/chip_stats.py --write-config")
    cfg = load_config(path)
    assert cfg.dataset.dataset == "coco" and cfg.dataset.dataset_path == data and cfg.dataset.NUM_CLASSES == 4
    assert cfg.dataset.image_set == "train" and cfg.dataset.test_image_set == "val"
    assert cfg.TEST.TEST_EPOCH == 7 == cfg.TRAIN.end_epoch and cfg.TRAIN.lr_step == "5"
    assert cfg.network.BACKBONE == "tiny" and cfg.TRAIN.CHIP_SIZE == 256  # the base config's other values
    assert cfg.TEST.SCALES == cfg.TRAIN.SCALES and cfg.TEST.VALID_RANGES == cfg.TRAIN.VALID_RANGES
    assert cfg.TRAIN.SCALES[-1] == 256.0 and len(cfg.TEST.BATCH_IMAGES) == len(cfg.TRAIN.SCALES)
    assert cfg.network.NUM_ANCHORS == len(cfg.network.ANCHOR_SCALES) * len(cfg.network.ANCHOR_RATIOS)
    # 120 boxes in one image: the tester keeps and COCOeval counts 300 (twice the most, in hundreds)
    assert cfg.TEST.MAX_PER_IMAGE == 300 and cfg.TEST.EVAL_MAX_DETS == 300 and cfg.dataset.MAX_GTS == 120
    dataset = load_dataset(cfg, "train")  # NUM_CLASSES agrees with the json
    assert dataset.class_names == ["__background__", "disc", "square", "triangle"]
    # the table's suggestion is what was written (it once came from an older rule and disagreed)
    line = next(line for line in out.splitlines() if line.startswith("suggested scales / valid ranges"))
    assert line.split(None, 5)[5] == "%s / %s  (as --write-config)" % (
        list(cfg.TRAIN.SCALES), [list(r) for r in cfg.TRAIN.VALID_RANGES])


def test_written_max_gts_stays_below_the_rois_per_chip(tmp_path, capsys):
    # 120 boxes in one image but 100 rois per chip: the gts take at most 99 roi slots (the layer needs one left)
    data = _coco_dataset(tmp_path / "mydata")
    path = str(tmp_path / "mydata.yml")
    code = chip_stats.main(["--cfg", QUICKSTART_CFG, "--write-config", path, "--set", "dataset.dataset", "coco",
                            "dataset.dataset_path", data, "TRAIN.ROIS_PER_CHIP", "100"])
    assert code == 0, capsys.readouterr().err
    assert load_config(path).dataset.MAX_GTS == 99


def test_voc_with_its_own_class_names(tmp_path, capsys):
    objects = {"im1": (300, 200, [("kayak", (10, 10, 60, 50), 0), ("buoy", (100, 100, 130, 140), 0)]),
               "im2": (300, 200, [("kayak", (20, 30, 120, 90), 0)])}
    write_voc(tmp_path / "voc", "2012", "train", objects)
    path = str(tmp_path / "boats.yml")
    code = chip_stats.main(["--cfg", QUICKSTART_CFG, "--write-config", path, "--set", "dataset.dataset",
                            "PascalVOC", "dataset.dataset_path", str(tmp_path / "voc"), "dataset.root_path",
                            str(tmp_path), "dataset.image_set", "2012_train", "dataset.CLASSES", "auto",
                            "TEST.MAX_PER_IMAGE", "400", "TEST.EVAL_MAX_DETS", "400"])  # a dense-scene base
    assert code == 0, capsys.readouterr().err
    cfg = load_config(path)
    assert cfg.dataset.CLASSES == "buoy,kayak" and cfg.dataset.NUM_CLASSES == 3  # sorted names, fixed in the file
    assert load_dataset(cfg, "2012_train").class_names == ["__background__", "buoy", "kayak"]
    assert cfg.TEST.EVAL_MAX_DETS == 100 and cfg.TEST.MAX_PER_IMAGE == 400  # 2 objects per image: COCO's maxDets


def test_a_dataset_without_boxes_is_one_line(tmp_path, capsys):
    write_coco_set(tmp_path / "empty", "train", coco_json([(1, "a.jpg", 100, 80)], []))
    code = chip_stats.main(["--cfg", QUICKSTART_CFG, "--write-config", str(tmp_path / "x.yml"), "--set",
                            "dataset.dataset", "coco", "dataset.dataset_path", str(tmp_path / "empty")])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and "no gt boxes" in err and len(err.strip().splitlines()) == 1
    assert not os.path.exists(tmp_path / "x.yml")
