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
