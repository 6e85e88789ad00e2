"""Valid-range rules of the chip engine: which gts the positive chips cover, which boxes a chip owns, which negative
chips are kept (the original's `chip_extractor` and `box_assigner`, lib/data_utils/data_workers.py; docs/design.md).

Box statistics are in original pixels with no +1, truncated: w = int(x2 - x1), h = int(y2 - y1),
a = sqrt(w * h), m = max(w, h). A bound of -1 (any negative number) means "no bound", at every scale.
"""
from dataclasses import dataclass

import numpy as np

from lib.geometry.boxes import containment, sqrt_areas_truncated

# A negative chip is kept when it owns more than this many boxes: 25 at the finest scale, 10 at the others
# (the original's box_assigner).
NEG_MIN_BOXES_FINEST = 25
NEG_MIN_BOXES_OTHER = 10


@dataclass
class BoxStats:
    """Per-box statistics (each (N,) float64): sqrt area `a`, truncated width `w`, height `h`, max side `m`."""
    a: np.ndarray
    w: np.ndarray
    h: np.ndarray
    m: np.ndarray


def box_stats(boxes):
    """(N, 4) boxes in original pixels -> BoxStats."""
    a, w, h = sqrt_areas_truncated(np.asarray(boxes, dtype=np.float64).reshape(-1, 4))
    return BoxStats(a=a, w=w, h=h, m=np.maximum(w, h))


def bounds(valid_range):
    """(lo, hi) with -1 -> (-inf, +inf) as floats."""
    lo, hi = float(valid_range[0]), float(valid_range[1])
    return (lo if lo >= 0 else -np.inf), (hi if hi >= 0 else np.inf)


def max_side_limit(s, chip_size, stride):
    """Longest side (original px) a box may have at a non-coarsest scale: (C - S - 1) / s."""
    return (chip_size - stride - 1) / s


def chip_mask(stats, i, n_scales, valid_range, s, chip_size, stride):
    """Gts the positive chips of scale i must cover (`chip_extractor`). -> (N,) bool.

    coarsest: a >= lo; finest: a < hi, m < (C - S - 1)/s, w >= 2, h >= 2;
    intermediate: a >= lo, a < hi, m < (C - S - 1)/s.
    """
    lo, hi = bounds(valid_range)
    if i == n_scales - 1:
        return stats.a >= lo
    fits = (stats.a < hi) & (stats.m < max_side_limit(s, chip_size, stride))
    if i == 0:
        return fits & (stats.w >= 2) & (stats.h >= 2)
    return fits & (stats.a >= lo)


def assign_mask(stats, i, n_scales, valid_range, s, chip_size, stride, *, lower_bound_all_scales=False):
    """Boxes (gts and proposals) that scale i may assign to a chip (`box_assigner`). -> (N,) bool.

    coarsest: a >= lo; other scales: a < hi, m < (C - S - 1)/s, w >= 2, h >= 2. The original's box_assigner
    has no lower bound below the coarsest scale (lib/data_utils/data_workers.py, box_assigner's valid_ids), so
    a gt below the middle scale's lower bound inside a middle-scale chip is trained there, and small proposals
    place middle-scale negative chips. `lower_bound_all_scales` (TRAIN.ASSIGN_LOWER_BOUND_ALL_SCALES) also
    requires a >= lo at intermediate scales, as the paper describes.
    """
    lo, hi = bounds(valid_range)
    if i == n_scales - 1:
        return stats.a >= lo
    mask = ((stats.a < hi) & (stats.m < max_side_limit(s, chip_size, stride))
            & (stats.w >= 2) & (stats.h >= 2))
    if lower_bound_all_scales and i > 0:
        mask &= stats.a >= lo
    return mask


def assign_to_chips(boxes, chips, is_last, valid_range, strict_hi=False):
    """Each box's best-containing chip, if the clipped box passes the range test. -> (N,) int64, -1 = none.

    boxes: (N, 4), chips: (K, 4), original pixels. The chip is the argmax of intersection / area(box)
    (+1 convention, first chip on ties). With dx = min(x2) - max(x1), dy likewise (no +1), the box is
    assigned iff dx >= 1, dy >= 1 and sqrt(dx * dy) >= lo at the coarsest scale, <= hi (< hi when
    `strict_hi`, the negative-chip rule) at the other scales.
    """
    owner = np.full(len(boxes), -1, dtype=np.int64)
    if len(boxes) == 0 or len(chips) == 0:
        return owner
    best = np.argmax(containment(boxes, chips), axis=1)
    chip = np.asarray(chips, dtype=np.float64)[best]
    boxes = np.asarray(boxes, dtype=np.float64)
    dx = np.minimum(boxes[:, 2], chip[:, 2]) - np.maximum(boxes[:, 0], chip[:, 0])
    dy = np.minimum(boxes[:, 3], chip[:, 3]) - np.maximum(boxes[:, 1], chip[:, 1])
    side = np.sqrt(np.abs(dx * dy))
    lo, hi = bounds(valid_range)
    if is_last:
        in_range = side >= lo
    else:
        in_range = side < hi if strict_hi else side <= hi
    ok = (dx >= 1) & (dy >= 1) & in_range
    owner[ok] = best[ok]
    return owner


def negative_min_boxes(i):
    """A negative chip of scale i is kept when it places more than this many boxes."""
    return NEG_MIN_BOXES_FINEST if i == 0 else NEG_MIN_BOXES_OTHER
