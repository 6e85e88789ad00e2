"""The ablation's no-chip baselines (TRAIN.FULL_IMAGE): whole-image chips, canvas-grouped batches, loader."""
import numpy as np
import pytest

from lib.chips.full_image import full_image_canvas, full_image_chip, sample_full_image
from lib.data.epoch import build_epoch
from lib.data.loader import ChipLoader
from loader_helpers import load_chip_cfg, paper_cfg, record, write_image
from test_loader_epoch import random_records

SCALES = ((300, 420), (160, 256))


def test_canvas_is_the_max_side_rounded_up_to_32():
    assert [full_image_canvas(s) for s in ((930, 1340), (1700, 2400), (240, 256), (300, 420))] == \
        [1344, 2400, 256, 448]


def test_full_image_chip_covers_the_image_and_trains_every_gt():
    chip = full_image_chip(640, 480, 3, SCALES, 0)  # short side 480 -> 300 (long 400 <= 420)
    np.testing.assert_allclose(chip.box, [0, 0, 640, 480])
    assert chip.scale == pytest.approx(300 / 480) and chip.size == (300, 400)
    assert chip.canvas == 448 and list(chip.gt_index) == [0, 1, 2] and not chip.negative
    coarse = full_image_chip(640, 480, 3, SCALES, 1)  # short side 480 -> 160, long 213
    assert coarse.scale == pytest.approx(1 / 3) and coarse.size == (160, 213) and coarse.canvas == 256
    capped = full_image_chip(900, 300, 3, SCALES, 1)  # short 300 -> 160 would make the long side 480 > 256
    assert capped.scale == pytest.approx(256 / 900) and capped.size == (85, 256)


def test_sample_full_image_draws_every_scale_and_skips_images_without_gts():
    drawn = [sample_full_image(640, 480, [[0, 0, 50, 50]], SCALES, np.random.default_rng(k))[0].scale_index
             for k in range(40)]
    assert set(drawn) == {0, 1}
    assert sample_full_image(640, 480, np.zeros((0, 4)), SCALES, np.random.default_rng(0)) == []
    with pytest.raises(ValueError, match="FULL_IMAGE"):
        sample_full_image(640, 480, [[0, 0, 50, 50]], (1.5, 256.0), np.random.default_rng(0))


def test_full_image_epoch_has_each_image_once_and_batches_of_one_canvas():
    records = random_records(9)
    cfg = paper_cfg(FULL_IMAGE=True, SCALES=SCALES, BATCH_IMAGES=2, NUM_PROCESS=0)
    epoch = build_epoch(records, cfg, 0)
    assert epoch.num_chips == 9 and epoch.num_negative == 0
    images = [i for i, _ in epoch.entries]
    assert set(images) == set(range(9)) and len(images) == epoch.num_batches * 2
    assert len(images) - 9 <= 2  # at most one padding entry per canvas group
    for b in range(epoch.num_batches):
        batch = epoch.entries[2 * b:2 * b + 2]
        assert len({chip.canvas for _, chip in batch}) == 1
    assert {chip.canvas for _, chip in epoch.entries} == {448, 256}
    assert [(i, c.scale_index) for i, c in build_epoch(records, cfg, 0).entries] == \
        [(i, c.scale_index) for i, c in epoch.entries]


def test_load_chip_fills_its_canvas_and_uses_the_whole_canvas_as_valid_range(tmp_path):
    gts = [[100, 100, 300, 260], [400, 50, 600, 400]]
    rec = record(write_image(tmp_path / "a.png", 640, 480, gts), 640, 480, gts)
    cfg = paper_cfg(FULL_IMAGE=True, SCALES=SCALES, CHIP_SIZE=512)
    out, _ = load_chip_cfg(rec, full_image_chip(640, 480, 2, SCALES, 0), cfg, np.random.default_rng(0))
    assert out["data"].shape == (3, 448, 448)
    assert out["rpn_label"].shape == (21 * 28 * 28,) and np.sum(out["rpn_label"] == 1) > 0
    np.testing.assert_allclose(out["valid_ranges"], [0, 448])
    np.testing.assert_allclose(out["gt_boxes"][:2, :4], np.round(np.array(gts) * 300 / 480.0))
    assert np.all(out["data"][:, 300:, :] == 0) and np.all(out["data"][:, :, 400:] == 0)  # padding


def test_workers_deliver_mixed_canvas_batches_as_in_process(tmp_path):
    records = []
    for k in range(4):
        gts = [[50 + 20 * k, 60, 250, 200]]
        records.append(record(write_image(tmp_path / ("%d.png" % k), 640, 480, gts), 640, 480, gts))
    cfg = paper_cfg(FULL_IMAGE=True, SCALES=SCALES, BATCH_IMAGES=1, NUM_PROCESS=0, RPN_BATCH_SIZE=32)
    epoch = build_epoch(records, cfg, 1)
    serial = list(ChipLoader(records, cfg, epoch))
    cfg.TRAIN.NUM_PROCESS = 2
    parallel = list(ChipLoader(records, cfg, epoch))
    assert sorted({b["data"].shape[-1] for b in serial}) == [256, 448]
    for a, b in zip(serial, parallel):
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
