"""The greedy chip cover of the original's generator (`chips::cgenerate`, lib/chips/cchips.cpp), scaled frame.

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
    """Which boxes fit in which interval along one axis. (U,), (U,), (N,), (N,) -> (N, U) bool."""
    return (box_lo[:, None] >= lo[None, :]) & (box_hi[:, None] <= hi[None, :])


def _interval_index(lo, hi):
    """Distinct (lo, hi) integer intervals and each row's index into them. (K,), (K,) -> (U,), (U,), (K,)."""
    keys = (lo.astype(np.int64) << 32) + (hi.astype(np.int64) - lo.astype(np.int64))
    uniq, inverse = np.unique(keys, return_inverse=True)
    return uniq >> 32, (uniq >> 32) + (uniq & 0xFFFFFFFF), inverse.reshape(-1)


class Containment:
    """Which boxes (N, 4) lie fully inside which integer-valued candidates (K, 4), factorised by axis
    (candidates share few distinct x and y intervals).

    in_x: (N, Ux) bool, box n inside distinct x interval u; in_y: (N, Uy) likewise;
    x_index, y_index: (K,) each candidate's x and y interval. Box n is inside candidate k iff
    in_x[n, x_index[k]] and in_y[n, y_index[k]]: the reference's `intersection / area(box) == 1` (+1 convention).
    """

    def __init__(self, chips, boxes):
        x_lo, x_hi, self.x_index = _interval_index(chips[:, 0], chips[:, 2])
        y_lo, y_hi, self.y_index = _interval_index(chips[:, 1], chips[:, 3])
        self.in_x = _axis_containment(x_lo, x_hi, boxes[:, 0], boxes[:, 2])
        self.in_y = _axis_containment(y_lo, y_hi, boxes[:, 1], boxes[:, 3])

    def matrix(self):
        """(N, K) bool: box n inside candidate k."""
        return self.in_x[:, self.x_index] & self.in_y[:, self.y_index]


def containment_matrix(chips, boxes):
    """Full containment of boxes (N, 4) in integer-valued chips (K, 4) -> (N, K) bool."""
    return Containment(chips, boxes).matrix()


def _counts(in_x, in_y, x_index, y_index):
    """(K,) number of the given boxes inside each candidate: (Ux, Uy) pair counts gathered per candidate."""
    return (in_x.T @ in_y)[x_index, y_index]


def greedy_cover(inside):
    """Greedy set cover on a `Containment` -> picked candidate indices, in picking order.

    Each step takes the candidate with the strictly largest number of still-uncovered boxes (the first one
    wins ties) and stops when that number is 0; boxes that no candidate holds stay uncovered. Counts are
    float32 pair counts (exact below 2**24 boxes), updated with the boxes each pick removes.
    """
    in_x, in_y = inside.in_x.astype(np.float32), inside.in_y.astype(np.float32)
    counts = _counts(in_x, in_y, inside.x_index, inside.y_index)
    picked = []
    while len(counts):
        best = int(np.argmax(counts))
        if counts[best] < 0.5:
            break
        picked.append(best)
        rows = np.flatnonzero(in_x[:, inside.x_index[best]] * in_y[:, inside.y_index[best]])
        counts -= _counts(in_x[rows], in_y[rows], inside.x_index, inside.y_index)
        in_x[rows] = 0.0
    return picked


def generate_chips(boxes, width, height, chip_size, stride, rng=None):
    """Chips covering `boxes` on a `width` x `height` canvas (scaled frame). -> (K, 4) float32, picking order.

    boxes: (N, 4) x1, y1, x2, y2 in the scaled frame; clipped first to x <= W - 2, y <= H - 2, as the original
    (lib/chips/chip_generator.py passes (H - 1, W - 1) to clip_boxes, which clips to that shape minus 1).
    rng: seed, Generator or RandomState for the candidate shuffle (None: unseeded, as the original).
    """
    width, height = int(width), int(height)
    boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    if len(boxes) == 0 or width < 1 or height < 1:
        return np.zeros((0, 4), dtype=np.float32)
    boxes = boxes.copy()
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, max(width - 2, 0))
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, max(height - 2, 0))
    candidates = candidate_chips(width, height, chip_size, stride)
    candidates = candidates[as_rng(rng).permutation(len(candidates))]
    picked = greedy_cover(Containment(candidates, boxes))
    return candidates[picked].astype(np.float32).reshape(-1, 4)
