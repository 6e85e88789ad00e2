"""Proposal NMS in MXNet operators and the test-time proposal layer (the 2018 fork's `MultiProposal`); the box geometry
(anchors, decode, clipping) is `lib.geometry.ops`.

Shared by the training proposal-target layer (`proposal_target.py`). Boxes are (x1, y1, x2, y2) inclusive
chip pixels; anchor-major order everywhere: row a*H*W + y*W + x.
"""
import numpy as np
from mxnet import gluon

from lib.geometry.anchors import generate_base_anchors
from lib.geometry.ops import clip_to_images, decode, grid_anchors, split_corners


def anchor_constant(block, anchors):
    """Register the (A, 4) base anchors of an AnchorSpec (lib.geometry.anchors) as a Constant
    `<prefix>base_anchors` of `block`."""
    base = generate_base_anchors(anchors.stride, tuple(anchors.ratios), tuple(anchors.scales))
    return block.params.get_constant("base_anchors", base.astype(np.float32))


def deltas_to_rows(F, bbox_pred, num_anchors):
    """(B, 4A, H, W), channel 4a + coordinate -> (B, A*H*W, 4), anchor-major."""
    x = F.reshape(bbox_pred, shape=(0, -4, num_anchors, 4, -3))  # (B, A, 4, H*W)
    return F.reshape(F.transpose(x, axes=(0, 1, 3, 2)), shape=(0, -1, 4))


def nms_top(F, scores, boxes, threshold, pre_top_n, post_top_n, plus_one=False):
    """Greedy NMS (IoU > threshold suppresses) over boxes with score >= 0; keep the best post_top_n.

    scores (B, N) (negative = invalid), boxes (B, N, 4) -> (B, post_top_n, 5) rows [score, x1, y1, x2, y2]
    by descending score; empty slots have score -1. pre_top_n > 0 limits NMS to the best pre_top_n boxes.
    `post_top_n` rows of -1 are appended first so that small maps still fill every slot. `box_nms` measures
    IoU without +1; plus_one gives the +1 IoU (inclusive pixels) by running it on boxes with x2 + 1, y2 + 1.
    """
    shift = F.reshape(F.concat(F.zeros((2,)), F.ones((2,)), dim=0), (1, 1, 4)) if plus_one else None
    if plus_one:
        boxes = F.broadcast_add(boxes, shift)
    rows = F.concat(F.expand_dims(scores, axis=-1), boxes, dim=-1)
    pad = F.ones_like(F.slice_axis(rows, axis=1, begin=0, end=1)) * -1.0
    rows = F.concat(rows, F.repeat(pad, repeats=post_top_n, axis=1), dim=1)
    kept = F.contrib.box_nms(rows, overlap_thresh=threshold, valid_thresh=-0.5, topk=pre_top_n,
                             coord_start=1, score_index=0, id_index=-1, force_suppress=True)
    kept = F.slice_axis(kept, axis=1, begin=0, end=post_top_n)
    if plus_one:
        kept = F.broadcast_sub(kept, F.concat(F.zeros((1, 1, 1)), shift, dim=2))
    return kept


def dummy_boxes(F, like):
    """The original's filler rois for empty slots: [j%100, j%100, j%100 + 200, j%100 + 200].

    like (B, R, k) -> (1, R, 4); j is the slot index (the original's flat index k has k % 100 == j % 100
    because R = 300).
    """
    j = F.reshape(F.contrib.arange_like(like, axis=1) % 100, (1, -1, 1))
    return F.concat(j, j, j + 200, j + 200, dim=-1)


def fill_empty(F, kept):
    """(B, R, 5) NMS output -> (rois (B, R, 4), scores (B, R)); empty slots get dummy boxes, score 0."""
    score = F.slice_axis(kept, axis=-1, begin=0, end=1)
    boxes = F.slice_axis(kept, axis=-1, begin=1, end=5)
    empty = score < 0
    boxes = F.where(F.broadcast_like(empty, boxes), F.broadcast_like(dummy_boxes(F, kept), boxes), boxes)
    return boxes, F.reshape(F.relu(score), (0, -1))


class TestProposal(gluon.HybridBlock):
    """Test-time proposals as the 2018 fork's `MultiProposal` (src/operator/multi_proposal.cu), batch > 1 with
    per-image clipping.

    Inputs: cls_prob (B, 2, A*H*W) softmax (channel 1 = object), bbox_pred (B, 4A, H, W), feat-like
    tensor with the (H, W) grid, im_info (B, 3) [h, w, scale] of each image's content.
    Decode, clip to the image's (h, w), drop boxes with a side (+1) < 3, best `pre_top_n` (12000, the
    fork's hard-coded value) through NMS at `threshold` with the op's +1 IoU, keep `post_top_n`; empty slots
    get the original's dummy boxes with score 0.
    Outputs: rois (B, post_top_n, 4) chip pixels, scores (B, post_top_n).
    """

    def __init__(self, anchors, *, threshold=0.7, pre_top_n=12000, post_top_n=300, **kwargs):
        super().__init__(**kwargs)
        self._stride, self._num_anchors = anchors.stride, anchors.num_anchors
        self._nms = dict(threshold=threshold, pre_top_n=pre_top_n, post_top_n=post_top_n, plus_one=True)
        with self.name_scope():
            self.base_anchors = anchor_constant(self, anchors)

    def hybrid_forward(self, F, cls_prob, bbox_pred, im_info, base_anchors):
        anchors = grid_anchors(F, base_anchors, bbox_pred, self._stride)
        boxes = decode(F, anchors, deltas_to_rows(F, bbox_pred, self._num_anchors))
        boxes = F.stop_gradient(clip_to_images(F, boxes, im_info))
        x1, y1, x2, y2 = split_corners(F, boxes)
        too_small = F.broadcast_logical_or(x2 - x1 + 1.0 < 3, y2 - y1 + 1.0 < 3)
        scores = F.slice_axis(F.stop_gradient(cls_prob), axis=1, begin=1, end=2)  # (B, 1, N)
        scores = F.where(F.reshape(too_small, (0, -1)), F.ones_like(F.reshape(scores, (0, -1))) * -1.0,
                         F.reshape(scores, (0, -1)))
        return fill_empty(F, nms_top(F, scores, boxes, **self._nms))
