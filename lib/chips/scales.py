"""Per-image scale factors (as the original's chip worker, lib/data_utils/data_workers.py), one rule for TRAIN.SCALES
and TEST.SCALES.

A scale list is in one of two forms, decided by the type of its first entry:

* factor form, numbers such as (3.0, 1.667, 512.0): every entry but the last is the factor itself; the last
  is the long side in pixels (s = last / long_side);
* resolution form, (min, max) pairs such as ((1400, 2000), (800, 1280), (480, 512)): the short side goes to
  `min` unless the long side would then exceed `max` (round(s * long) > max), in which case the long side goes
  to `max`; with min <= 0 the long side goes to `max`.
"""
import numbers


def is_resolution_form(scales):
    """True when `scales` is a list of (min, max) pairs, False for the factor form."""
    if len(scales) == 0:
        raise ValueError("TRAIN.SCALES / TEST.SCALES: empty scale list")
    resolution = isinstance(scales[0], (tuple, list))
    for entry in scales:
        if resolution and not (isinstance(entry, (tuple, list)) and len(entry) == 2):
            raise ValueError("scales %r: mixes (min, max) pairs with other entries" % (scales,))
        if not resolution and not isinstance(entry, numbers.Real):
            raise ValueError("scales %r: mixes factors with other entries" % (scales,))
    return resolution


def scale_factor(width, height, scale, is_last=False):
    """The factor s (original px -> scaled px) of one scale entry for a `width` x `height` image.

    scale: a (min, max) pair (resolution form) or a number (factor form; with `is_last` it is the long side in px).
    """
    long_side, short_side = float(max(width, height)), float(min(width, height))
    if isinstance(scale, (tuple, list)):
        min_t, max_t = float(scale[0]), float(scale[1])
        if min_t <= 0:
            return max_t / long_side
        s = min_t / short_side
        if max_t > 0 and round(s * long_side) > max_t:
            s = max_t / long_side
        return s
    return float(scale) / long_side if is_last else float(scale)


def scale_factor_at(width, height, scales, index):
    """The factor of entry `index` of a scale list, either form: the one rule for TRAIN.SCALES and TEST.SCALES
    (in the factor form the last entry is the long side in px)."""
    return scale_factor(width, height, scales[index], is_last=(index == len(scales) - 1))


def scale_factors(width, height, scales):
    """[s_0, ..., s_last] for every entry of `scales` (finest first), either form."""
    is_resolution_form(scales)
    return [scale_factor_at(width, height, scales, i) for i in range(len(scales))]


def scaled_size(width, height, s):
    """(int(W * s), int(H * s)): the scaled canvas, truncated as the reference does."""
    return int(width * s), int(height * s)
