"""Box math in numpy; `lib.geometry.ops` is the same in MXNet operators.

Boxes are rows (x1, y1, x2, y2) with inclusive pixel coordinates, so a box's width is x2 - x1 + 1 (the
original's convention for IoU, NMS and the box coder). The original's places without +1 keep their own
function, named for it: `areas_no_plus_one` (range tests), `iou_fork_gpu` (the fork's training NMS),
`sqrt_areas_truncated` (the chip engine's box scale). Nothing here imports MXNet.
"""
import numpy as np


def box_widths_heights(boxes):
    """(N, 4) -> two (N,) arrays: widths and heights with the +1 convention."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return boxes[:, 2] - boxes[:, 0] + 1.0, boxes[:, 3] - boxes[:, 1] + 1.0


def box_areas(boxes):
    """(N, 4) -> (N,) areas with the +1 convention."""
    w, h = box_widths_heights(boxes)
    return w * h


def areas_no_plus_one(boxes):
    """(N, 4) -> (N,) (x2 - x1) * (y2 - y1): the area of the original's valid-range tests (tester, proposal op)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    return (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])


def _intersections(a, b):
    """(N, 4), (K, 4) -> (N, K) intersection areas with the +1 convention (0 where disjoint)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    iw = np.minimum(a[:, None, 2], b[None, :, 2]) - np.maximum(a[:, None, 0], b[None, :, 0]) + 1.0
    ih = np.minimum(a[:, None, 3], b[None, :, 3]) - np.maximum(a[:, None, 1], b[None, :, 1]) + 1.0
    return np.clip(iw, 0, None) * np.clip(ih, 0, None)


def bbox_overlaps(a, b):
    """IoU matrix. (N, 4), (K, 4) -> (N, K) float64, +1 convention as the reference's Cython IoU."""
    inter = _intersections(a, b)
    union = box_areas(a)[:, None] + box_areas(b)[None, :] - inter
    return inter / np.maximum(union, 1e-12)


def iou_fork_gpu(box, boxes, area_box, areas):
    """The fork's training-NMS IoU of box (4,) with boxes (M, 4) -> (M,): intersection with +1, the areas
    (given, from `areas_no_plus_one`) without (src/operator/multi_proposal_target.cu, NonMaximumSuppression)."""
    w = np.maximum(0.0, np.minimum(box[2], boxes[:, 2]) - np.maximum(box[0], boxes[:, 0]) + 1.0)
    h = np.maximum(0.0, np.minimum(box[3], boxes[:, 3]) - np.maximum(box[1], boxes[:, 1]) + 1.0)
    inter = w * h
    with np.errstate(divide="ignore", invalid="ignore"):
        return inter / (area_box + areas - inter)


def containment(boxes, regions):
    """Fraction of each box lying inside each region.

    (N, 4) boxes, (K, 4) regions -> (N, K): intersection / area(box), +1 convention
    (the reference's `ignore_overlaps`: "how much of box n lies inside region k").
    """
    return _intersections(boxes, regions) / np.maximum(box_areas(boxes)[:, None], 1e-12)


def clip_boxes(boxes, height, width):
    """Clamp x to [0, width - 1] and y to [0, height - 1]. (N, 4) -> (N, 4) copy."""
    out = np.array(boxes, dtype=np.float32, copy=True)
    out[:, 0::2] = np.clip(out[:, 0::2], 0, width - 1)
    out[:, 1::2] = np.clip(out[:, 1::2], 0, height - 1)
    return out


def bbox_transform(rois, gts):
    """Encode gts against rois: (N, 4), (N, 4) -> (N, 4) deltas (dx, dy, log dw, log dh).

    Widths +1, centres x1 + 0.5 (w - 1), 1e-7 in the denominators (reference `nonlinear_transform`).
    No mean/std normalisation.
    """
    rw, rh = box_widths_heights(rois)
    gw, gh = box_widths_heights(gts)
    rois = np.asarray(rois, dtype=np.float64)
    gts = np.asarray(gts, dtype=np.float64)
    rcx, rcy = rois[:, 0] + 0.5 * (rw - 1.0), rois[:, 1] + 0.5 * (rh - 1.0)
    gcx, gcy = gts[:, 0] + 0.5 * (gw - 1.0), gts[:, 1] + 0.5 * (gh - 1.0)
    return np.stack([(gcx - rcx) / (rw + 1e-7), (gcy - rcy) / (rh + 1e-7),
                     np.log(gw / (rw + 1e-7)), np.log(gh / (rh + 1e-7))], axis=1).astype(np.float32)


def bbox_pred(boxes, deltas):
    """Decode deltas: (N, 4) boxes, (N, 4) deltas -> (N, 4) boxes (reference `nonlinear_pred`)."""
    boxes = np.asarray(boxes, dtype=np.float64)
    deltas = np.asarray(deltas, dtype=np.float64)
    w, h = box_widths_heights(boxes)
    cx, cy = boxes[:, 0] + 0.5 * (w - 1.0), boxes[:, 1] + 0.5 * (h - 1.0)
    pcx, pcy = deltas[:, 0] * w + cx, deltas[:, 1] * h + cy
    pw, ph = np.exp(deltas[:, 2]) * w, np.exp(deltas[:, 3]) * h
    return np.stack([pcx - 0.5 * (pw - 1.0), pcy - 0.5 * (ph - 1.0),
                     pcx + 0.5 * (pw - 1.0), pcy + 0.5 * (ph - 1.0)], axis=1).astype(np.float32)


def flip_boxes(boxes, width):
    """Mirror boxes horizontally in an image of `width` px: x1' = W - x2 - 1, x2' = W - x1 - 1."""
    out = np.array(boxes, dtype=np.float32, copy=True)
    out[:, 0] = width - boxes[:, 2] - 1
    out[:, 2] = width - boxes[:, 0] - 1
    return out


def sqrt_areas_truncated(boxes):
    """The reference's box "scale" for valid ranges: sqrt(int(x2 - x1) * int(y2 - y1)), no +1.

    (N, 4) -> (sqrt_area (N,), w (N,), h (N,)) with w, h truncated to int as the reference does.
    """
    boxes = np.asarray(boxes, dtype=np.float64)
    w = np.trunc(boxes[:, 2] - boxes[:, 0])
    h = np.trunc(boxes[:, 3] - boxes[:, 1])
    return np.sqrt(np.clip(w * h, 0, None)), w, h


def tester_valid_range_mask(boxes, valid_range):
    """Which detections a test scale is trusted for. (N, 4+) original-coordinate boxes, (lo, hi) -> (N,) bool.

    The tester's rule: area without +1 (`areas_no_plus_one`, in float32); keep iff (lo <= 0 or area > lo^2)
    and (hi <= 0 or area <= hi^2): strict lower bound, inclusive upper bound, a bound <= 0 meaning none.
    """
    boxes = np.asarray(boxes, dtype=np.float32)
    lo, hi = valid_range
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = np.ones(len(boxes), dtype=bool)
    if lo > 0:
        keep &= area > lo * lo
    if hi > 0:
        keep &= area <= hi * hi
    return keep
