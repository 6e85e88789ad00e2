"""RPN anchor labels and regression targets of one chip, in numpy (as the original's `anchor_worker`,
lib/data_utils/data_workers.py; docs/design.md, "RPN anchor labels").

Anchors are the AnchorSpec's base anchors shifted over an fh x fw grid (fh = fw = C / stride); only the
"inside" ones (within 32 px of the C x C canvas) are labelled. Valid gts train anchors; invalid gts (present
in the chip but not assigned to it) only make ignore zones (IoU > 0.3 -> label -1).
"""
import functools

import numpy as np

from lib.geometry.anchors import generate_base_anchors, position_major_to_maps, shifted_anchors
from lib.geometry.boxes import bbox_overlaps, bbox_transform

ALLOWED_BORDER = 32  # anchors may stick out of the canvas by this many px
INVALID_IGNORE_IOU = 0.3  # anchors overlapping an invalid gt more than this are ignored (reference constant)


@functools.lru_cache(maxsize=8)
def anchor_grid(chip_size, stride, scales, ratios):
    """The chip's anchors, cached per geometry.

    Returns (anchors (fh*fw*A, 4) float32 position-major, inside (M,) int64 indices of the inside anchors,
    A, fh, fw). The arrays are read-only.
    """
    base = generate_base_anchors(stride=stride, ratios=ratios, scales=scales)
    fh = fw = chip_size // stride
    anchors = shifted_anchors(base, fh, fw, stride)
    inside = np.flatnonzero((anchors[:, 0] >= -ALLOWED_BORDER) & (anchors[:, 1] >= -ALLOWED_BORDER) &
                            (anchors[:, 2] < chip_size + ALLOWED_BORDER) &
                            (anchors[:, 3] < chip_size + ALLOWED_BORDER))
    anchors.setflags(write=False)
    inside.setflags(write=False)
    return anchors, inside, len(base), fh, fw


def label_anchors(anchors, valid_gts, invalid_gts, pos_overlap, neg_overlap):
    """Labels before sampling.

    anchors (M, 4); valid_gts (V, 4); invalid_gts (I, 4), chip pixels.
    Returns (labels (M,) int32 in {-1, 0, 1}, argmax (M,) int64 index of each anchor's best valid gt).
    With V > 0: 0 where max IoU < neg_overlap; 1 for every anchor tied with a gt's best IoU when that best
    IoU is > 0 (the original, as py-faster-rcnn, also marks ties at 0; fixed here); 1 where max IoU >= pos_overlap.
    With V == 0: all 0. Then -1 where the IoU with any invalid gt is > 0.3, overriding positives.
    """
    labels = np.full(len(anchors), -1, dtype=np.int32)
    argmax = np.zeros(len(anchors), dtype=np.int64)
    if len(valid_gts):
        overlaps = bbox_overlaps(anchors, valid_gts)
        argmax = overlaps.argmax(axis=1)
        max_overlaps = overlaps[np.arange(len(anchors)), argmax]
        labels[max_overlaps < neg_overlap] = 0
        gt_max = overlaps.max(axis=0)
        tied = (overlaps == gt_max[None, :]) & (gt_max[None, :] > 0)
        labels[tied.any(axis=1)] = 1
        labels[max_overlaps >= pos_overlap] = 1
    else:
        labels[:] = 0
    if len(invalid_gts):
        labels[(bbox_overlaps(anchors, invalid_gts) > INVALID_IGNORE_IOU).any(axis=1)] = -1
    return labels, argmax


def sample_labels(labels, batch_size, fg_fraction, rng):
    """Cap positives at int(batch_size * fg_fraction), then negatives at batch_size - #positives, by
    setting random extras to -1 (in place). labels (M,) int32; rng a numpy Generator."""
    fg = np.flatnonzero(labels == 1)
    num_fg = int(batch_size * fg_fraction)
    if len(fg) > num_fg:
        labels[rng.choice(fg, size=len(fg) - num_fg, replace=False)] = -1
    bg = np.flatnonzero(labels == 0)
    num_bg = batch_size - int(np.sum(labels == 1))
    if len(bg) > num_bg:
        labels[rng.choice(bg, size=len(bg) - num_bg, replace=False)] = -1
    return labels


def anchor_targets(valid_gts, invalid_gts, *, anchors, rpn, chip_size, rng):
    """RPN training targets of one chip.

    valid_gts (V, 4), invalid_gts (I, 4): gts in chip pixels. anchors: AnchorSpec; rpn: RPNTargetSpec;
    chip_size: the chip's canvas side C; rng: numpy Generator of the label sampling.
    Returns rpn_label (A*fh*fw,) float32, index a*fh*fw + y*fw + x; rpn_bbox_target and rpn_bbox_weight
    (4A, fh, fw) float32, channel 4a + coordinate; targets encode positives against their best valid gt
    (no normalisation), weights are 1 on the 4 coordinates of positives; everything else is 0.
    """
    grid, inside, _, fh, fw = anchor_grid(chip_size, anchors.stride, anchors.scales, anchors.ratios)
    valid_gts = np.asarray(valid_gts, dtype=np.float32).reshape(-1, 4)
    invalid_gts = np.asarray(invalid_gts, dtype=np.float32).reshape(-1, 4)
    labels, argmax = label_anchors(grid[inside], valid_gts, invalid_gts, rpn.positive_overlap, rpn.negative_overlap)
    sample_labels(labels, rpn.batch_size, rpn.fg_fraction, rng)

    all_labels = np.full(len(grid), -1, dtype=np.float32)
    all_labels[inside] = labels
    targets = np.zeros((len(grid), 4), dtype=np.float32)
    weights = np.zeros((len(grid), 4), dtype=np.float32)
    positive = np.flatnonzero(labels == 1)
    if len(positive):
        targets[inside[positive]] = bbox_transform(grid[inside[positive]], valid_gts[argmax[positive]])
        weights[inside[positive]] = 1.0
    return {
        "rpn_label": position_major_to_maps(all_labels, fh, fw).reshape(-1),
        "rpn_bbox_target": position_major_to_maps(targets, fh, fw),
        "rpn_bbox_weight": position_major_to_maps(weights, fh, fw),
    }
