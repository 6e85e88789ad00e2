"""Training proposals and their RCNN targets, as the fork's `MultiProposalTarget` GPU op (the paper's path).

Written with MXNet operators (the NMS is a numpy custom op), so the training graph hybridizes; no gradient flows
back into the RPN (the original op writes zero gradients). Per chip b, with (lo, hi) = valid_ranges[b] in chip pixels and
areas (x2 - x1) * (y2 - y1) without +1:
1. decode every anchor, clip to [0, w - 1] x [0, h - 1] (im_info[b]);
2. invalidate boxes with both sides (no +1) < 3, or area >= hi^2, or area < lo^2;
3. greedy NMS at IoU > 0.7 with the op's IoU (intersection +1, areas without; lib/model/proposal_nms.py) over
   every anchor (pre_top_n = -1, as the GPU op; pre_top_n > 0 keeps only the best ones, a CPU budget), keep
   the best 300; empty slots get the dummy boxes [j%100, j%100, j%100 + 200, j%100 + 200];
4. the G gt rows (class != -1) overwrite the last G slots, each only if lo^2 <= area <= hi^2;
5. label = class of the max-IoU gt if that IoU > fg_thresh (0.5 in the op; all gts count, valid or not),
   else 0 (background, dummy fillers included); with `ignore_outside_range` (opt-in
   TRAIN.IGNORE_ROIS_OUTSIDE_RANGE) rois whose area lies outside [lo^2, hi^2] get label -1 and no targets;
6. targets for positives, normalised by BBOX_STDS, with the original's gt centre gx1 + 0.5 gw.
"""
from mxnet import gluon

from lib.geometry.ops import (areas_no_plus_one, clip_to_images, decode, encode_gt_centre_half_pixel, grid_anchors,
                              iou_fork_gpu, split_corners)
from lib.model.proposal import anchor_constant, deltas_to_rows, fill_empty
from lib.model.proposal_nms import fork_nms_top


def range_bounds(F, valid_ranges):
    """(B, 2) sqrt-area bounds -> squared lo, hi, each (B, 1, 1)."""
    lo = F.reshape(F.slice_axis(valid_ranges, axis=1, begin=0, end=1), (-1, 1, 1))
    hi = F.reshape(F.slice_axis(valid_ranges, axis=1, begin=1, end=2), (-1, 1, 1))
    return F.square(lo), F.square(hi)


def in_range(F, area, lo2, hi2):
    """(B, N, 1) areas -> (B, N, 1) 1.0 where lo^2 <= area <= hi^2."""
    return F.broadcast_greater_equal(area, lo2) * F.broadcast_lesser_equal(area, hi2)


def proposal_scores(F, cls_prob, boxes, lo2, hi2):
    """Object scores (B, N) with -1 for tiny or out-of-range boxes (B, N, 4) (steps 1-2)."""
    x1, y1, x2, y2 = split_corners(F, boxes)
    tiny = (x2 - x1 < 3) * (y2 - y1 < 3)
    area = areas_no_plus_one(F, boxes)
    outside = F.broadcast_greater_equal(area, hi2) + F.broadcast_lesser(area, lo2)
    invalid = F.reshape((tiny + outside) > 0, (0, -1))
    scores = F.reshape(F.slice_axis(cls_prob, axis=1, begin=1, end=2), (0, -1))
    return F.where(invalid, F.ones_like(scores) * -1.0, scores)


def append_gts(F, rois, gt_boxes, lo2, hi2, max_gts):
    """Step 4: rois (B, R, 4), gt_boxes (B, M, 5) -> rois (B, R, 4), gt j in slot R - G + j if in range.

    Slot R - M + i takes gt i + G - M, gathered with a (B, M, M) one-hot selection matrix.
    """
    num_gts = F.sum(F.slice_axis(gt_boxes, axis=2, begin=4, end=5) != -1, axis=1, keepdims=True)  # (B,1,1)
    index = F.reshape(F.contrib.arange_like(gt_boxes, axis=1), (1, -1, 1))  # (1, M, 1): tail slot i
    wanted = F.broadcast_add(index, num_gts - max_gts)  # (B, M, 1): gt index for slot i
    select = F.broadcast_equal(wanted, F.reshape(index, (1, 1, -1)))  # (B, M, M)
    gathered = F.slice_axis(F.batch_dot(select, gt_boxes), axis=2, begin=0, end=4)  # (B, M, 4)
    use = F.sum(select, axis=2, keepdims=True) * in_range(F, areas_no_plus_one(F, gathered), lo2, hi2)
    tail = F.slice_axis(rois, axis=1, begin=-max_gts, end=None)
    tail = F.where(F.broadcast_like(use, tail) > 0, gathered, tail)
    return F.concat(F.slice_axis(rois, axis=1, begin=0, end=-max_gts), tail, dim=1)


def assign(F, rois, gt_boxes, lo2, hi2, *, max_gts, fg_thresh, stds, ignore_outside_range):
    """Step 5-6: rois (B, R, 4), gt_boxes (B, M, 5) -> labels (B, R), targets (B, R, 4), weights (B, R, 4)."""
    gt_cls = F.slice_axis(gt_boxes, axis=2, begin=4, end=5)  # (B, M, 1)
    iou = iou_fork_gpu(F, rois, F.slice_axis(gt_boxes, axis=2, begin=0, end=4))
    is_gt = F.transpose(gt_cls != -1, axes=(0, 2, 1))  # (B, 1, M)
    iou = F.where(F.broadcast_like(is_gt, iou), iou, F.ones_like(iou) * -1.0)
    best = F.one_hot(F.argmax(iou, axis=2), depth=max_gts)  # (B, R, M)
    matched = F.batch_dot(best, gt_boxes)  # (B, R, 5)
    fg = F.max(iou, axis=2, keepdims=True) > fg_thresh  # (B, R, 1)
    labels = F.where(fg, F.slice_axis(matched, axis=2, begin=4, end=5), F.zeros_like(fg))
    if ignore_outside_range:
        keep = in_range(F, areas_no_plus_one(F, rois), lo2, hi2)
        labels, fg = F.where(keep, labels, F.ones_like(labels) * -1.0), fg * keep
    labels = F.reshape(labels, (0, -1))
    weights = F.broadcast_like(fg, rois)
    matched_boxes = F.slice_axis(matched, axis=2, begin=0, end=4)
    dx, dy, dw, dh = split_corners(F, encode_gt_centre_half_pixel(F, rois, matched_boxes))
    targets = F.concat(dx / stds[0], dy / stds[1], dw / stds[2], dh / stds[3], dim=-1) * weights
    return labels, targets, weights


class ProposalTarget(gluon.HybridBlock):
    """(cls_prob (B, 2, A*H*W), bbox_pred (B, 4A, H, W), im_info (B, 3), gt_boxes (B, M, 5),
    valid_ranges (B, 2)) -> rois (B, R, 4), labels (B, R), bbox_targets (B, R, 4), bbox_weights (B, R, 4).

    anchors: an AnchorSpec; targets: a RoITargetSpec (R = targets.num_rois, M = targets.max_gts must equal
    gt_boxes.shape[1]). All outputs carry no gradient. The paper's settings are the GPU op's: threshold 0.7,
    every anchor into NMS (pre_nms_top_n -1), fg_thresh 0.5, out-of-range rois trained as background.
    """

    def __init__(self, anchors, targets, **kwargs):
        super().__init__(**kwargs)
        if targets.max_gts >= targets.num_rois:  # the gts take the last max_gts slots; proposals need one
            raise ValueError("dataset.MAX_GTS (%d) must be below TRAIN.ROIS_PER_CHIP (%d)"
                             % (targets.max_gts, targets.num_rois))
        self._stride, self._num_anchors = anchors.stride, anchors.num_anchors
        self._nms = dict(threshold=targets.nms_thresh, pre_top_n=targets.pre_nms_top_n, post_top_n=targets.num_rois)
        self._assign = dict(max_gts=targets.max_gts, fg_thresh=targets.fg_thresh, stds=tuple(targets.bbox_stds),
                            ignore_outside_range=bool(targets.ignore_outside_range))
        with self.name_scope():
            self.base_anchors = anchor_constant(self, anchors)

    def hybrid_forward(self, F, cls_prob, bbox_pred, im_info, gt_boxes, valid_ranges, base_anchors):
        cls_prob, bbox_pred = F.stop_gradient(cls_prob), F.stop_gradient(bbox_pred)
        lo2, hi2 = range_bounds(F, valid_ranges)
        anchors = grid_anchors(F, base_anchors, bbox_pred, self._stride)
        boxes = clip_to_images(F, decode(F, anchors, deltas_to_rows(F, bbox_pred, self._num_anchors)), im_info)
        scores = proposal_scores(F, cls_prob, boxes, lo2, hi2)
        rois, _ = fill_empty(F, fork_nms_top(F, scores, boxes, **self._nms))
        rois = append_gts(F, rois, gt_boxes, lo2, hi2, self._assign["max_gts"])
        labels, targets, weights = assign(F, rois, gt_boxes, lo2, hi2, **self._assign)
        outputs = (rois, labels, targets, weights)
        return tuple(F.stop_gradient(x) for x in outputs)
