"""Chip records: what the chip engine hands to the loader."""
from dataclasses import dataclass, field
from typing import List

import numpy as np


def _empty_index():
    return np.zeros(0, dtype=np.int64)


@dataclass
class Chip:
    """One training chip of an image.

    box: (4,) float32 x1, y1, x2, y2 of the chip in original image pixels.
    scale: the resize factor s from original pixels to chip pixels.
    scale_index: index into TRAIN.SCALES (0 = finest).
    size: (height, width) of the image content in chip pixels: (C, C) at non-coarsest scales,
        (int(H * s), int(W * s)) at the coarsest scale (the reference's crop record (ch, cw); goes to im_info).
    canvas: side of the square network input the chip is pasted into: TRAIN.CHIP_SIZE for SNIPER chips, the
        scale's max side for full-image chips (lib/chips/full_image.py).
    valid_range: (lo, hi) of the chip's scale in original sqrt-area px (-1 = no bound); (-1, -1) for a
        full-image chip (no scale selection of RoIs).
    gt_index: indices into the record's gt boxes that are valid (trained) in this chip.
    proposal_index: for negative chips, indices into the record's proposals that placed the chip.
    negative: True for a chip mined from proposals.
    """
    box: np.ndarray
    scale: float
    scale_index: int
    size: tuple
    canvas: int
    valid_range: tuple
    gt_index: np.ndarray = field(default_factory=_empty_index)
    proposal_index: np.ndarray = field(default_factory=_empty_index)
    negative: bool = False


@dataclass
class ImageChips:
    """All chips of one image for one epoch: `positive` and `negative` (candidates before sampling)."""
    positive: List[Chip] = field(default_factory=list)
    negative: List[Chip] = field(default_factory=list)
