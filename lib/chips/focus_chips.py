"""FocusChips of AutoFocus: from one scale's FocusPixel map to the chips the next, finer scale runs on.

The original's `gmask` (lib/chips/chips_inference.py:12-89), called per image and per chip of the current scale
by `add_chips` (:91-173) with TEST.CHIP_HYPERPARAMS[current scale] = (dilation, threshold, min size in cells):

1. cells with focus probability >= threshold become 1 (:17-18);
2. dilation by a d x d square of ones (cv2.dilate, :19);
3. connected regions by cv2.findContours(RETR_LIST): every contour, holes included (:22);
4. each region's bounding box (in cells) grown to at least min_size cells around its centre (Python 2 floor
   division) and moved inside the ceil(scaled size / stride) grid (:30-48);
5. the grown boxes are painted into the mask and the regions found again, until their count stops changing,
   so that chips which overlap or touch merge (:26-72);
6. boxes times stride, cut at the scaled chip's right / bottom end while keeping min_size * stride when the
   image allows (:75-86), divided by the scale: chips in the original image's pixels (:87), then shifted by
   the current chip's corner (:158-162).

Chips are half-open boxes [x1, x2) x [y1, y2) in original pixels, as the original's `inference_crops` (the
whole image is [0, 0, W, H]). The AutoFocus config uses (d, t, k) = (3, 0.02, 16) after the 480x512 scale and
(3, 0.2, 20) after the 800x1280 one, and (-1, -1, -1) (unused) for the last scale
(configs/faster/sniper_res101_e2e_autofocus.yml:235-239). Chips from different current chips are not merged
with each other, as in the original.
"""
import math

import cv2
import numpy as np


def binarize(prob, threshold):
    """(h, w) focus probabilities in [0, 1] -> (h, w) uint8 mask, 1 where prob >= threshold."""
    return (np.asarray(prob) >= threshold).astype(np.uint8)


def dilate(mask, dilation):
    """(h, w) uint8 mask dilated by a dilation x dilation square of ones (cv2's default anchor: the centre)."""
    if int(dilation) < 1:
        raise ValueError("focus chip dilation must be >= 1 (TEST.CHIP_HYPERPARAMS), got %r" % (dilation,))
    return cv2.dilate(mask, np.ones((int(dilation), int(dilation)), np.uint8))


def regions(mask):
    """Bounding boxes (x, y, w, h) in cells of every contour of the mask, holes included, as the original."""
    contours = cv2.findContours((mask > 0).astype(np.uint8), cv2.RETR_LIST, cv2.CHAIN_APPROX_SIMPLE)[-2]
    return [cv2.boundingRect(c) for c in contours]


def place(start, length, min_size, limit):
    """One axis of a region grown to >= min_size cells around its centre and moved inside [0, limit).

    Integer arithmetic with floor division, as the original's Python 2 code. Returns (start, length).
    """
    centre = (2 * start + length) // 2
    length = max(min_size, length)
    if centre + length // 2 >= limit:
        return max(limit - length, 0), length
    if centre - length // 2 < 0:
        return 0, length
    return centre - length // 2, length


def grown(rect, min_size, grid):
    """(x, y, w, h) region -> grown (x, y, w, h); grid = (columns, rows) of the scaled chip."""
    x, w = place(rect[0], rect[2], min_size, grid[0])
    y, h = place(rect[1], rect[3], min_size, grid[1])
    return x, y, w, h


def merged_cells(mask, min_size, grid):
    """Grown regions of a dilated mask, painted and found again until their count is stable.

    mask: (h, w) uint8 (not modified); grid: (columns, rows). Returns a list of (x, y, w, h) in cells.
    """
    mask = mask.copy()
    rects, chips, count = regions(mask), [], -1
    while count != len(chips):
        count = len(chips)
        for x, y, w, h in (grown(r, min_size, grid) for r in rects):
            mask[y:y + h, x:x + w] = 1
        rects = regions(mask)
        chips = [grown(r, min_size, grid) for r in rects]
    return chips


def cells_to_pixels(chips, *, min_size, stride, scaled_size):
    """(x, y, w, h) cell boxes -> (K, 4) float64 [x1, y1, x2, y2) in the scaled chip's pixels.

    A box past the scaled chip's end is cut there and its start moved back to keep min_size * stride pixels
    when the chip is that large (the start never goes below 0). scaled_size = (width, height), floats.
    """
    out = np.zeros((len(chips), 4), dtype=np.float64)
    for i, (x, y, w, h) in enumerate(chips):
        x1, y1, x2, y2 = x * stride, y * stride, (x + w) * stride, (y + h) * stride
        if x2 > scaled_size[0]:
            x2 = scaled_size[0]
            x1 = max(min(x1, x2 - min_size * stride), 0)
        if y2 > scaled_size[1]:
            y2 = scaled_size[1]
            y1 = max(min(y1, y2 - min_size * stride), 0)
        out[i] = (x1, y1, x2, y2)
    return out


def focus_chips(focus_prob_map, *, threshold, dilation, min_size, stride, image_scale, image_size,
                origin=(0.0, 0.0)):
    """FocusChips for the next scale from one chip's focus map at the current scale.

    focus_prob_map: (h, w) probability of the focus class (the original's scale_prob[1], on the padded network
    input, so h, w may exceed the chip's cells; cells there count as the original's do). threshold, dilation,
    min_size (cells): TEST.CHIP_HYPERPARAMS[current scale] = (dilation, threshold, min_size). stride: 16.
    image_scale: the current scale's factor; image_size: (width, height) of the current chip in original pixels;
    origin: its (x1, y1) in the original image. Returns (K, 4) float64 chips [x1, y1, x2, y2) in original image
    pixels; (0, 4) when no cell reaches the threshold.
    """
    scaled = (image_size[0] * image_scale, image_size[1] * image_scale)
    grid = (int(math.ceil(scaled[0] / stride)), int(math.ceil(scaled[1] / stride)))
    mask = dilate(binarize(focus_prob_map, threshold), dilation)
    cells = merged_cells(mask, int(min_size), grid)
    chips = cells_to_pixels(cells, min_size=int(min_size), stride=stride, scaled_size=scaled) / image_scale
    return chips + np.array([origin[0], origin[1], origin[0], origin[1]], dtype=np.float64)
