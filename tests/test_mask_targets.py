"""Masks into chips (crop, scale, flip like the boxes) and the mask head's 28 x 28 targets (lib/data/mask_targets).

Expected values are worked out by hand in the comments. The original's target op (MaskRcnnTarget,
src/operator/mask_rcnn_target.cu in the SNIPER MXNet fork) maps a RoI's gt polygon by (x - x1) * 28 / w with
w = x2 - x1 (no +1, at least 1) and fills it with COCO's polygon rasteriser: cell (u, v) is mask when about its
centre, x1 + (u + 0.5) * w / 28, lies inside the polygon.
"""
import numpy as np
import pytest
from pycocotools import mask as mask_api

from lib.chips.chip import Chip
from lib.data.chip_loader import boxes_in_chip
from lib.data.mask_targets import (GT_GRID, IGNORE, MASK_SIZE, chip_gt_masks, chip_mask, fill_polygons,
                                   polygon_roi_targets, roi_mask_targets, within_budget)
from lib.dataset.roidb import ImageRecord, flip_record


def _chip(x1, y1, scale, side=64):
    return Chip(box=np.array([x1, y1, x1 + side / scale, y1 + side / scale], np.float32), scale=scale,
                scale_index=0, size=(side, side), canvas=side, valid_range=(-1, -1))


def _rle(mask):
    return mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))


def _square_rle(height=40, width=40, lo=10, hi=20):
    """Pixels lo..hi-1 in both directions: the same area as the polygon [lo, hi) x [lo, hi)."""
    mask = np.zeros((height, width), np.uint8)
    mask[lo:hi, lo:hi] = 1
    return _rle(mask)


SQUARE = [np.array([10, 10, 20, 10, 20, 20, 10, 20], np.float32)]  # covers [10, 20) x [10, 20)
IDENTITY = _chip(0.0, 0.0, 1.0)


def _grid_targets(segm, rois, chip=IDENTITY, canvas=64):
    frames, grids = chip_gt_masks([segm], chip, canvas=canvas, max_gts=4)
    return roi_mask_targets(rois, np.zeros(len(rois), int), frames, grids)


# ---- hand-made targets ----------------------------------------------------------------------------------

def _half_square_expected():
    # RoI (10, 10, 30, 20): w = 20, h = 10. Column u's centre x = 10 + (u + 0.5) * 20 / 28 is inside [10, 20)
    # for u + 0.5 < 14, i.e. u = 0..13; every row's centre 10 + (v + 0.5) * 10 / 28 lies in [10, 20).
    expected = np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    expected[:, :14] = 1
    return expected


def _centred_square_expected():
    # RoI (5, 5, 25, 25): w = h = 20; centre 5 + (u + 0.5) * 20 / 28 in [10, 20) for 7 <= u + 0.5 < 21,
    # i.e. u = 7..20 (14 cells) in both directions.
    expected = np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    expected[7:21, 7:21] = 1
    return expected


@pytest.mark.parametrize("roi, expected", [((10, 10, 30, 20), _half_square_expected()),
                                           ((5, 5, 25, 25), _centred_square_expected())])
def test_square_mask_targets_by_hand(roi, expected):
    rois = np.array([roi], np.float32)
    np.testing.assert_array_equal(polygon_roi_targets(rois, [SQUARE])[0], expected)  # the original's op
    np.testing.assert_array_equal(_grid_targets(SQUARE, rois)[0], expected)  # polygon gt through its grid
    np.testing.assert_array_equal(_grid_targets(_square_rle(), rois)[0], expected)  # RLE gt through its grid


def test_fill_polygons_rows_are_y():
    # a 4 x 2 rectangle [2, 6) x [1, 3) in cell units: rows 1..2, columns 2..5
    cells = fill_polygons([np.array([2, 1, 6, 1, 6, 3, 2, 3], np.float32)], 5, 8)
    expected = np.zeros((5, 8), np.uint8)
    expected[1:3, 2:6] = 1
    np.testing.assert_array_equal(cells, expected)
    assert fill_polygons([], 3, 4).shape == (3, 4) and not fill_polygons([], 3, 4).any()


def test_rois_without_gt_are_ignored_and_empty_masks_are_background():
    rois = np.array([[10, 10, 30, 20], [0, 0, 40, 40], [10, 10, 20, 20]], np.float32)
    frames, grids = chip_gt_masks([SQUARE, []], IDENTITY, canvas=64, max_gts=4)
    targets = roi_mask_targets(rois, np.array([0, -1, 1]), frames, grids)
    np.testing.assert_array_equal(targets[0], _half_square_expected())
    assert (targets[1] == IGNORE).all()
    assert (targets[2] == 0).all()  # a gt without polygons: all background, as the original's op
    np.testing.assert_array_equal(polygon_roi_targets(rois[2:], [[]]), np.zeros((1, MASK_SIZE, MASK_SIZE)))


def test_grid_route_agrees_with_the_original_polygon_fill():
    """Random polygons and positive-like RoIs (corners within 20 % of the mask's size of its box): the grid
    route changes few cells, all on the mask boundary (measured: 0.9 % of cells with the 56-cell grid)."""
    rng = np.random.default_rng(0)
    chip = _chip(0.0, 0.0, 1.0, side=512)
    changed = total = 0
    for _ in range(60):
        centre, radius, n = rng.uniform(100, 400, 2), rng.uniform(8, 150), int(rng.integers(3, 12))
        angles, radii = np.sort(rng.uniform(0, 2 * np.pi, n)), radius * rng.uniform(0.4, 1.0, n)
        poly = np.stack([centre[0] + radii * np.cos(angles), centre[1] + radii * np.sin(angles)], 1).ravel()
        frames, grids = chip_gt_masks([[poly.astype(np.float32)]], chip, canvas=512, max_gts=1)
        x1, y1, x2, y2 = frames[0]
        jitter = rng.uniform(-0.2, 0.2, (8, 4)) * [x2 - x1, y2 - y1, x2 - x1, y2 - y1]
        rois = frames[0] + jitter
        original = polygon_roi_targets(rois, [[poly]] * len(rois))
        ours = roi_mask_targets(rois, np.zeros(len(rois), int), frames, grids)
        changed += (original != ours).sum()
        total += original.size
        assert (original != ours).mean(axis=(1, 2)).max() < 0.05
    assert changed / total < 0.015


# ---- masks travel with the chip like the boxes -------------------------------------------------------------

def _mask_extent(mask):
    ys, xs = np.nonzero(mask)
    return np.array([xs.min(), ys.min(), xs.max(), ys.max()])


BLOB = (slice(30, 71), slice(17, 58))  # rows 30..70, columns 17..57 of a 90 x 120 image


def _records(kind):
    mask = np.zeros((90, 120), np.uint8)
    mask[BLOB] = 1
    box = [17, 30, 57, 70]  # inclusive pixels
    segm = _rle(mask) if kind == "rle" else [np.array([17, 30, 58, 30, 58, 71, 17, 71], np.float32)]
    record = ImageRecord(image="x.jpg", width=120, height=90, boxes=[box], classes=[1], segms=[segm])
    return record, flip_record(record)


@pytest.mark.parametrize("kind", ["rle", "polygon"])
@pytest.mark.parametrize("x1, y1, scale", [(0.0, 0.0, 1.0), (10.3, 20.7, 1.667), (5.5, 3.2, 3.0), (0.0, 12.4, 0.5)])
def test_chip_mask_follows_the_moved_box(kind, x1, y1, scale):
    """Draw the mask and the box moved into the chip, plain and flipped, and compare their extents.

    Box: (x - x1) * s rounded (lib/data/chip_loader.boxes_in_chip). Mask: the pixels [17, 58) x [30, 71) of
    the image, i.e. chip pixels whose centre j + 0.5 lies in [(17 - x1) s, (58 - x1) s). Left/top edges agree
    within 1 px; the box's right/bottom edge is (57 - x1) s rounded, s - 1 px inside the mask's far edge
    (the box scales inclusive pixel coordinates, as the original's anchor worker), so the far edges agree
    within max(1, s) px. A flipped polygon is mirrored by x -> W - x - 1 as the original's roidb does, one
    image px (s chip px) left of the flipped RLE and box.
    """
    chip = _chip(x1, y1, scale, side=400)
    for record in _records(kind):
        moved, kept = boxes_in_chip(record.boxes, chip, 400)
        assert list(kept) == [0]
        drawn = _mask_extent(chip_mask(record.segms[0], chip, 400))
        shift = scale if (record.flipped and kind == "polygon") else 0.0
        diff = drawn - moved[0]
        assert abs(diff[0] + shift) <= 1 and abs(diff[1]) <= 1, (drawn, moved[0])
        assert -1 <= diff[2] + shift <= max(1.0, scale) and -1 <= diff[3] <= max(1.0, scale), (drawn, moved[0])


@pytest.mark.parametrize("flipped", [False, True])
def test_rle_chip_mask_is_the_image_mask_cropped_and_resized(flipped):
    """Integer chip origin (13, 22): at s = 1 the chip mask is the image mask's crop; at s = 2 each image
    pixel becomes 2 x 2 chip pixels (chip pixel j takes image pixel floor((j + 0.5) / 2) + 13)."""
    rng = np.random.default_rng(1)
    mask = (rng.random((90, 120)) < 0.3).astype(np.uint8)
    record = ImageRecord(image="x.jpg", width=120, height=90, boxes=[[0, 0, 119, 89]], classes=[1],
                         segms=[_rle(mask)])
    image_mask = mask
    if flipped:
        record, image_mask = flip_record(record), mask[:, ::-1]
    crop = image_mask[22:22 + 40, 13:13 + 40]
    np.testing.assert_array_equal(chip_mask(record.segms[0], _chip(13.0, 22.0, 1.0, side=40), 40), crop)
    twice = np.repeat(np.repeat(crop[:20, :20], 2, axis=0), 2, axis=1)
    np.testing.assert_array_equal(chip_mask(record.segms[0], _chip(13.0, 22.0, 2.0, side=40), 40), twice)


def test_polygon_flip_is_the_original_formula():
    record = ImageRecord(image="x.jpg", width=120, height=90, boxes=[[17, 30, 57, 70]], classes=[1],
                         segms=[[np.array([17, 30, 58, 30, 58, 71], np.float32)]])
    flipped = flip_record(record)
    # x -> 120 - x - 1 (lib/dataset/imdb.py:221-224 of the original), y unchanged
    np.testing.assert_array_equal(flipped.segms[0][0], [102, 30, 61, 30, 61, 71])
    np.testing.assert_array_equal(flipped.boxes, [[62, 30, 102, 70]])
    np.testing.assert_array_equal(flip_record(flipped).segms[0][0], record.segms[0][0])


# ---- the per-chip gt mask arrays -------------------------------------------------------------------------

def test_chip_gt_masks_rows_follow_the_gt_rows():
    """Three gts, the middle one too small for the chip (dropped by boxes_in_chip): the mask rows are the
    kept gts' in gt_boxes order, padded; a mask partly outside the chip is gridded over its inside part."""
    masks = [np.zeros((100, 100), np.uint8) for _ in range(3)]
    masks[0][10:30, 10:50] = 1
    masks[1][60:64, 60:64] = 1
    masks[2][40:100, 70:100] = 1
    record = ImageRecord(image="x.jpg", width=100, height=100, boxes=[[10, 10, 49, 29], [60, 60, 63, 63],
                                                                       [70, 40, 99, 99]],
                         classes=[1, 2, 3], segms=[_rle(m) for m in masks])
    chip = _chip(0.0, 0.0, 1.0, side=80)
    moved, kept = boxes_in_chip(record.boxes, chip, 80)
    assert list(kept) == [0, 2]
    frames, grids = chip_gt_masks([record.segms[k] for k in kept], chip, canvas=80, max_gts=3)
    assert frames.shape == (3, 4) and grids.shape == (3, GT_GRID, GT_GRID) and grids.dtype == np.uint8
    np.testing.assert_array_equal(frames[0], [10, 10, 50, 30])  # pixels 10..49 x 10..29, far edges
    np.testing.assert_array_equal(frames[1], [70, 40, 80, 80])  # clipped to the 80 px canvas
    np.testing.assert_array_equal(frames[2], [-1, -1, -1, -1])
    assert grids[0].all() and grids[1].all() and not grids[2].any()
    one, _ = chip_gt_masks([record.segms[0]] * 5, chip, canvas=80, max_gts=2)
    assert (one[:, 0] == 10).all()  # rows beyond max_gts are left out, as the gt_boxes rows


def test_polygons_cut_to_the_original_encoder_budget():
    """The original packs a gt as [class, n, len_1..len_n, coordinates] in 500 floats and stops at the first
    polygon that does not fit (lib/data_utils/mask_utils.py:22-46). Lengths 200, 300, 10: header 2 + 3 = 5,
    5 + 200 = 205 fits, 205 + 300 = 505 does not, so only the first polygon is kept (the 10 would fit but
    comes after the break); a first polygon of 496 floats (5 + 496 > 500 with 3 polygons) keeps none."""
    polys = [np.zeros(200), np.ones(300), np.full(10, 2.0)]
    kept = within_budget(polys)
    assert len(kept) == 1 and kept[0] is polys[0]
    assert within_budget([np.zeros(496), np.zeros(6), np.zeros(6)]) == []
    assert len(within_budget([np.zeros(495), np.zeros(6)])) == 1  # 2 + 2 + 495 = 499 fits, + 6 = 505 not
    assert len(within_budget([np.zeros(496)])) == 1  # 2 + 1 + 496 = 499
    assert len(within_budget(polys, None)) == 3
    big = [np.array([10, 10, 20, 10, 20, 20] + [10, 20] * 250, np.float32)]  # 506 floats: over the budget
    frames, grids = chip_gt_masks([big, big], IDENTITY, canvas=64, max_gts=2)
    assert not grids[0].any()
    frames, grids = chip_gt_masks([big], IDENTITY, canvas=64, max_gts=2, budget=None)
    assert grids[0].any()
