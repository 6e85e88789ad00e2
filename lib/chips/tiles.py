"""Tiled inference windows, and which detections of a chip or tile to keep.

Tiles (new, not in the original): a scale's resized image is cut into overlapping windows of at most
tile x tile pixels, so any image runs with bounded memory. Windows are half-open [x1, x2) x [y1, y2) in the
resized image's integer pixels; along each axis they start every (tile - overlap) px and the last one ends
flush with the image, so neighbours overlap by at least `overlap`.

Inner-edge rule (the original's, for AutoFocus chips: `check_valid` in lib/inference.py:235-258 with its
delta = 10 original pixels, applied to every detection of a pruned scale at :337-350): a detection is dropped
when one of its sides is closer than `margin` to the same side of its chip, unless that chip side lies on the
image border (x1 or y1 >= 0.5, x2 < W - 0.5, y2 < H - 0.5 mark inner sides). Such detections are likely cut
by the chip and are found whole in a neighbour or at another scale.

Tiles add one step to it (new): a detection kept by its tile's inner-edge rule is dropped again when an
earlier tile (in the order of `tile_windows`) contains it and would keep it too, so an object seen whole in
several overlapping tiles is kept exactly once. With overlap >= side + 2 * margin (side = x2 - x1, y2 - y1)
every object lies inside some tile's interior: tiling then finds each such object exactly once.

All boxes, windows, the image size and the margin are in one frame (use the resized image's pixels for
tiles, where window sides on the image border are exact); boxes are x1, y1, x2, y2 (+ any extra columns).
"""
import numpy as np


def axis_starts(length, tile, overlap):
    """(K,) int64 window starts along one axis of `length` px; [0] when the axis fits in one tile."""
    if length <= tile:
        return np.zeros(1, dtype=np.int64)
    starts = np.arange(0, length - tile, tile - overlap, dtype=np.int64)
    return np.append(starts, length - tile)


def tile_windows(width, height, tile, overlap):
    """(K, 4) int64 windows [x1, y1, x2, y2) covering a width x height image, row by row.

    Each window is min(tile, width) x min(tile, height); neighbours overlap by >= overlap (0 <= overlap < tile).
    """
    width, height, tile, overlap = int(width), int(height), int(tile), int(overlap)
    if width < 1 or height < 1 or tile < 1 or not 0 <= overlap < tile:
        raise ValueError("tiles need width, height, tile >= 1 and 0 <= overlap < tile, got width %d, height %d, "
                         "tile %d, overlap %d" % (width, height, tile, overlap))
    xs, ys = axis_starts(width, tile, overlap), axis_starts(height, tile, overlap)
    x1, y1 = np.meshgrid(xs, ys)
    x1, y1 = x1.ravel(), y1.ravel()
    return np.stack([x1, y1, x1 + min(tile, width), y1 + min(tile, height)], axis=1)


def as_rows(boxes):
    """(N, >=4) float64 view of boxes; an empty input gives (0, 4)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes.reshape(len(boxes), -1) if boxes.size else np.zeros((0, 4))


def near_inner_edge(boxes, window, *, image_size, margin):
    """(N,) bool: box side closer than margin to the window's same side, that side not on the image border.

    boxes: (N, >=4); window: x1, y1, x2, y2 (x2 = W on the image's right border); image_size: (W, H).
    """
    boxes = as_rows(boxes)
    wx1, wy1, wx2, wy2 = (float(v) for v in window[:4])
    inner = (wx1 >= 0.5, wy1 >= 0.5, wx2 < image_size[0] - 0.5, wy2 < image_size[1] - 0.5)
    near = np.zeros(len(boxes), dtype=bool)
    for col, (side, is_inner) in enumerate(zip((wx1, wy1, wx2, wy2), inner)):
        if is_inner:
            near |= np.abs(boxes[:, col] - side) < margin
    return near


def drop_near_inner_edges(dets, window, *, image_size, margin):
    """(N, C) detections of one chip or tile -> the rows the inner-edge rule keeps (M, C)."""
    return dets[~near_inner_edge(dets, window, image_size=image_size, margin=margin)]


def kept_whole(boxes, window, *, image_size, margin):
    """(N,) bool: box lies inside the window and is not near one of its inner sides."""
    boxes = as_rows(boxes)
    inside = ((boxes[:, 0] >= window[0]) & (boxes[:, 1] >= window[1]) &
              (boxes[:, 2] <= window[2]) & (boxes[:, 3] <= window[3]))
    return inside & ~near_inner_edge(boxes, window, image_size=image_size, margin=margin)


def keep_once(dets, index, windows, *, image_size, margin):
    """(N, C) detections of tile `index` (in image pixels) -> rows kept (M, C).

    Kept: passes this tile's inner-edge rule, and no earlier tile of `windows` (K, 4) holds it whole.
    """
    keep = ~near_inner_edge(dets, windows[index], image_size=image_size, margin=margin)
    for window in windows[:index]:
        keep &= ~kept_whole(dets, window, image_size=image_size, margin=margin)
    return dets[keep]
