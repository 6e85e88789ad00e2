"""Non-maximum suppression in numpy: soft-NMS (Gaussian, linear), hard NMS and the plain greedy NMS.

Rows are (x1, y1, x2, y2, score) with inclusive pixel coordinates (IoU with the +1 convention).

`soft_nms` reproduces the original's Cython `cpu_soft_nms` (lib/nms/cpu_nms.pyx) step for step, vectorised
over the remaining boxes: the same float32 arithmetic, the same decay (Gaussian `exp(-IoU^2 / sigma)`, sigma
not 2 sigma^2), the same rule for dropping boxes (only boxes that overlap the selected one at all are checked
against the threshold) and the same in-place array reordering, so that ties are broken exactly as the original.
`nms` is the original's python greedy NMS (`ovr <= thresh` survives), used on proposals.
"""
import numpy as np

METHODS = ("gaussian", "linear", "hard")


def _decay(iou, method, sigma, iou_thresh):
    """(K,) float32 IoUs -> (K,) float32 score multipliers."""
    if method == "gaussian":
        return np.exp(-(iou * iou) / np.float32(sigma), dtype=np.float64).astype(np.float32)
    if method == "linear":
        return np.where(iou > np.float32(iou_thresh), np.float32(1) - iou, np.float32(1)).astype(np.float32)
    return np.where(iou > np.float32(iou_thresh), np.float32(0), np.float32(1)).astype(np.float32)


def _unstable_remove(segment, drop):
    """The reference's removal: scan left to right, overwrite each dropped entry with the current last one.

    segment (K,) positions, drop (K,) bool -> the kept positions in the order the reference leaves them
    (a dropped entry's slot takes the last kept entry from the end, so the survivors' order changes).
    """
    keep_count = int((~drop).sum())
    out = segment[:keep_count].copy()
    holes = np.flatnonzero(drop[:keep_count])
    tail = segment[keep_count:][~drop[keep_count:]][::-1]
    out[holes] = tail
    return out


def soft_nms(dets, sigma=0.55, score_thresh=0.001, method="gaussian", iou_thresh=0.3):
    """Soft-NMS (or hard NMS) of one class's detections.

    dets: (N, 5) rows (x1, y1, x2, y2, score).
    method: "gaussian" (score *= exp(-IoU^2 / sigma)), "linear" (score *= 1 - IoU where IoU > iou_thresh)
        or "hard" (boxes with IoU > iou_thresh are removed).
    A box that overlaps the selected one (IoU > 0) and whose decayed score is < score_thresh is dropped.
    Returns (M, 5) float32: the surviving boxes with their decayed scores, by descending score.
    """
    if method not in METHODS:
        raise ValueError("soft_nms: method %r is not one of %s" % (method, ", ".join(METHODS)))
    dets = np.asarray(dets, dtype=np.float32).reshape(-1, 5)
    one, thresh, n = np.float32(1), np.float32(score_thresh), len(dets)
    rows = np.empty((6, n), dtype=np.float32)  # x1, y1, x2, y2, score, area; columns reordered in place
    rows[:5] = dets.T
    rows[5] = (rows[2] - rows[0] + one) * (rows[3] - rows[1] + one)
    for i in range(len(dets)):
        if i >= n - 1:
            break
        best = i + int(np.argmax(rows[4, i:n]))
        if best != i:
            rows[:, [i, best]] = rows[:, [best, i]]
        top, rest = rows[:, i], rows[:, i + 1:n]
        iw = np.minimum(rest[2], top[2]) - np.maximum(rest[0], top[0]) + one
        ih = np.minimum(rest[3], top[3]) - np.maximum(rest[1], top[1]) + one
        touching = (iw > 0) & (ih > 0)
        inter = np.where(touching, iw * ih, np.float32(0))
        iou = inter / (top[5] + rest[5] - inter)
        rest[4] *= _decay(iou, method, sigma, iou_thresh)  # IoU 0 (not touching) decays by exactly 1
        drop = touching & (rest[4] < thresh)
        if method == "hard":
            drop |= touching & (iou > np.float32(iou_thresh))
        if drop.any():
            keep = _unstable_remove(np.arange(n - i - 1), drop)
            rows[:, i + 1:i + 1 + len(keep)] = rest[:, keep]
            n = i + 1 + len(keep)
    return np.ascontiguousarray(rows[:5, :n].T)


def nms(dets, thresh):
    """Greedy NMS (the reference's python `nms`): (N, 5) rows -> kept row indices (K,), by descending score.

    IoU with the +1 convention; a box survives while its IoU with every kept box is <= thresh.
    """
    dets = np.asarray(dets).reshape(-1, 5)
    x1, y1, x2, y2, scores = (dets[:, k] for k in range(5))
    areas = (x2 - x1 + 1) * (y2 - y1 + 1)
    order = scores.argsort()[::-1]
    keep = []
    while order.size > 0:
        i, others = order[0], order[1:]
        keep.append(i)
        w = np.maximum(0.0, np.minimum(x2[i], x2[others]) - np.maximum(x1[i], x1[others]) + 1)
        h = np.maximum(0.0, np.minimum(y2[i], y2[others]) - np.maximum(y1[i], y1[others]) + 1)
        inter = w * h
        ovr = inter / (areas[i] + areas[others] - inter)
        order = others[ovr <= thresh]
    return np.asarray(keep, dtype=np.int64)
