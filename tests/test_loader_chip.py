"""Per-chip processing: crop/resize/pad/normalise, boxes into the chip, flips, im_info, valid ranges."""
import math

import numpy as np
import pytest

from lib.data.anchor_targets import anchor_grid
from lib.data.chip_loader import boxes_in_chip, chip_valid_range, padded_gt_boxes
from lib.dataset.errors import DatasetError
from lib.dataset.roidb import flip_record
from lib.geometry.boxes import bbox_overlaps
from loader_helpers import chip, load_chip_cfg, paper_cfg, record, write_image

MEANS_RGB = np.array([123.68, 116.779, 103.939], dtype=np.float32)
RED_RGB = np.array([255, 0, 0], dtype=np.float32) - MEANS_RGB
BLACK_RGB = -MEANS_RGB


def assert_box_on_rectangle(data, box, scale, content=(500, 500)):
    """Inside the chip box the pixels are red; around it, within the image content (rows, columns), black.

    Margin: the crop starts at int(origin) but boxes shift by the float origin (< s px), an inclusive pixel x2
    covers up to (x2 + 1) s - 1 in the chip (s - 1 px more than x2 s), and the bilinear edge blurs 1 px.
    """
    margin = 2 * int(math.ceil(scale)) + 1
    x1, y1, x2, y2 = (int(v) for v in box)
    inner = data[:, y1 + margin:y2 - margin + 1, x1 + margin:x2 - margin + 1]
    assert inner.size > 0
    np.testing.assert_allclose(inner, np.broadcast_to(RED_RGB[:, None, None], inner.shape), atol=1e-3)
    ring = np.zeros(data.shape[1:], dtype=bool)
    ring[:content[0], :content[1]] = True
    ring[max(y1 - margin, 0):y2 + margin + 1, max(x1 - margin, 0):x2 + margin + 1] = False
    np.testing.assert_allclose(data[:, ring], np.broadcast_to(BLACK_RGB[:, None], data[:, ring].shape), atol=1e-3)


@pytest.mark.parametrize("scale", [3.0, 1.667])
def test_gt_box_lands_on_its_rectangle(tmp_path, scale):
    gt = [150, 120, 181, 170]
    path = write_image(tmp_path / "a.png", 640, 480, [gt])
    rec = record(path, 640, 480, [gt])
    out, truncated = load_chip_cfg(rec, chip(101.3, 90.6, scale, gt_index=[0]), paper_cfg(), np.random.default_rng(0))
    assert out["data"].shape == (3, 512, 512) and out["data"].dtype == np.float32
    assert truncated == 0
    np.testing.assert_array_equal(out["gt_boxes"][1:], -1)
    assert out["gt_boxes"][0, 4] == 1
    assert_box_on_rectangle(out["data"], out["gt_boxes"][0, :4], scale)


def test_flipped_record_mirrors_the_image(tmp_path):
    gt = [40, 200, 90, 260]  # near the left edge: in the mirrored image it is near the right edge
    path = write_image(tmp_path / "a.png", 640, 480, [gt])
    flipped = flip_record(record(path, 640, 480, [gt]))
    assert flipped.flipped and flipped.boxes[0, 0] == 640 - 90 - 1
    c = chip(500.0, 150.0, 3.0, gt_index=[0])
    out, _ = load_chip_cfg(flipped, c, paper_cfg(), np.random.default_rng(0))
    assert_box_on_rectangle(out["data"], out["gt_boxes"][0, :4], 3.0, content=(500, (640 - 500) * 3))


def test_coarsest_chip_is_the_whole_image_padded(tmp_path):
    gt = [300, 200, 500, 400]
    path = write_image(tmp_path / "a.png", 640, 480, [gt])
    s = 512.0 / 640
    c = chip(0.0, 0.0, s, scale_index=2, gt_index=[0], size=(384, 512))
    c.box = np.array([0, 0, 511 / s, 383 / s], dtype=np.float32)
    out, _ = load_chip_cfg(record(path, 640, 480, [gt]), c, paper_cfg(), np.random.default_rng(0))
    np.testing.assert_allclose(out["im_info"], [384, 512, s], rtol=1e-6)
    np.testing.assert_allclose(out["valid_ranges"], [120 * s, 512], rtol=1e-6)
    assert np.all(out["data"][:, 384:, :] == 0)  # below the image: padding (the mean colour)
    assert np.all(out["data"][:, :382, :510] != 0)  # the image (crop int(383 / s) rows, resized): not the mean
    assert_box_on_rectangle(out["data"], out["gt_boxes"][0, :4], s, content=(382, 510))


def test_boxes_in_chip_shift_scale_round_clip_and_filter():
    c = chip(10.5, 20.0, 2.0)
    boxes = np.array([[10.5, 20.0, 20.5, 30.0],     # -> [0, 0, 20, 20]
                      [11.75, 21.0, 30.0, 40.0],    # x1: 1.25 * 2 = 2.5 -> 2 (half to even)
                      [0.0, 0.0, 12.0, 200.0],      # clipped to x in [0, 3]: 4 px wide -> dropped
                      [200.0, 250.0, 400.0, 600.0]],  # clipped to [379, 460, 511, 511]
                     dtype=np.float32)
    moved, kept = boxes_in_chip(boxes, c, 512)
    np.testing.assert_array_equal(kept, [0, 1, 3])
    np.testing.assert_array_equal(moved, [[0, 0, 20, 20], [2, 2, 39, 40], [379, 460, 511, 511]])


def test_valid_and_invalid_gts_keep_gt_order_in_gt_boxes(tmp_path):
    gts = [[110, 100, 130, 120], [140, 100, 160, 120], [112, 130, 150, 150]]
    path = write_image(tmp_path / "a.png", 640, 480, gts)
    out, _ = load_chip_cfg(record(path, 640, 480, gts, classes=[5, 6, 7]), chip(100.0, 90.0, 3.0, gt_index=[1]),
                       paper_cfg(), np.random.default_rng(0))
    np.testing.assert_array_equal(out["gt_boxes"][:3, 4], [5, 6, 7])
    np.testing.assert_array_equal(out["gt_boxes"][:3, :4], [[30, 30, 90, 90], [120, 30, 180, 90],
                                                           [36, 120, 150, 180]])
    # only gt 1 is valid: positives overlap gt 1; anchors overlapping the invalid gts by IoU > 0.3 are ignored
    anchors = anchor_grid(512, 16, (2, 4, 7, 10, 13, 16, 24), (0.5, 1, 2))[0]
    labels = out["rpn_label"].reshape(21, 32, 32).transpose(1, 2, 0).reshape(-1)  # -> position-major
    iou = bbox_overlaps(anchors, out["gt_boxes"][:3, :4])
    assert np.sum(labels == 1) > 0
    assert np.all(iou[labels == 1, 1] > 0)
    assert np.all(labels[(iou[:, [0, 2]] > 0.3).any(axis=1)] == -1)


def test_padded_gt_boxes_counts_truncation():
    boxes = np.arange(12, dtype=np.float32).reshape(3, 4)
    out, truncated = padded_gt_boxes(boxes, np.array([1, 2, 3]), 2)
    assert truncated == 1
    np.testing.assert_array_equal(out[:, 4], [1, 2])
    np.testing.assert_array_equal(out[:, :4], boxes[:2])
    out, truncated = padded_gt_boxes(boxes, np.array([1, 2, 3]), 5)
    assert truncated == 0 and np.all(out[3:] == -1)


def test_valid_range_in_chip_pixels():
    np.testing.assert_allclose(chip_valid_range((-1, 80), 3.0, 512), [0, 240])
    np.testing.assert_allclose(chip_valid_range((32, 150), 1.667, 512), [32 * 1.667, 150 * 1.667], rtol=1e-6)
    np.testing.assert_allclose(chip_valid_range((120, -1), 0.8, 512), [96, 512])


def test_image_size_mismatch_names_the_file(tmp_path):
    path = write_image(tmp_path / "small.png", 320, 240)
    with pytest.raises(DatasetError, match="small.png"):
        load_chip_cfg(record(path, 640, 480, [[0, 0, 50, 50]]), chip(0.0, 0.0, 3.0), paper_cfg(),
                  np.random.default_rng(0))


def test_chips_of_one_image_share_one_read_only_decode(tmp_path, monkeypatch):
    from lib.data import image as image_module
    path = write_image(tmp_path / "once.png", 64, 48, [[5, 5, 20, 20]])
    calls = []
    real = image_module.read_image
    monkeypatch.setattr(image_module, "read_image", lambda p: calls.append(p) or real(p))
    image_module._decoded.cache_clear()
    plain = image_module.read_record_image(record(path, 64, 48, [[5, 5, 20, 20]]))
    mirrored = image_module.read_record_image(record(path, 64, 48, [[5, 5, 20, 20]], flipped=True))
    assert calls == [path]
    np.testing.assert_array_equal(mirrored, plain[:, ::-1])
    assert not plain.flags.writeable and not mirrored.flags.writeable
