"""Per-image chips (the original's `chip_worker.chip_extractor` and `box_assigner`, lib/data_utils/data_workers.py
there; docs/design.md, "Positive chips" and "Which gts are valid in which chip") and per-epoch negative sampling.

    chips = sample_chips(640, 480, gt_boxes, (3.0, 1.667, 512.0), ((-1, 80), (32, 150), (120, -1)),
                         proposals=proposals, rng=np.random.default_rng(3))
    epoch_chips = chips.positive + sample_negatives(chips, 2, rng)

The gts and proposals are treated together as "all boxes", gts first, as the reference's merged roidb does:
index j < n_gt is gt j, index j >= n_gt is proposal j - n_gt.
"""
import numpy as np

from lib.chips.chip import Chip, ImageChips
from lib.chips.generator import generate_chips
from lib.chips.rng import as_rng, draw_stride
from lib.chips.scales import scale_factors, scaled_size
from lib.chips.validity import assign_mask, assign_to_chips, box_stats, chip_mask, negative_min_boxes


def _as_boxes(name, boxes):
    """None / empty / (N, 4) array-like -> (N, 4) float64, or a ValueError naming the argument."""
    arr = np.asarray([] if boxes is None else boxes, dtype=np.float64)
    if arr.size == 0:
        return np.zeros((0, 4), dtype=np.float64)
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError("%s must be an (N, 4) array of x1, y1, x2, y2, got shape %s" % (name, arr.shape))
    return arr


def chip_record_size(i, n_scales, s, width, height, chip_size):
    """(height, width) of a chip's content: (C, C), or (int(H*s), int(W*s)) at the coarsest scale."""
    if i == n_scales - 1:
        w, h = scaled_size(width, height, s)
        return h, w
    return chip_size, chip_size


def _scaled_cover(boxes, s, width, height, chip_size, stride, rng):
    """Chips covering `boxes` (N, 4, original px) at factor s -> (K, 4) float64 in original px."""
    w, h = scaled_size(width, height, s)
    return generate_chips(boxes * s, w, h, chip_size, stride, rng).astype(np.float64) / s


class ImageScales:
    """What every step needs about one image: its size, factors, ranges, chip size and stride."""

    def __init__(self, width, height, *, scales, valid_ranges, chip_size, stride, lower_bound_all_scales=False):
        if len(valid_ranges) != len(scales):
            raise ValueError("TRAIN.VALID_RANGES has %d entries but TRAIN.SCALES has %d"
                             % (len(valid_ranges), len(scales)))
        self.width, self.height = width, height
        self.factors = scale_factors(width, height, scales)
        self.valid_ranges = [tuple(v) for v in valid_ranges]
        self.chip_size, self.stride = chip_size, stride
        self.lower_bound_all_scales = bool(lower_bound_all_scales)

    @property
    def n(self):
        return len(self.factors)

    def is_last(self, i):
        return i == self.n - 1

    def chip_mask(self, stats, i):
        """(N,) bool: the gts the positive chips of scale i must cover."""
        return chip_mask(stats, i, self.n, self.valid_ranges[i], self.factors[i], self.chip_size, self.stride)

    def assign_mask(self, stats, i):
        """(N,) bool: the boxes scale i may assign to its chips."""
        return assign_mask(stats, i, self.n, self.valid_ranges[i], self.factors[i], self.chip_size, self.stride,
                           lower_bound_all_scales=self.lower_bound_all_scales)

    def cover(self, boxes, i, rng):
        return _scaled_cover(boxes, self.factors[i], self.width, self.height, self.chip_size, self.stride, rng)

    def make_chip(self, box, i, owned, n_gt, negative):
        """A Chip of scale i from a box (4,) and the indices (into all boxes) assigned to it."""
        size = chip_record_size(i, self.n, self.factors[i], self.width, self.height, self.chip_size)
        return Chip(box=np.asarray(box, dtype=np.float32), scale=self.factors[i], scale_index=i, size=size,
                    canvas=self.chip_size, valid_range=self.valid_ranges[i],
                    gt_index=owned[owned < n_gt].astype(np.int64),
                    proposal_index=(owned[owned >= n_gt] - n_gt).astype(np.int64) if negative
                    else np.zeros(0, dtype=np.int64),
                    negative=negative)


def positive_chips(geo, gt_boxes, all_boxes, n_gt, rng):
    """Positive chips of every scale and the per-scale 'covered' masks. -> (chips, [(N_all,) bool per scale]).

    gt_boxes: (N, 4); all_boxes: (N_all, 4), the gts first (then the proposals, if any); n_gt = N.
    """
    gt_stats, all_stats = box_stats(gt_boxes), box_stats(all_boxes)
    per_scale = [geo.cover(gt_boxes[geo.chip_mask(gt_stats, i)], i, rng) for i in range(geo.n)]
    chips, covered = [], []
    for i, boxes_i in enumerate(per_scale):
        assignable = np.flatnonzero(geo.assign_mask(all_stats, i))
        owner = assign_to_chips(all_boxes[assignable], boxes_i, geo.is_last(i), geo.valid_ranges[i])
        covered_i = np.zeros(len(all_boxes), dtype=bool)
        covered_i[assignable[owner >= 0]] = True
        covered.append(covered_i)
        chips += [geo.make_chip(box, i, assignable[owner == k], n_gt, negative=False)
                  for k, box in enumerate(boxes_i)]
    return chips, covered


def negative_chips(geo, all_boxes, n_gt, covered, rng):
    """Negative chips placed by the assignable boxes left uncovered at each scale (the original's `box_assigner`).

    all_boxes: (N_all, 4) gts then proposals; covered: per scale, (N_all,) bool from `positive_chips`.
    Uncovered gts count like proposals and are listed in the chip's gt_index.
    """
    all_stats = box_stats(all_boxes)
    chips = []
    for i in range(geo.n):
        remaining = np.flatnonzero(geo.assign_mask(all_stats, i) & ~covered[i])
        boxes_i = geo.cover(all_boxes[remaining], i, rng)
        owner = assign_to_chips(all_boxes[remaining], boxes_i, geo.is_last(i), geo.valid_ranges[i],
                                strict_hi=True)
        counts = np.bincount(owner[owner >= 0], minlength=len(boxes_i))
        chips += [geo.make_chip(boxes_i[k], i, remaining[owner == k], n_gt, negative=True)
                  for k in np.flatnonzero(counts > negative_min_boxes(i))]
    return chips


def sample_chips(width, height, gt_boxes, scales, valid_ranges, chip_size=512, stride=None, proposals=None,
                 rng=None, lower_bound_all_scales=False):
    """All chips of one image. -> ImageChips(positive=[Chip], negative=[Chip]).

    width, height: the image size (original px). gt_boxes: (N, 4) gts, original px.
    scales: factor form (3.0, 1.667, 512.0) or (min, max) form, finest first; valid_ranges: one (lo, hi) each.
    stride: chip stride in scaled px; None draws one of 56..59 from `rng` (the epoch builder should rather draw
    it once per epoch with `draw_stride` and pass it). proposals: (M, 4) or None; with proposals, negative
    chips are mined (reference USE_NEG_CHIPS). rng: seed, Generator or RandomState.
    lower_bound_all_scales: TRAIN.ASSIGN_LOWER_BOUND_ALL_SCALES, see `assign_mask` (False: the original).
    """
    rng = as_rng(rng)
    stride = draw_stride(rng) if stride is None else int(stride)
    geo = ImageScales(width, height, scales=scales, valid_ranges=valid_ranges, chip_size=int(chip_size),
                      stride=stride, lower_bound_all_scales=lower_bound_all_scales)
    gt_boxes = _as_boxes("gt_boxes", gt_boxes)
    props = None if proposals is None else _as_boxes("proposals", proposals)
    all_boxes = gt_boxes if props is None else np.concatenate([gt_boxes, props], axis=0)
    positive, covered = positive_chips(geo, gt_boxes, all_boxes, len(gt_boxes), rng)
    negative = [] if props is None else negative_chips(geo, all_boxes, len(gt_boxes), covered, rng)
    return ImageChips(positive=positive, negative=negative)


def sample_negatives(image_chips, num, rng):
    """The negative chips of one image for one epoch: all of them if at most `num`, else `num` at random
    (the first `num` of a random permutation, as the reference). -> list of Chip."""
    negatives = image_chips.negative
    if len(negatives) <= num:
        return list(negatives)
    order = as_rng(rng).permutation(len(negatives))[:num]
    return [negatives[k] for k in order]
