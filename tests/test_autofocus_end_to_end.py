"""main_test.py with the FocusPixel branch trained (the quickstart config trains it): the metrics json carries the
network-input pixels per image, equal to the batches' canvases counted by hand, for the full pyramid, AutoFocus
and tiles."""
import json
import os

import pytest

import main_test
from lib.dataset import load_dataset
from lib.inference.pyramid import plan_batches
from train_helpers import tiny_dataset, train_tiny

pytestmark = pytest.mark.slow


def metrics_json(cfg):
    path = os.path.join(cfg.output_path, "shapes_cpu", "train", "results", "detections_val_metrics.json")
    with open(path) as f:
        return json.load(f)


def test_pixels_per_image_in_the_metrics_json(tmp_path):
    from lib.config import load_config
    from train_helpers import tiny_words, QUICKSTART_CFG
    data_dir = tiny_dataset(tmp_path / "data")
    cfg = train_tiny(data_dir, tmp_path / "out")
    assert cfg.TRAIN.AUTO_FOCUS
    main_test.run(cfg)
    full = metrics_json(cfg)
    records = load_dataset(cfg, cfg.dataset.test_image_set).records
    expected = 0
    for k, scale in enumerate(cfg.TEST.SCALES):  # ((300, 420), (160, 256)), 1 and 2 images per batch
        for batch in plan_batches(records, scale, cfg.TEST.BATCH_IMAGES[k], is_last=k == len(cfg.TEST.SCALES) - 1):
            expected += len(batch.indices) * batch.canvas[0] * batch.canvas[1]
    assert full["pixels_per_image"] == expected / len(records) and full["images_per_second"] > 0
    for words in (["TEST.AUTO_FOCUS", "True"], ["TEST.TILE_SIZE", "128", "TEST.TILE_OVERLAP", "48"]):
        variant = load_config(QUICKSTART_CFG, tiny_words(data_dir, tmp_path / "out") + words)
        main_test.run(variant)
        other = metrics_json(variant)
        assert "AP" in other["metrics"] and other["pixels_per_image"] > 0
        if words[0] == "TEST.TILE_SIZE":  # 128 px tiles overlapping by 48 cover the images more than once
            assert other["pixels_per_image"] > full["pixels_per_image"]


def test_focus_chips_and_masks_in_one_run(tmp_path):
    """A mask config trained with the FocusPixel branch, tested with TEST.AUTO_FOCUS (the quickstart's pruning of
    the finer scale): detections come from focus chips and every one carries a mask the size of its image."""
    import numpy as np
    import pycocotools.mask as mask_util
    from lib.config import load_config
    from lib.train.trainer import Session
    from train_helpers import ROOT, tiny_words
    data_dir = tiny_dataset(tmp_path / "data")
    words = tiny_words(data_dir, tmp_path / "out") + [
        "TRAIN.AUTO_FOCUS", "True", "TRAIN.AUTO_FOCUS_SMALL_THRESH", "24", "TRAIN.AUTO_FOCUS_DC_LOW", "3",
        "TRAIN.AUTO_FOCUS_DC_HIGH", "40", "TEST.DO_PRUNING", "(True, False)",
        "TEST.CHIP_HYPERPARAMS", "((-1, -1, -1), (3, 0.2, 3))"]
    cfg_file = os.path.join(ROOT, "configs/quickstart/shapes_mask_cpu.yml")
    Session(load_config(cfg_file, words)).run()
    full = load_config(cfg_file, words)
    main_test.run(full)
    focus = load_config(cfg_file, words + ["TEST.AUTO_FOCUS", "True"])
    evaluation = main_test.run(focus)
    assert "AP" in evaluation["segm"]["metrics"]
    results_dir = os.path.join(focus.output_path, "shapes_mask_cpu", "train", "results")
    with open(os.path.join(results_dir, "detections_val_metrics.json")) as f:
        focus_pixels = json.load(f)["pixels_per_image"]
    with open(os.path.join(results_dir, "detections_val_results.json")) as f:
        results = json.load(f)
    sizes = {r.image_id: (r.height, r.width) for r in load_dataset(focus, "val").records}
    assert results and all(tuple(mask_util.decode(r["segmentation"]).shape) == sizes[r["image_id"]]
                           for r in results)
    assert all(np.isfinite(r["bbox"]).all() for r in results)
    assert focus_pixels > 0
