"""The greedy chip cover of the reference's generator (§3.2, `chips::cgenerate`), in the scaled frame.

Candidates are C x C windows on a stride-S grid plus the image corners and the right and bottom edges; they
are shuffled, and the candidate holding the most still-uncovered boxes is taken until no box is left that a
candidate can hold. Coordinates are inclusive pixels. The reference's off-by-one sizes are kept (see
`candidate_chips`).
"""
import numpy as np

from lib.chips.rng import as_rng


def _window_starts(extent, chip_size, stride):
    """Starts 0, S, 2S, ... while start < extent - C (empty when the canvas is not longer than a chip)."""
    return np.arange(0, extent - chip_size, stride, dtype=np.int64) if extent > chip_size else np.zeros(0, np.int64)


def candidate_chips(width, height, chip_size, stride):
    """All candidate chips of a `width` x `height` canvas, in the reference's order. -> (K, 4) int64.

    Order: three corners, the grid (x outer, y inner), the right edge, the bottom edge. As in the reference,
    the first corner is C + 1 tall and the second C + 1 wide when the canvas exceeds C in that direction, and
    the edge chips are C + 1 wide (right) or tall (bottom).
    """
    W, H, C = int(width), int(height), int(chip_size)
    xs, ys = _window_starts(W, C, stride), _window_starts(H, C, stride)
    corners = np.array([[max(W - C, 0), 0, W - 1, min(C, H - 1)],
                        [0, max(H - C, 0), min(C, W - 1), H - 1],
                        [max(W - C, 0), max(H - C, 0), W - 1, H - 1]], dtype=np.int64)
    gx, gy = np.repeat(xs, len(ys)), np.tile(ys, len(xs))
    grid = np.stack([gx, gy, gx + C - 1, gy + C - 1], axis=1)
    right = np.stack([np.full_like(ys, max(W - C - 1, 0)), ys, np.full_like(ys, W - 1), ys + C - 1], axis=1)
    bottom = np.stack([xs, np.full_like(xs, max(H - C - 1, 0)), xs + C - 1, np.full_like(xs, H - 1)], axis=1)
    return np.concatenate([corners, grid, right, bottom], axis=0)


def _axis_containment(lo, hi, box_lo, box_hi):
    """Which boxes fit in which interval along one axis. (U,), (U,), (N,), (N,) -> (U, N) bool."""
    return (box_lo[None, :] >= lo[:, None]) & (box_hi[None, :] <= hi[:, None])


def containment_matrix(chips, boxes):
    """Full containment: chips (K, 4), boxes (N, 4) -> (K, N) bool, True where box n lies inside chip k.

    Equal to the reference's `intersection / area(box) == 1` (+1 convention). Candidates share few distinct x
    and y intervals, so each axis is tested once per distinct interval and the results are gathered.
    """
    ux, x_inv = np.unique(chips[:, [0, 2]], axis=0, return_inverse=True)
    uy, y_inv = np.unique(chips[:, [1, 3]], axis=0, return_inverse=True)
    in_x = _axis_containment(ux[:, 0], ux[:, 1], boxes[:, 0], boxes[:, 2])
    in_y = _axis_containment(uy[:, 0], uy[:, 1], boxes[:, 1], boxes[:, 3])
    return in_x[x_inv.reshape(-1)] & in_y[y_inv.reshape(-1)]


def greedy_cover(contains):
    """Greedy set cover on a (K, N) bool matrix -> list of picked row indices, in picking order.

    Each step takes the row with the strictly largest number of still-uncovered columns (the first row wins
    ties) and stops when that number is 0; columns that no row holds stay uncovered.
    """
    contains = contains.copy()
    counts = contains.sum(axis=1)
    picked = []
    while len(counts):
        best = int(np.argmax(counts))
        if counts[best] == 0:
            break
        picked.append(best)
        cols = np.flatnonzero(contains[best])
        counts -= contains[:, cols].sum(axis=1)
        contains[:, cols] = False
    return picked


def generate_chips(boxes, width, height, chip_size, stride, rng=None):
    """Chips covering `boxes` on a `width` x `height` canvas (scaled frame). -> (K, 4) float32, picking order.

    boxes: (N, 4) x1, y1, x2, y2 in the scaled frame; clipped to the canvas first.
    rng: seed, Generator or RandomState for the candidate shuffle (None: unseeded, as the original).
    """
    width, height = int(width), int(height)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0 or width < 1 or height < 1:
        return np.zeros((0, 4), dtype=np.float32)
    boxes = boxes.copy()
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height - 1)
    candidates = candidate_chips(width, height, chip_size, stride)
    candidates = candidates[as_rng(rng).permutation(len(candidates))]
    picked = greedy_cover(containment_matrix(candidates, boxes))
    return candidates[picked].astype(np.float32).reshape(-1, 4)
