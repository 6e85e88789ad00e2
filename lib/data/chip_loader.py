"""One training chip, image to network inputs: crop, resize, pad, normalise, move boxes (as the original's
`im_worker` and `anchor_worker`, lib/data_utils/data_workers.py; docs/design.md, "One chip's network inputs").

Coordinates: chip boxes are float x1, y1, x2, y2 in original image pixels; a chip's pixels are the original
rows int(y1):int(y2) and columns int(x1):int(x2) resized by the chip's scale s and pasted top-left into a
C x C canvas (C = TRAIN.CHIP_SIZE). Boxes are shifted by the *float* chip origin, so the image and the boxes
can be misaligned by up to s pixels, exactly as in the reference.
"""
import numpy as np

from lib.data.anchor_targets import anchor_targets
from lib.data.focus_targets import chip_focus_labels
from lib.data.image import paste_network_image, read_record_image
from lib.data.mask_targets import chip_gt_masks

MIN_GT_SIDE = 10  # a gt inside a chip is kept when (x2 - x1 + 1) >= 10 and (y2 - y1 + 1) >= 10


def crop_chip_image(image, chip, chip_size, pixel_means_bgr):
    """Chip pixels as the network input.

    image: HxWx3 uint8 BGR (already mirrored for flipped records).
    Returns (3, C, C) float32, RGB minus the mean pixel; the area not covered by the image is 0 (the mean).
    """
    x1, y1, x2, y2 = (int(v) for v in chip.box)
    canvas = np.zeros((3, chip_size, chip_size), dtype=np.float32)
    paste_network_image(np.ascontiguousarray(image[y1:y2, x1:x2]), chip.scale, pixel_means_bgr, canvas)
    return canvas


def boxes_in_chip(boxes, chip, chip_size):
    """Move gt boxes into chip pixels (as the original's `anchor_worker`).

    boxes: (N, 4) in original pixels. Each box is shifted by the float chip origin, multiplied by s, rounded
    half to even, clipped to [0, C - 1]; boxes narrower or shorter than 10 px (+1 convention) are dropped.
    Returns (moved (K, 4) float32, kept (K,) int64 indices into `boxes`).
    """
    origin = np.array([chip.box[0], chip.box[1], chip.box[0], chip.box[1]], dtype=np.float64)
    moved = np.round((np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - origin) * chip.scale)
    moved = np.clip(moved, 0, chip_size - 1)
    keep = np.flatnonzero((moved[:, 2] - moved[:, 0] + 1 >= MIN_GT_SIDE) &
                          (moved[:, 3] - moved[:, 1] + 1 >= MIN_GT_SIDE))
    return moved[keep].astype(np.float32), keep


def valid_in_chip(moved, kept, gt_index, by_index=False):
    """Which moved gts (K, 4) train in the chip. -> (K,) bool.

    kept: (K,) record indices of the moved gts; gt_index: the chip's assigned gts. The original's anchor worker
    marks valid every gt whose IoU with an assigned gt is exactly 1 (lib/data_utils/data_workers.py,
    `valid_gtids = np.where(mov == 1)`), i.e. also an unassigned gt that lands on the same chip box as an
    assigned one; `by_index` (TRAIN.VALID_GTS_BY_INDEX) keeps the assigned gts only.
    """
    assigned = np.isin(kept, gt_index)
    if by_index or not assigned.any():
        return assigned
    return (moved[:, None, :] == moved[assigned][None, :, :]).all(axis=2).any(axis=1)


def chip_valid_range(valid_range, scale, chip_size):
    """A scale's valid range (lo, hi) in original sqrt-area px -> (2,) float32 in chip px (-1 = no bound)."""
    lo, hi = valid_range
    return np.array([lo * scale if lo >= 0 else 0.0, hi * scale if hi >= 0 else float(chip_size)],
                    dtype=np.float32)


def padded_gt_boxes(boxes, classes, max_gts):
    """(K, 4) boxes + (K,) classes -> ((max_gts, 5) float32 rows [x1, y1, x2, y2, cls] padded with -1,
    number of boxes that did not fit)."""
    out = np.full((max_gts, 5), -1, dtype=np.float32)
    n = min(len(boxes), max_gts)
    out[:n, :4] = boxes[:n]
    out[:n, 4] = classes[:n]
    return out, len(boxes) - n


def load_chip(record, chip, *, spec, rng, image=None):
    """Every network input of one chip.

    record: ImageRecord; chip: Chip of that record; spec: a lib.specs.LoaderSpec (pixel means, MAX_GTS, the
    valid-gt rule, anchors and RPN target settings); rng: numpy Generator for the RPN label sampling;
    image: the record's image (BGR, mirrored if flipped) when the caller already has it.
    Returns (dict, n_truncated) where the dict holds data (3, C, C), im_info (3,) [h, w, s] (the chip's
    content size), gt_boxes (MAX_GTS, 5) (all gts surviving the move, in gt order, valid and invalid),
    valid_ranges (2,), rpn_label (A*fh*fw,), rpn_bbox_target and rpn_bbox_weight (4A, fh, fw); with spec.masks
    also gt_mask_frames (MAX_GTS, 4) and gt_mask_grids (MAX_GTS, g, g) of the gt_boxes rows;
    n_truncated counts the gts beyond MAX_GTS left out of gt_boxes (anchor targets still use them).
    With spec.focus (TRAIN.AUTO_FOCUS) the dict also holds focus_label (C / stride, C / stride).
    C is the chip's canvas; its valid range is chip.valid_range in chip pixels (a full-image chip: the canvas).
    """
    size = chip.canvas
    if image is None:
        image = read_record_image(record)
    moved, kept = boxes_in_chip(record.boxes, chip, size)
    valid = valid_in_chip(moved, kept, chip.gt_index, spec.valid_gts_by_index)
    gt_boxes, n_truncated = padded_gt_boxes(moved, record.classes[kept], spec.max_gts)
    out = {
        "data": crop_chip_image(image, chip, size, spec.pixel_means),
        "im_info": np.array([chip.size[0], chip.size[1], chip.scale], dtype=np.float32),
        "gt_boxes": gt_boxes,
        "valid_ranges": chip_valid_range(chip.valid_range, chip.scale, size),
    }
    if spec.masks is not None:  # rows follow the gt_boxes rows
        segms = [record.segms[i] for i in kept]
        out["gt_mask_frames"], out["gt_mask_grids"] = chip_gt_masks(segms, chip, canvas=size, max_gts=spec.max_gts,
                                                                    grid=spec.masks.grid)
    out.update(anchor_targets(moved[valid], moved[~valid], anchors=spec.anchors, rpn=spec.rpn, chip_size=size,
                              rng=rng))
    if spec.focus is not None:
        out["focus_label"] = chip_focus_labels(record.boxes, chip, size, spec.focus)
    return out, n_truncated
