"""Per-scale batching plan (order, orientation groups, canvases) and batch preparation."""
import math

import cv2
import numpy as np
import pytest

from lib.dataset.errors import DatasetError
from lib.dataset.roidb import ImageRecord
from lib.inference.pyramid import plan_batches, prepare_batch

MEANS_BGR = (103.939, 116.779, 123.68)


def _record(width, height, path="none.png"):
    return ImageRecord(image=str(path), width=width, height=height, boxes=np.zeros((0, 4)), classes=[])


def test_plan_orders_by_area_landscape_first_and_groups():
    sizes = [(100, 50), (60, 80), (200, 100), (50, 50), (40, 90), (120, 60), (30, 20)]
    records = [_record(w, h) for w, h in sizes]
    batches = plan_batches(records, (100, 1000), 2)
    # landscape (w >= h) by area: 6 (600), 3 (2500), 0 (5000), 5 (7200), 2 (20000); portrait: 4 (3600), 1 (4800)
    assert [b.indices.tolist() for b in batches] == [[6, 3], [0, 5], [2], [4, 1]]
    assert sorted(i for b in batches for i in b.indices) == list(range(7))


def test_plan_scales_and_canvas():
    records = [_record(100, 50), _record(300, 100), _record(50, 100)]
    # (min 100, max 250): s = 100/50 = 2 for the first; the second would reach 300 > 250 -> 250/300.
    batches = plan_batches(records, (100, 250), 4)
    first, portrait = batches
    np.testing.assert_allclose(first.scales, [2.0, 250 / 300])
    assert first.canvas == (max(100, math.ceil(100 * 250 / 300)), max(200, 250))  # (h, w) = (100, 250)
    assert portrait.canvas == (200, 100) and portrait.indices.tolist() == [2]


def test_batch_size_per_scale():
    from lib.config import load_config
    from lib.specs.inference import TestPyramidSpec
    from train_helpers import QUICKSTART_CFG
    three = ["TEST.SCALES", "((10, 10), (20, 20), (30, 30))", "TEST.VALID_RANGES", "((-1, -1), (-1, -1), (-1, -1))"]
    assert TestPyramidSpec.from_config(load_config(QUICKSTART_CFG, three + ["TEST.BATCH_IMAGES", "3"])) \
        .batch_images == (3, 3, 3)
    assert TestPyramidSpec.from_config(load_config(QUICKSTART_CFG, three + ["TEST.BATCH_IMAGES", "(2, 2, 4)"])) \
        .batch_images == (2, 2, 4)
    with pytest.raises(ValueError, match="TEST.BATCH_IMAGES"):
        plan_batches([_record(10, 10)], (10, 10), 0)


def test_prepare_batch_resizes_pads_and_normalises(tmp_path):
    rng = np.random.RandomState(0)
    images = [rng.randint(0, 256, size=(20, 30, 3)).astype(np.uint8),
              rng.randint(0, 256, size=(10, 40, 3)).astype(np.uint8)]
    records = []
    for k, image in enumerate(images):
        path = tmp_path / ("im%d.png" % k)
        cv2.imwrite(str(path), image)
        records.append(_record(image.shape[1], image.shape[0], path))
    (batch,) = plan_batches(records, (30, 60), 2)  # s = 1.5 for image 0, 60/40 = 1.5 for image 1
    data, im_info, indices = prepare_batch(records, batch, MEANS_BGR)
    assert indices.tolist() == [1, 0] and data.shape == (2, 3, 30, 60) and data.dtype == np.float32
    np.testing.assert_allclose(im_info, [[15, 60, 1.5], [30, 45, 1.5]])
    resized = cv2.resize(images[0], None, None, fx=1.5, fy=1.5, interpolation=cv2.INTER_LINEAR)
    expected_rgb = (resized.astype(np.float32) - np.float32(MEANS_BGR))[:, :, ::-1].transpose(2, 0, 1)
    np.testing.assert_allclose(data[1, :, :30, :45], expected_rgb, rtol=1e-6)
    assert not data[1, :, :, 45:].any() and not data[0, :, 15:, :].any()
    # channel 0 is red: red pixel value minus the red mean 123.68
    assert data[1, 0, 0, 0] == pytest.approx(resized[0, 0, 2] - 123.68, abs=1e-4)


def test_prepare_batch_missing_image_names_file(tmp_path):
    records = [_record(10, 10, tmp_path / "gone.jpg")]
    with pytest.raises(DatasetError, match="gone.jpg"):
        prepare_batch(records, plan_batches(records, (10, 10), 1)[0], MEANS_BGR)
