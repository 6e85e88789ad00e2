"""Whole-image "chips": the no-chip baselines of the ablation (TRAIN.FULL_IMAGE).

Single-scale training resizes every image to one (min, max) resolution; multi-scale training draws one of
several resolutions per image and epoch. Both feed the network the whole image, pasted top-left into a square
canvas whose side is the resolution's max (rounded up to a multiple of 32), and train every gt (no valid
ranges, no negative chips).
"""
import numpy as np

from lib.chips.chip import Chip
from lib.chips.scales import is_resolution_form, scale_factor, scaled_size


NO_RANGE = (-1, -1)  # a full-image chip trains every RoI: no scale selection
SIZE_DIVISOR = 32  # canvases are whole multiples of the backbone's largest stride (anchor grid = feature map)


def full_image_canvas(scale):
    """Canvas side of a (min, max) resolution: its max, rounded up to a multiple of SIZE_DIVISOR."""
    return -(-int(scale[1]) // SIZE_DIVISOR) * SIZE_DIVISOR


def check_full_image_scales(scales):
    """Full-image training needs TRAIN.SCALES as (min, max) pairs with max > 0; ValueError otherwise."""
    if not is_resolution_form(scales) or any(float(entry[1]) <= 0 for entry in scales):
        raise ValueError("TRAIN.FULL_IMAGE needs TRAIN.SCALES as (min, max) resolutions with max > 0, got %r"
                         % (scales,))


def full_image_chip(width, height, num_boxes, scales, scale_index):
    """The whole `width` x `height` image as one Chip at resolution `scales[scale_index]`.

    Every one of the `num_boxes` gts is valid. Returns a Chip with box (0, 0, W, H) (the loader's crop end is
    exclusive), size (int(H s), int(W s)) and canvas = full_image_canvas of the resolution.
    """
    s = scale_factor(width, height, scales[scale_index])
    w, h = scaled_size(width, height, s)
    return Chip(box=np.array([0, 0, width, height], dtype=np.float32), scale=s, scale_index=scale_index,
                size=(h, w), canvas=full_image_canvas(scales[scale_index]), valid_range=NO_RANGE,
                gt_index=np.arange(num_boxes, dtype=np.int64))


def sample_full_image(width, height, boxes, scales, rng):
    """[one full-image Chip at a scale drawn uniformly from `scales`], or [] for an image without gts.

    boxes: (N, 4) gts in original pixels; rng: numpy Generator.
    """
    check_full_image_scales(scales)
    if len(boxes) == 0:
        return []
    return [full_image_chip(width, height, len(boxes), scales, int(rng.integers(len(scales))))]
