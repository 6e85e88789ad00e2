"""Random sources for the chip engine: one numpy Generator (or RandomState) passed down from the caller."""
import numbers

import numpy as np

STRIDE_LOW, STRIDE_HIGH = 56, 60  # the reference's np.random.randint(56, 60): one of 56..59


def as_rng(rng):
    """None (fresh unseeded Generator), an int seed, a Generator or a RandomState -> a usable rng."""
    if rng is None or isinstance(rng, numbers.Integral):
        return np.random.default_rng(rng)
    if isinstance(rng, (np.random.Generator, np.random.RandomState)):
        return rng
    raise TypeError("rng must be None, an int seed, np.random.Generator or RandomState, not %r" % type(rng))


def randint(rng, low, high):
    """One int in [low, high) from a Generator (`integers`) or a RandomState (`randint`)."""
    rng = as_rng(rng)
    if isinstance(rng, np.random.Generator):
        return int(rng.integers(low, high))
    return int(rng.randint(low, high))


def draw_stride(rng=None):
    """The chip stride of an epoch, drawn once per epoch as the reference does: one of 56, 57, 58, 59."""
    return randint(rng, STRIDE_LOW, STRIDE_HIGH)
