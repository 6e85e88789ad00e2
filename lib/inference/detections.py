"""The tester's detection layout and the decoding of one image's network outputs into it.

Layout ("all detections") used by merge, COCO writing and evaluation:

    dets[image][cls] -> (n, 5) float32 rows (x1, y1, x2, y2, score)

a list over the images (dataset order) of a list over the contiguous class ids 0..C-1; boxes are inclusive
pixels in original image coordinates; dets[image][0] (background) is always empty. One scale's raw
detections and the merged final detections have the same layout.
"""
import numpy as np

from lib.geometry.boxes import bbox_pred, clip_boxes


def empty_image(num_classes):
    """One image with no detections: num_classes arrays of shape (0, 5) float32."""
    return [np.zeros((0, 5), dtype=np.float32) for _ in range(num_classes)]


def decode_image(rois, cls_prob, deltas, im_info, score_thresh=1e-3):
    """One image's network outputs -> its per-class detections in original coordinates.

    rois: (R, 4) proposals in resized-image pixels.
    cls_prob: (R, C) class probabilities (column 0 is background).
    deltas: (R, 4) class-agnostic box deltas, already un-normalised.
    im_info: (h_resized, w_resized, s).
    Boxes are decoded (`bbox_pred`), clipped to (h, w) and divided by s; class c = 1..C-1 keeps the rois with
    cls_prob[:, c] > score_thresh, as rows [box, cls_prob[:, c]] (the same box serves every class).
    Returns a list of C arrays (n_c, 5) float32.
    """
    rois = np.asarray(rois, dtype=np.float32).reshape(-1, 4)
    cls_prob = np.asarray(cls_prob, dtype=np.float32)
    if cls_prob.shape[0] != len(rois) or np.shape(deltas) != rois.shape:
        raise ValueError("decode_image: %d rois, cls_prob %s and deltas %s do not match"
                         % (len(rois), cls_prob.shape, np.shape(deltas)))
    height, width, scale = (float(v) for v in im_info)
    boxes = clip_boxes(bbox_pred(rois, deltas), height, width) / np.float32(scale)
    out = empty_image(cls_prob.shape[1])
    for c in range(1, cls_prob.shape[1]):
        keep = cls_prob[:, c] > score_thresh
        out[c] = np.concatenate([boxes[keep], cls_prob[keep, c, None]], axis=1).astype(np.float32)
    return out
