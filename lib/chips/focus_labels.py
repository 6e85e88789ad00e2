"""FocusPixel labels of AutoFocus: per stride cell of a training chip, is a small object there?

The original builds them in its anchor worker (lib/data_utils/data_workers.py:164-192, `gen_mask`), on the gts
of the whole image moved into chip pixels, rounded and clipped to the chip (:208-220), before its 10 px box
filter (:226). Per gt, in the given order (a later gt overwrites an earlier one's cells):

* a = sqrt((x2 - x1) * (y2 - y1)), no +1, in chip pixels;
* dc_low < a < small_thresh -> 1 (FocusPixel); small_thresh <= a < dc_high -> -1 (ignored band);
  a <= dc_low -> -1 (too small to judge); otherwise (a large object) -> its cells are left as they are;
* its cells are columns int(x1 / stride) .. ceil(x2 / stride) and rows int(y1 / stride) .. ceil(y2 / stride),
  both ends included, cut at the map's border (a box ending exactly on a cell border takes one more cell).

Every cell no gt wrote stays 0 (negative). A gt outside the chip clips to a zero-area line on the chip's
border and so marks border cells -1, as in the original. The AutoFocus config's thresholds are
(small_thresh, dc_low, dc_high) = (64, 5, 90) (configs/faster/sniper_res101_e2e_autofocus.yml:110-119).
"""
import math

import numpy as np

POSITIVE, NEGATIVE, IGNORE = 1, 0, -1


def focus_flag(sqrt_area, *, small_thresh, dc_low, dc_high):
    """Label one gt writes into its cells: 1, -1, or None (writes nothing), in the original's branch order."""
    if dc_low < sqrt_area < small_thresh:
        return POSITIVE
    if small_thresh <= sqrt_area < dc_high:
        return IGNORE
    if sqrt_area <= dc_low:
        return IGNORE
    return None


def chip_pixel_boxes(gt_boxes, chip_size):
    """(N, 4) boxes in chip pixels -> rounded (half to even) and clipped to [0, chip_size - 1], float64.

    The original rounds and clips its gts this way before building the map (data_workers.py:220);
    applying it to boxes that are already rounded and clipped changes nothing.
    """
    boxes = np.round(np.asarray(gt_boxes, dtype=np.float64).reshape(-1, 4))
    return np.clip(boxes, 0, chip_size - 1)


def cell_span(lo, hi, stride, cells):
    """Cells [first, last + 1) a box side [lo, hi] covers: int(lo / stride) .. ceil(hi / stride), cut at `cells`."""
    return int(lo / stride), min(int(math.ceil(hi / stride)) + 1, cells)


def focus_labels(gt_boxes, chip_size, stride, *, small_thresh, dc_low, dc_high):
    """FocusPixel labels of one square chip.

    gt_boxes: (N, 4) x1, y1, x2, y2 of every gt of the image in this chip's pixels (shifted by the chip origin
    and multiplied by the chip's scale; not yet filtered by size). chip_size: side in pixels; stride: the
    feature stride (16). Thresholds are sqrt areas in chip pixels (TRAIN.AUTO_FOCUS_SMALL_THRESH, _DC_LOW,
    _DC_HIGH). Returns (chip_size // stride, chip_size // stride) int8 labels: 1 focus, 0 negative, -1 ignore.
    """
    cells = chip_size // stride  # the original's feat_width = chip_size / stride with Python 2 ints
    labels = np.full((cells, cells), NEGATIVE, dtype=np.int8)
    for x1, y1, x2, y2 in chip_pixel_boxes(gt_boxes, chip_size):
        flag = focus_flag(math.sqrt((x2 - x1) * (y2 - y1)), small_thresh=small_thresh, dc_low=dc_low,
                          dc_high=dc_high)
        if flag is None:
            continue
        cols, rows = cell_span(x1, x2, stride, cells), cell_span(y1, y2, stride, cells)
        labels[rows[0]:rows[1], cols[0]:cols[1]] = flag
    return labels
