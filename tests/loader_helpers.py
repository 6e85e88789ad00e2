"""Shared fixtures of the loader tests: configs, synthetic images and hand-made chips."""
import cv2
import numpy as np

from lib.chips.chip import Chip
from lib.config import default_config
from lib.dataset.roidb import ImageRecord

RED_BGR = (0, 0, 255)


def paper_cfg(**train):
    """The paper's loader settings: 512 chips, 21 anchors, RPN overlaps 0.5 / 0.4, COCO scales."""
    cfg = default_config()
    cfg.network.ANCHOR_SCALES = (2, 4, 7, 10, 13, 16, 24)
    cfg.TRAIN.RPN_POSITIVE_OVERLAP = 0.5
    cfg.TRAIN.RPN_NEGATIVE_OVERLAP = 0.4
    cfg.TRAIN.SCALES = (3.0, 1.667, 512.0)
    cfg.TRAIN.VALID_RANGES = ((-1, 80), (32, 150), (120, -1))
    for key, value in train.items():
        cfg.TRAIN[key] = value
    return cfg


def write_image(path, width, height, rects=(), color=RED_BGR):
    """A black PNG image with filled rectangles at inclusive boxes `rects`; returns the path."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in rects:
        image[int(y1):int(y2) + 1, int(x1):int(x2) + 1] = color
    cv2.imwrite(str(path), image)
    return str(path)


def record(path, width, height, boxes, classes=None, flipped=False):
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    classes = np.arange(1, len(boxes) + 1) if classes is None else classes
    return ImageRecord(image=str(path), width=width, height=height, boxes=boxes, classes=classes,
                       flipped=flipped)


def chip(x1, y1, scale, chip_size=512, scale_index=0, gt_index=(), size=None):
    """A chip whose C x C window starts at (x1, y1) in original px."""
    side = (chip_size - 1) / scale
    return Chip(box=np.array([x1, y1, x1 + side, y1 + side], dtype=np.float32), scale=scale,
                scale_index=scale_index, size=size or (chip_size, chip_size),
                gt_index=np.asarray(gt_index, dtype=np.int64))
