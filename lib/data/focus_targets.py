"""A training chip's FocusPixel labels (AutoFocus), made in the loader beside its anchor targets.

The original's anchor worker moves every gt of the image into the chip (shift by the chip origin, times the
chip's scale; lib/data_utils/data_workers.py:208-220) and builds the map from all of them before its 10 px gt
filter (`gen_mask`, :164-192); lib/chips/focus_labels.py holds that rule.
"""
import numpy as np

from lib.chips.focus_labels import focus_labels


def chip_focus_labels(boxes, chip, canvas, spec):
    """(canvas // stride, canvas // stride) float32 labels 1 / 0 / -1 of one chip.

    boxes: (N, 4) every gt of the record in original pixels; chip: its Chip (box, scale); canvas: the chip side
    in px; spec: a lib.specs.training.FocusLabelSpec.
    """
    origin = np.array([chip.box[0], chip.box[1], chip.box[0], chip.box[1]], dtype=np.float64)
    moved = (np.asarray(boxes, dtype=np.float64).reshape(-1, 4) - origin) * chip.scale
    labels = focus_labels(moved, canvas, spec.stride, small_thresh=spec.small_thresh, dc_low=spec.dc_low,
                          dc_high=spec.dc_high)
    return labels.astype(np.float32)
