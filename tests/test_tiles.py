"""Tile windows (coverage, overlap, size) and the inner-edge rules on hand-made cases.

The inner-edge rule is the original's `check_valid` (lib/inference.py:235-258): with delta = 10, a detection is
dropped when |det side - chip side| < 10 for a chip side that is inner (x1, y1 >= 0.5; x2 < W - 0.5,
y2 < H - 0.5). Tiles and `keep_once` are new; their expected values are computed by hand here.
"""
import numpy as np
import pytest

from lib.chips.tiles import (axis_starts, drop_near_inner_edges, keep_once, near_inner_edge, tile_windows)


@pytest.mark.parametrize("length, expected", [
    (300, [0]), (512, [0]), (513, [0, 1]), (1000, [0, 384, 488]), (1280, [0, 384, 768]),
])
def test_axis_starts_step_and_flush_last(length, expected):
    # tile 512, overlap 128: step 384; the last window ends at `length`
    np.testing.assert_array_equal(axis_starts(length, 512, 128), expected)


@pytest.mark.parametrize("width, height, tile, overlap", [
    (1000, 700, 512, 128), (512, 512, 512, 0), (100, 40, 512, 64), (1281, 513, 256, 250), (997, 61, 64, 7),
])
def test_windows_cover_every_pixel_with_bounded_size_and_overlap(width, height, tile, overlap):
    windows = tile_windows(width, height, tile, overlap)
    covered = np.zeros((height, width), dtype=np.int32)
    for x1, y1, x2, y2 in windows:
        assert 0 <= x1 < x2 <= width and 0 <= y1 < y2 <= height
        assert x2 - x1 == min(tile, width) and y2 - y1 == min(tile, height)
        covered[y1:y2, x1:x2] += 1
    assert covered.min() >= 1
    for axis_starts_, size in ((np.unique(windows[:, 0]), min(tile, width)),
                               (np.unique(windows[:, 1]), min(tile, height))):
        assert np.all(axis_starts_[:-1] + size - axis_starts_[1:] >= overlap)  # neighbours overlap enough


def test_windows_row_by_row():
    np.testing.assert_array_equal(tile_windows(600, 600, 512, 128),
                                  [[0, 0, 512, 512], [88, 0, 600, 512], [0, 88, 512, 600], [88, 88, 600, 600]])


@pytest.mark.parametrize("args", [(0, 10, 5, 1), (10, 10, 5, 5), (10, 10, 5, -1), (10, 10, 0, 0)])
def test_bad_tile_arguments_are_refused(args):
    with pytest.raises(ValueError, match="tiles need"):
        tile_windows(*args)


def test_inner_edge_rule_on_hand_made_cases():
    # window (100, 50, 400, 300) in a 500 x 300 image: left, top and right sides inner, bottom on the border
    window, size = (100, 50, 400, 300), (500, 300)
    dets = np.array([[105, 100, 200, 200, 0.9],   # |105 - 100| = 5 < 10: dropped
                     [110, 100, 200, 200, 0.8],   # 10 is not < 10: kept
                     [150, 55, 200, 200, 0.7],    # top: 5: dropped
                     [150, 100, 395, 200, 0.6],   # right: 5: dropped
                     [150, 100, 200, 299, 0.5],   # bottom 1 px away, but the bottom is the image border: kept
                     [150, 100, 390, 290, 0.4]])  # 10 from the right: kept
    np.testing.assert_array_equal(near_inner_edge(dets, window, image_size=size, margin=10),
                                  [True, False, True, True, False, False])
    np.testing.assert_array_equal(drop_near_inner_edges(dets, window, image_size=size, margin=10)[:, 4],
                                  [0.8, 0.5, 0.4])


def test_whole_image_and_half_pixel_border_tolerance():
    dets = np.array([[0.0, 0.0, 499.0, 299.0, 1.0], [0.3, 2.0, 20.0, 20.0, 1.0]])
    assert not near_inner_edge(dets, (0, 0, 500, 300), image_size=(500, 300), margin=10).any()
    # float chip sides within 0.5 px of the border count as the border (x1 < 0.5, x2 >= W - 0.5)
    assert not near_inner_edge(dets, (0.3, 0.0, 499.6, 300), image_size=(500, 300), margin=10).any()
    assert near_inner_edge(dets, (0.5, 0.0, 499.4, 300), image_size=(500, 300), margin=10).all()


def simulate_tiles(boxes, windows):
    """Per window, what an ideal detector returns: every box meeting it, cut to its pixels [x1, x2 - 1]."""
    out = []
    for x1, y1, x2, y2 in windows:
        cut = np.stack([np.maximum(boxes[:, 0], x1), np.maximum(boxes[:, 1], y1),
                        np.minimum(boxes[:, 2], x2 - 1), np.minimum(boxes[:, 3], y2 - 1), boxes[:, 4]], axis=1)
        out.append(cut[(cut[:, 0] <= cut[:, 2]) & (cut[:, 1] <= cut[:, 3])])
    return out


def interior_somewhere(boxes, windows, size, margin):
    """(N,) bool by brute force: inside some window with every inner side >= margin away."""
    found = np.zeros(len(boxes), dtype=bool)
    for wx1, wy1, wx2, wy2 in windows:
        ok = (boxes[:, 0] >= wx1) & (boxes[:, 1] >= wy1) & (boxes[:, 2] <= wx2) & (boxes[:, 3] <= wy2)
        ok &= (wx1 == 0) | (boxes[:, 0] - wx1 >= margin)
        ok &= (wy1 == 0) | (boxes[:, 1] - wy1 >= margin)
        ok &= (wx2 == size[0]) | (wx2 - boxes[:, 2] >= margin)
        ok &= (wy2 == size[1]) | (wy2 - boxes[:, 3] >= margin)
        found |= ok
    return found


def random_boxes(rng, n, size, max_side):
    w, h = rng.integers(1, max_side + 1, n), rng.integers(1, max_side + 1, n)
    x1, y1 = rng.integers(0, size[0] - w + 1), rng.integers(0, size[1] - h + 1)
    return np.stack([x1, y1, x1 + w - 1, y1 + h - 1, np.arange(n)], axis=1).astype(np.float64)


@pytest.mark.parametrize("max_side", [80, 300])
def test_detection_inside_some_tile_interior_is_kept_exactly_once(max_side):
    size, margin = (1000, 700), 8
    windows = tile_windows(*size, tile=256, overlap=96)
    boxes = random_boxes(np.random.default_rng(max_side), 400, size, max_side)
    per_tile = simulate_tiles(boxes, windows)
    kept = np.concatenate([keep_once(d, i, windows, image_size=size, margin=margin)
                           for i, d in enumerate(per_tile)])
    ids, counts = np.unique(kept[:, 4].astype(int), return_counts=True)
    assert counts.max() == 1  # never twice
    expected = np.flatnonzero(interior_somewhere(boxes, windows, size, margin))
    np.testing.assert_array_equal(ids, expected)  # every box whole in some tile's interior, and only those
    np.testing.assert_array_equal(kept[np.argsort(kept[:, 4])], boxes[expected])  # kept uncut
    if max_side <= 96 - 2 * margin:  # overlap >= side + 2 margin: every box is found
        assert len(expected) == len(boxes)
    else:
        assert 0 < len(expected) < len(boxes)  # the large ones a tile cuts everywhere are left to other scales


def test_without_keep_once_the_overlap_gives_duplicates():
    # one 20 px box in the overlap of two 256 px tiles (overlap 96): both tiles keep it by the edge rule alone
    size, windows = (416, 100), tile_windows(416, 100, 256, 96)
    box = np.array([[200.0, 40.0, 219.0, 59.0, 1.0]])
    assert len(windows) == 2
    assert all(len(drop_near_inner_edges(box, w, image_size=size, margin=8)) == 1 for w in windows)
    assert [len(keep_once(box, i, windows, image_size=size, margin=8)) for i in range(2)] == [1, 0]
