"""A starting set of SNIPER scales for a dataset, from its box sizes and image sizes (scripts/chip_stats.py
--write-config). numpy only.

The idea of PaddleDetection's SNIPER parameter statistics tool (split the dataset's range of box sizes into
windows that each fit the network's comfortable size band, one scale per window), written for this port's
factor form of TRAIN.SCALES:

* The band: objects of sqrt(area) 53..250 px in a 512 px chip, the paper's middle valid range (32, 150) at its
  x1.667 factor (configs/faster/sniper_res101_e2e.yml), scaled with the chip size C: [53 C / 512, 250 C / 512].
* The coarsest scale is the paper's: the long side to C px (the last entry of the factor form, factor g = C / L
  on the median image of long side L). It suits objects of b_lo / g px and up.
* The box sizes from the 2nd percentile (at least b_lo / MAX_FACTOR: smaller boxes reach the band at no allowed
  factor) to min(largest box, b_lo / g) are cut into k equal windows on a log scale, k the fewest whose ratio
  fits the band (at most MAX_FACTOR_SCALES); scale i maps the geometric middle of window i to the middle of the
  band (finest factor at most MAX_FACTOR, the paper's 3).
* Valid ranges (original px): each window widened by m = max(MIN_OVERLAP, sqrt(band ratio / window ratio)) on
  both sides, so that neighbours overlap (the paper's do: (-1, 80), (32, 150), (120, -1)); the finest has no lower bound, the
  coarsest no upper bound and starts where the last window ends, divided by m.
* Anchors: the paper's (2, 4, 7, 10, 13, 16, 24) x 16 px for 512 px chips, scaled with C (they cover the band).
"""
import math
from dataclasses import dataclass

import numpy as np

PAPER_CHIP = 512.0
PAPER_BAND = (53.0, 250.0)  # chip px: (32, 150) x 1.667, the paper's middle scale
PAPER_ANCHOR_PX = (32.0, 64.0, 112.0, 160.0, 208.0, 256.0, 384.0)  # ANCHOR_SCALES (2, ..., 24) x stride 16
MAX_FACTOR = 3.0  # the paper's finest factor
MAX_FACTOR_SCALES = 3  # scales before the whole-image one
LOW_PERCENTILE = 2
MIN_OVERLAP = 1.25  # neighbouring valid ranges share at least a factor 1.25^2 of sizes


@dataclass(frozen=True)
class ScalePlan:
    """scales: TRAIN.SCALES factor form (factors finest first, the last the long side in px);
    valid_ranges: one (lo, hi) per scale in original px, -1 = open; anchor_scales: ANCHOR_SCALES for the
    stride; notes: the figures it was derived from (json-able)."""
    scales: tuple
    valid_ranges: tuple
    anchor_scales: tuple
    notes: dict


def band(chip_size):
    """(lo, hi) comfortable object size in chip px for a chip of `chip_size` px."""
    return PAPER_BAND[0] * chip_size / PAPER_CHIP, PAPER_BAND[1] * chip_size / PAPER_CHIP


def anchor_scales(chip_size, stride):
    """The paper's anchor sizes scaled with the chip, in units of the feature stride (rounded to 0.5)."""
    return tuple(round(2 * px * chip_size / PAPER_CHIP / stride) / 2 for px in PAPER_ANCHOR_PX)


def _windows(a_lo, a_top, band_ratio):
    """k log-equal windows [(lo, hi)] covering a_lo..a_top, k the fewest whose ratio fits band_ratio."""
    if a_top <= a_lo:
        return []
    k = min(MAX_FACTOR_SCALES, max(1, math.ceil(math.log(a_top / a_lo) / math.log(band_ratio) - 1e-9)))
    r = (a_top / a_lo) ** (1.0 / k)
    return [(a_lo * r ** i, a_lo * r ** (i + 1)) for i in range(k)]


def plan_scales(box_sizes, long_sides, chip_size, stride=16):
    """Scales, valid ranges and anchors for boxes of sqrt(area) `box_sizes` (original px) in images of long sides
    `long_sides` (px), for chips of `chip_size` px and a feature stride `stride`. -> ScalePlan."""
    box_sizes = np.asarray(box_sizes, dtype=np.float64)
    if box_sizes.size == 0:
        raise ValueError("no gt boxes: the box sizes decide the scales")
    b_lo, b_hi = band(chip_size)
    long_side = float(np.median(long_sides))
    g = chip_size / long_side
    # boxes below b_lo / MAX_FACTOR stay below the band at every factor: they train at the finest (no lower bound)
    a_lo = max(float(np.percentile(box_sizes, LOW_PERCENTILE)), b_lo / MAX_FACTOR)
    a_top = min(float(box_sizes.max()), b_lo / g)
    windows = _windows(a_lo, a_top, b_hi / b_lo)
    middle = math.sqrt(b_lo * b_hi)
    factors = [min(MAX_FACTOR, middle / math.sqrt(lo * hi)) for lo, hi in windows]
    m = max(MIN_OVERLAP, math.sqrt((b_hi / b_lo) / (windows[0][1] / windows[0][0]))) if windows else 1.0
    ranges = [[round(lo / m), round(hi * m)] for lo, hi in windows] + [[round(windows[-1][1] / m), -1]
                                                                       if windows else [-1, -1]]
    ranges[0][0] = -1
    notes = {"box_sqrt_area_p%d" % LOW_PERCENTILE: round(float(np.percentile(box_sizes, LOW_PERCENTILE)), 1),
             "box_sqrt_area_max": round(float(box_sizes.max()), 1),
             "median_long_side": round(long_side, 1), "band_chip_px": [round(b_lo, 1), round(b_hi, 1)],
             "whole_image_factor": round(g, 4), "windows": [[round(lo, 1), round(hi, 1)] for lo, hi in windows]}
    return ScalePlan(scales=tuple(round(f, 3) for f in factors) + (float(chip_size),),
                     valid_ranges=tuple(tuple(r) for r in ranges), anchor_scales=anchor_scales(chip_size, stride),
                     notes=notes)
