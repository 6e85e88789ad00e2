"""One inference path: the Python API (Detector) and main_test.py give the same detections for the same images,
and a training chip and a test image are prepared by the same pixels rule."""
import json
import os

import cv2
import numpy as np
import pytest

import main_test
from lib.dataset import load_dataset
from lib.dataset.roidb import ImageRecord
from lib.inference.coco_results import coco_results
from lib.inference.detector import Detector
from lib.inference.pyramid import plan_batches, prepare_batch
from train_helpers import tiny_dataset, train_tiny

pytestmark = pytest.mark.slow


def test_detector_and_main_test_give_the_same_detections(tmp_path):
    data_dir = tiny_dataset(tmp_path / "data")
    cfg = train_tiny(data_dir, tmp_path / "out")
    main_test.run(cfg)
    path = os.path.join(cfg.output_path, "shapes_cpu", "train", "results", "detections_val_results.json")
    with open(path) as f:
        from_cli = json.load(f)
    assert len(from_cli) > 0  # a comparison of two empty lists would prove nothing
    dataset = load_dataset(cfg, cfg.dataset.test_image_set)
    params = os.path.join(cfg.output_path, "shapes_cpu", "train", "SNIPER-0001.params")
    images = [cv2.imread(r.image) for r in dataset.records]  # TEST.BATCH_IMAGES (1, 2): the 2 images share a batch
    from_api = coco_results(Detector(cfg, params).detect_raw_many(images), dataset)
    key = lambda d: (d["image_id"], d["category_id"], -d["score"], d["bbox"])  # noqa: E731
    assert sorted(from_api, key=key) == sorted(from_cli, key=key)


def test_a_test_image_and_a_whole_image_chip_get_the_same_pixels(tmp_path):
    """The tester's batch and the loader's chip of the whole image at the same factor: one rule
    (lib/data/image.py), so the same network input."""
    from types import SimpleNamespace
    from lib.data.chip_loader import crop_chip_image
    rng = np.random.RandomState(1)
    image = rng.randint(0, 256, size=(30, 40, 3)).astype(np.uint8)
    path = str(tmp_path / "im.png")
    cv2.imwrite(path, image)
    record = ImageRecord(image=path, width=40, height=30, boxes=np.zeros((0, 4)), classes=[])
    means = (103.939, 116.779, 123.68)
    batch = plan_batches([record], (45, 60), 1)[0]  # s = 1.5: 45 x 60
    data, im_info, _ = prepare_batch([record], batch, means)
    chip = SimpleNamespace(box=(0.0, 0.0, 40.0, 30.0), scale=1.5)  # what crop_chip_image reads of a Chip
    canvas = crop_chip_image(image, chip, 60, means)
    np.testing.assert_array_equal(data[0], canvas[:, :45, :60])
    assert im_info[0].tolist() == [45, 60, 1.5] and not canvas[:, 45:].any()
