"""One training chip, image to network inputs (reference §4.3, §4.4): crop, resize, pad, normalise, move boxes.

Coordinates: chip boxes are float x1, y1, x2, y2 in original image pixels; a chip's pixels are the original
rows int(y1):int(y2) and columns int(x1):int(x2) resized by the chip's scale s and pasted top-left into a
C x C canvas (C = TRAIN.CHIP_SIZE). Boxes are shifted by the *float* chip origin, so the image and the boxes
can be misaligned by up to s pixels, exactly as in the reference.
"""
import functools

import cv2
import numpy as np

from lib.data.anchor_targets import anchor_targets
from lib.dataset.image_io import check_size, read_image

MIN_GT_SIDE = 10  # a gt inside a chip is kept when (x2 - x1 + 1) >= 10 and (y2 - y1 + 1) >= 10
IMAGE_CACHE_SIZE = 8  # decoded images kept per loader process
FULL_IMAGE_RANGE = (-1, -1)  # TRAIN.FULL_IMAGE: no scale selection of RoIs


@functools.lru_cache(maxsize=IMAGE_CACHE_SIZE)
def _decoded(path):
    """read_image(path), kept per process and read-only (the chips of one image share one decode)."""
    image = read_image(path)
    image.flags.writeable = False
    return image


def read_record_image(record):
    """The record's image, HxWx3 uint8 BGR (read-only), mirrored when `record.flipped`.

    The last IMAGE_CACHE_SIZE decoded images are kept per process: a large image (a 2299 x 2472 aerial PNG takes
    110 ms to decode) gives many chips. Raises DatasetError naming the file when it is unreadable, truncated or
    its size differs from the record's.
    """
    image = _decoded(record.image)
    check_size(image, record.image, record.width, record.height)
    return image[:, ::-1] if record.flipped else image


def crop_chip_image(image, chip, chip_size, pixel_means_bgr):
    """Chip pixels as the network input.

    image: HxWx3 uint8 BGR (already mirrored for flipped records).
    Returns (3, C, C) float32, RGB minus the mean pixel; the area not covered by the image is 0 (the mean).
    """
    x1, y1, x2, y2 = (int(v) for v in chip.box)
    crop = np.ascontiguousarray(image[y1:y2, x1:x2])
    resized = cv2.resize(crop, None, fx=chip.scale, fy=chip.scale, interpolation=cv2.INTER_LINEAR)
    h, w = min(resized.shape[0], chip_size), min(resized.shape[1], chip_size)
    canvas = np.zeros((3, chip_size, chip_size), dtype=np.float32)
    for rgb, bgr in enumerate((2, 1, 0)):
        np.subtract(resized[:h, :w, bgr], np.float32(pixel_means_bgr[bgr]), out=canvas[rgb, :h, :w],
                    dtype=np.float32)
    return canvas


def boxes_in_chip(boxes, chip, chip_size):
    """Move gt boxes into chip pixels (reference §4.4).

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


def chip_canvas(chip, cfg):
    """Side of the square network input of `chip`: its own canvas (full-image chips) or TRAIN.CHIP_SIZE."""
    return chip.canvas or cfg.TRAIN.CHIP_SIZE


def load_chip(record, chip, cfg, rng, image=None):
    """Every network input of one chip.

    record: ImageRecord; chip: Chip of that record; rng: numpy Generator for the RPN label sampling;
    image: the record's image (BGR, mirrored if flipped) when the caller already has it.
    Returns (dict, n_truncated) where the dict holds data (3, C, C), im_info (3,) [h, w, s] (the chip's
    content size), gt_boxes (MAX_GTS, 5) (all gts surviving the move, in gt order, valid and invalid),
    valid_ranges (2,), rpn_label (A*fh*fw,), rpn_bbox_target and rpn_bbox_weight (4A, fh, fw);
    n_truncated counts the gts beyond MAX_GTS left out of gt_boxes (anchor targets still use them).
    C is chip_canvas(chip, cfg); a full-image chip's valid range is the whole canvas.
    """
    size = chip_canvas(chip, cfg)
    if image is None:
        image = read_record_image(record)
    moved, kept = boxes_in_chip(record.boxes, chip, size)
    valid = valid_in_chip(moved, kept, chip.gt_index, cfg.TRAIN.VALID_GTS_BY_INDEX)
    gt_boxes, n_truncated = padded_gt_boxes(moved, record.classes[kept], cfg.dataset.MAX_GTS)
    out = {
        "data": crop_chip_image(image, chip, size, cfg.network.PIXEL_MEANS),
        "im_info": np.array([chip.size[0], chip.size[1], chip.scale], dtype=np.float32),
        "gt_boxes": gt_boxes,
        "valid_ranges": chip_valid_range(FULL_IMAGE_RANGE if cfg.TRAIN.FULL_IMAGE
                                         else cfg.TRAIN.VALID_RANGES[chip.scale_index], chip.scale, size),
    }
    out.update(anchor_targets(moved[valid], moved[~valid], cfg, rng, chip_size=size))
    return out, n_truncated
