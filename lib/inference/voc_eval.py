"""Pascal VOC detection AP in numpy, with the rules of the original's lib/dataset/pascal_voc_eval.py (`voc_eval`).

Per class, the detections are taken by descending score. Each is compared (IoU, +1 pixel convention) with every
gt of its image and class, difficult ones included, and picks the gt of highest IoU (the first on a tie). If that
IoU is above the threshold (strictly: `ovmax > ovthresh` in the original) the detection is a true positive when
the gt is not difficult and not yet taken, a false positive when it is already taken, and neither when it is
difficult; otherwise it is a false positive. Recall counts the non-difficult gts. AP is the VOC07 11-point mean
or the area under the precision envelope (VOC2010 on), as the original's `voc_ap`.
"""
import numpy as np

from lib.geometry.boxes import bbox_overlaps

AP_MODES = ("11point", "area")
# The original's 11 recall points are np.arange(0., 1.1, 0.1): the float steps make the 4th point
# 0.30000000000000004, so a recall of exactly 3/10 does not reach it; the same values are used here.
ELEVEN_POINTS = np.arange(0.0, 1.1, 0.1)


def voc_ap(recall, precision, mode):
    """AP of one PR curve. recall, precision: (D,) in descending score order; mode: "11point" or "area".

    11point: mean over t in ELEVEN_POINTS of the highest precision at recall >= t (0 where recall never gets
    there). area: the precision is made non-increasing (each point takes the highest precision at any later
    point), then summed over the recall steps, with sentinels recall 0 and 1 at precision 0.
    """
    recall, precision = np.asarray(recall, np.float64), np.asarray(precision, np.float64)
    if mode == "11point":
        return float(sum(precision[recall >= t].max() if np.any(recall >= t) else 0.0
                         for t in ELEVEN_POINTS) / 11.0)
    if mode != "area":
        raise ValueError("AP mode %r: expected one of %s" % (mode, ", ".join(AP_MODES)))
    mrec = np.concatenate(([0.0], recall, [1.0]))
    mpre = np.maximum.accumulate(np.concatenate(([0.0], precision, [0.0]))[::-1])[::-1]
    steps = np.flatnonzero(mrec[1:] != mrec[:-1])
    return float(np.sum((mrec[steps + 1] - mrec[steps]) * mpre[steps + 1]))


def best_gt(det_images, det_boxes, gt_images, gt_boxes):
    """For each detection, the gt of its image with the highest IoU.

    det_images (D,) int, det_boxes (D, 4); gt_images (G,) int, gt_boxes (G, 4); inclusive pixel boxes.
    Returns (ovmax (D,) float, -inf for an image without gts; jmax (D,) int index into the gts, -1 then).
    """
    det_images = np.asarray(det_images, dtype=np.int64)
    ovmax, jmax = np.full(len(det_images), -np.inf), np.full(len(det_images), -1, dtype=np.int64)
    gts_of = {}
    for g, image in enumerate(np.asarray(gt_images).tolist()):
        gts_of.setdefault(image, []).append(g)
    by_image = np.argsort(det_images, kind="stable")
    starts = np.flatnonzero(np.diff(det_images[by_image])) + 1
    for group in np.split(by_image, starts) if len(by_image) else []:
        g = gts_of.get(int(det_images[group[0]]))
        if g is None:
            continue
        iou = bbox_overlaps(det_boxes[group], gt_boxes[g])
        ovmax[group] = iou.max(axis=1)
        jmax[group] = np.asarray(g)[iou.argmax(axis=1)]
    return ovmax, jmax


def true_false_positives(ovmax, jmax, gt_difficult, iou_thresh):
    """(tp, fp) (D,) float flags of detections already in descending score order (see the module docstring)."""
    tp, fp = np.zeros(len(ovmax)), np.zeros(len(ovmax))
    taken = np.zeros(len(gt_difficult), dtype=bool)
    difficult = np.asarray(gt_difficult, dtype=bool)
    for d, (overlap, j) in enumerate(zip(ovmax.tolist(), jmax.tolist())):
        if not overlap > iou_thresh:
            fp[d] = 1.0
        elif difficult[j]:
            continue
        elif taken[j]:
            fp[d] = 1.0
        else:
            tp[d] = 1.0
            taken[j] = True
    return tp, fp


def class_ap(dets, gts, *, iou_thresholds=(0.5,), modes=AP_MODES):
    """VOC AP of one class.

    dets: (images (D,) int, scores (D,), boxes (D, 4)) of the class's detections.
    gts: (images (G,) int, boxes (G, 4), difficult (G,) bool) of the class's gts.
    Returns (npos, ap (T, M)) for T iou_thresholds and M modes; ap is NaN when npos (non-difficult gts) is 0.
    Ties in score keep the detections' given order (a stable sort; the original's np.argsort(-confidence) is a
    quicksort, whose order among ties is unspecified).
    """
    det_images, scores, det_boxes = (np.asarray(a) for a in dets)
    gt_images, gt_boxes, difficult = (np.asarray(a) for a in gts)
    npos = int(np.sum(~difficult.astype(bool)))
    ap = np.full((len(iou_thresholds), len(modes)), np.nan)
    if npos == 0:
        return npos, ap
    order = np.argsort(-scores, kind="stable")
    ovmax, jmax = best_gt(det_images[order], det_boxes[order].reshape(-1, 4), gt_images, gt_boxes.reshape(-1, 4))
    for t, thresh in enumerate(iou_thresholds):
        tp, fp = (np.cumsum(flags) for flags in true_false_positives(ovmax, jmax, difficult, thresh))
        recall = tp / float(npos)
        precision = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)  # first hit on a difficult gt: 0 / 0
        ap[t] = [voc_ap(recall, precision, mode) for mode in modes]
    return npos, ap
