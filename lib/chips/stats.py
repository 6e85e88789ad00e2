"""Chip statistics of a dataset (for scripts/chip_stats.py): chips per image, pixels processed, uncovered gts and
the share of gts each scale's valid range selects. numpy only.

Pixels are counted as the network sees them: every chip is a C x C input (the coarsest chip is padded to C x C).
They are compared with single-scale training (short side 800, long side at most 1333) and with the full
pyramid of the training scales (every scale applied to the whole image).
"""
from collections import Counter

import numpy as np

from lib.chips.sampler import sample_chips, sample_negatives
from lib.chips.scales import scale_factor, scale_factors, scaled_size
from lib.chips.validity import bounds, box_stats, chip_mask

SINGLE_SCALE = (800, 1333)
REASONS = ("outside every valid range", "too long for the chip (max side)", "thinner than 2 px",
           "clipped by its chip (range test)")


def uncovered_reasons(stats, valid_somewhere, factors, valid_ranges, chip_size, stride):
    """Why the gts valid in no chip are so. stats: BoxStats of N gts; valid_somewhere: (N,) bool. -> Counter.

    Checked in order: selected for chips but failing the assignment's range test on the clipped box; sqrt area
    outside every scale's range; thinner than 2 px; else the max side is too long for the chip at its scales.
    """
    n = len(factors)
    selected = np.zeros(len(stats.a), dtype=bool)
    in_range = np.zeros(len(stats.a), dtype=bool)
    for i, s in enumerate(factors):
        selected |= chip_mask(stats, i, n, valid_ranges[i], s, chip_size, stride)
        lo, hi = bounds(valid_ranges[i])
        in_range |= (stats.a >= lo) & ((stats.a < hi) | (i == n - 1))
    thin = (stats.w < 2) | (stats.h < 2)
    code = np.select([selected, ~in_range, thin], [3, 0, 2], default=1)[~valid_somewhere]
    return Counter(REASONS[c] for c in code.tolist())


def image_chip_stats(width, height, gt_boxes, proposals, scales, valid_ranges, chip_size, stride, num_neg, rng,
                     lower_bound_all_scales=False):
    """Chips and pixels of one image. -> dict (positive and negative per scale, pixel counts, uncovered reasons).

    lower_bound_all_scales: TRAIN.ASSIGN_LOWER_BOUND_ALL_SCALES (see lib/chips/validity.py assign_mask).
    """
    chips = sample_chips(width, height, gt_boxes, scales, valid_ranges, chip_size, stride, proposals, rng,
                         lower_bound_all_scales=lower_bound_all_scales)
    n_scales = len(scales)
    factors = scale_factors(width, height, scales)
    sampled = sample_negatives(chips, num_neg, rng)
    stats = box_stats(gt_boxes)
    valid = np.zeros(len(stats.a), dtype=bool)
    for chip in chips.positive:
        valid[chip.gt_index] = True
    w1, h1 = scaled_size(width, height, scale_factor(width, height, SINGLE_SCALE))
    return {
        "positive": np.bincount([c.scale_index for c in chips.positive], minlength=n_scales),
        "negative": np.bincount([c.scale_index for c in chips.negative], minlength=n_scales),
        "negative_candidates": len(chips.negative),
        "negative_sampled": len(sampled),
        "chip_pixels": (len(chips.positive) + len(sampled)) * chip_size ** 2,
        "single_scale_pixels": w1 * h1,
        "pyramid_pixels": sum(np.prod(scaled_size(width, height, s)) for s in factors),
        "gts": len(stats.a),
        "uncovered": uncovered_reasons(stats, valid, factors, valid_ranges, chip_size, stride),
    }


def dataset_chip_stats(images, scales, valid_ranges, chip_size, stride, num_neg, rng, lower_bound_all_scales=False):
    """Totals over images [(width, height, gt_boxes, proposals or None)]. -> dict of plain numbers."""
    per_image = [image_chip_stats(w, h, g, p, scales, valid_ranges, chip_size, stride, num_neg, rng,
                                  lower_bound_all_scales)
                 for w, h, g, p in images]
    n = max(len(per_image), 1)
    total = {k: sum(s[k] for s in per_image) for k in ("negative_candidates", "negative_sampled", "chip_pixels",
                                                        "single_scale_pixels", "pyramid_pixels", "gts")}
    positive = np.sum([s["positive"] for s in per_image], axis=0) if per_image else np.zeros(len(scales))
    negative = np.sum([s["negative"] for s in per_image], axis=0) if per_image else np.zeros(len(scales))
    reasons = sum((s["uncovered"] for s in per_image), Counter())
    return {
        "images": len(per_image),
        "positive_per_image_by_scale": [float(x) / n for x in positive],
        "positive_per_image": float(np.sum(positive)) / n,
        "negative_candidates_per_image": total["negative_candidates"] / n,
        "negative_candidates_per_image_by_scale": [float(x) / n for x in negative],
        "negative_sampled_per_image": total["negative_sampled"] / n,
        "chip_megapixels_per_image": total["chip_pixels"] / n / 1e6,
        "single_scale_megapixels_per_image": total["single_scale_pixels"] / n / 1e6,
        "pyramid_megapixels_per_image": total["pyramid_pixels"] / n / 1e6,
        "chips_vs_single_scale": total["chip_pixels"] / max(total["single_scale_pixels"], 1),
        "chips_vs_pyramid": total["chip_pixels"] / max(total["pyramid_pixels"], 1),
        "gts": total["gts"],
        "gts_uncovered": {r: int(reasons.get(r, 0)) for r in REASONS},
    }


def range_coverage(images, scales, valid_ranges, chip_size, stride):
    """Share of gts selected at each scale and at no scale by `valid_ranges`. -> (per_scale list, none)."""
    n = len(scales)
    hits, total, none = np.zeros(n), 0, 0
    for w, h, boxes, *_ in images:
        stats = box_stats(boxes)
        masks = np.array([chip_mask(stats, i, n, valid_ranges[i], s, chip_size, stride)
                          for i, s in enumerate(scale_factors(w, h, scales))]).reshape(n, -1)
        hits += masks.sum(axis=1)
        none += int((~masks.any(axis=0)).sum())
        total += len(stats.a)
    total = max(total, 1)
    return (hits / total).tolist(), none / total


def box_size_percentiles(images, percentiles=(5, 25, 50, 75, 95)):
    """Percentiles of the gts' sqrt(int(w) * int(h)) in original px. -> dict."""
    a = np.concatenate([box_stats(b).a for _, _, b, *_ in images] or [np.zeros(0)])
    return dict(zip(percentiles, np.percentile(a, percentiles).tolist())) if len(a) else {}
