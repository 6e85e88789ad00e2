"""Chip statistics (scripts/chip_stats.py) and the synthetic proposals of the benchmark and pictures."""
import numpy as np
import pytest

from lib.chips.stats import REASONS, box_size_percentiles, dataset_chip_stats, range_coverage
from lib.chips.synthetic import synthetic_proposals

SCALES = (3.0, 1.667, 512.0)
RANGES = ((-1, 80), (32, 150), (120, -1))


@pytest.mark.parametrize("lower_bound_all_scales, expected", [(False, [0.0, 1.0, 0.0]), (True, [0.0, 0.0, 0.0])])
def test_negative_chips_per_scale(lower_bound_all_scales, expected):
    # 12 proposals of 20 px far from the gt: 12 <= 25 places no finest negative; the original assigns them at
    # x1.667 (no lower bound there) and keeps a chip with more than 10 (data_workers.py box_assigner)
    props = np.array([[500 + k % 5, 350 + k // 5, 520 + k % 5, 370 + k // 5] for k in range(12)], float)
    gts = np.array([[10, 10, 40, 40]], float)
    stats = dataset_chip_stats([(640, 480, gts, props)], SCALES, RANGES, 512, 56, 2, np.random.default_rng(0),
                               lower_bound_all_scales)
    assert stats["negative_candidates_per_image_by_scale"] == expected


def test_chip_and_pixel_counts_and_uncovered_reasons():
    gts = np.array([[10, 10, 60, 50],    # finest + middle
                    [0, 0, 1, 40],       # 1 px wide: thinner than 2 px
                    [0, 0, 600, 20],     # a = 110 in the middle range but 600 px long
                    [5, 5, 300, 300]], float)  # coarsest
    stats = dataset_chip_stats([(640, 480, gts, None)], SCALES, RANGES, 512, 56, 2, np.random.default_rng(0))
    assert stats["positive_per_image_by_scale"] == [1.0, 1.0, 1.0]
    assert stats["chip_megapixels_per_image"] == 3 * 512 * 512 / 1e6
    assert stats["single_scale_megapixels_per_image"] == 1066 * 800 / 1e6
    assert stats["pyramid_megapixels_per_image"] == (1920 * 1440 + 1066 * 800 + 512 * 384) / 1e6
    assert stats["gts_uncovered"] == {REASONS[0]: 0, REASONS[1]: 1, REASONS[2]: 1, REASONS[3]: 0}


def test_range_coverage_and_percentiles():
    gts = np.array([[0, 0, 20, 20], [0, 0, 100, 100], [0, 0, 200, 200], [0, 0, 600, 20]], float)
    per_scale, none = range_coverage([(640, 480, gts)], SCALES, RANGES, 512, 56)
    assert np.allclose(per_scale, [1 / 4, 1 / 4, 1 / 4]) and none == 1 / 4  # the 600 px long box
    assert box_size_percentiles([(640, 480, gts[:3])], (50,)) == {50: 100.0}


def test_synthetic_proposals_inside_the_image_and_seeded():
    gts = np.array([[10, 10, 60, 50], [300, 200, 400, 300]], float)
    props = synthetic_proposals(np.random.default_rng(0), gts, 900, 640, 480)
    assert props.shape == (900, 4) and props.dtype == np.float32
    assert props[:, :2].min() >= 0 and props[:, 2].max() <= 639 and props[:, 3].max() <= 479
    assert (props[:, 2:] >= props[:, :2]).all()
    assert np.array_equal(props, synthetic_proposals(np.random.default_rng(0), gts, 900, 640, 480))
