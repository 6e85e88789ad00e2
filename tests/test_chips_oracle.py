"""lib/chips against the original's chip worker re-stated in tests/original_chips_oracle.py: same positive chips,
same gts per chip, same negative chips and the boxes that placed them, on random images with synthetic gts and
proposals (both sides draw the candidate shuffles from one seeded generator, in the original's order)."""
import numpy as np
import pytest

from lib.chips import sample_chips
from lib.chips.synthetic import random_boxes, synthetic_proposals
from tests.original_chips_oracle import original_chips

FACTORS = (3.0, 1.667, 512.0)
RESOLUTIONS = ((1400, 2000), (800, 1280), (480, 512))
RANGES = ((-1, 80), (32, 150), (120, -1))


def _image(seed):
    rng = np.random.default_rng(seed)
    width, height = int(rng.integers(300, 1000)), int(rng.integers(250, 900))
    gts = random_boxes(rng, int(rng.integers(1, 40)), width, height, lo=4.0, hi=300.0)
    props = np.floor(synthetic_proposals(rng, gts, int(rng.integers(0, 400)), width, height))
    return width, height, gts, props, int(rng.integers(56, 60))


def _compare(seed, scales):
    width, height, gts, props, stride = _image(seed)
    crops, props_in_chips, neg, neg_props = original_chips(width, height, gts, props, scales, RANGES, 512, stride,
                                                           np.random.default_rng(seed))
    ours = sample_chips(width, height, gts, scales, RANGES, 512, stride, props, np.random.default_rng(seed))
    n_gt = len(gts)
    assert [c.scale_index for c in ours.positive] == [c[4] for c in crops]
    for chip, crop, ids in zip(ours.positive, crops, props_in_chips):
        np.testing.assert_allclose(chip.box, crop[0], rtol=1e-6, atol=1e-3)
        assert chip.size == (crop[2], crop[3]) and chip.scale == pytest.approx(crop[1])
        assert chip.gt_index.tolist() == [i for i in ids.tolist() if i < n_gt]
    assert [c.scale_index for c in ours.negative] == [c[4] for c in neg]
    for chip, crop, ids in zip(ours.negative, neg, neg_props):
        np.testing.assert_allclose(chip.box, crop[0], rtol=1e-6, atol=1e-3)
        assert chip.gt_index.tolist() + (chip.proposal_index + n_gt).tolist() == ids.tolist()
    return len(crops), len(neg)


@pytest.mark.parametrize("seed", range(12))
def test_same_chips_as_the_original_factor_scales(seed):
    _compare(seed, FACTORS)


@pytest.mark.parametrize("seed", range(4))
def test_same_chips_as_the_original_resolution_scales(seed):
    _compare(100 + seed, RESOLUTIONS)


def test_the_cases_exercise_negatives_and_middle_scale_small_gts():
    # the comparison is only worth something if the random cases mine negatives and place small gts in
    # middle-scale chips (the original's missing lower bound)
    totals = np.array([_compare(seed, FACTORS) for seed in range(12)]).sum(axis=0)
    assert totals[0] > 20 and totals[1] > 5
    small_in_middle = 0
    for seed in range(12):
        width, height, gts, props, stride = _image(seed)
        chips = sample_chips(width, height, gts, FACTORS, RANGES, 512, stride, props, np.random.default_rng(seed))
        area = np.sqrt(np.floor(gts[:, 2] - gts[:, 0]) * np.floor(gts[:, 3] - gts[:, 1]))
        small_in_middle += sum(int((area[c.gt_index] < 32).sum()) for c in chips.positive if c.scale_index == 1)
    assert small_in_middle > 0
