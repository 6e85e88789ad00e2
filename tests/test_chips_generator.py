"""The greedy chip generator (the original's lib/chips/chip_generator.py): hand-computed cases, a loop-based
re-statement, properties."""
import numpy as np
import pytest

from lib.chips.generator import Containment, candidate_chips, containment_matrix, generate_chips, greedy_cover
from lib.geometry.boxes import containment

C, S = 512, 56


def _rows(chips):
    return sorted(map(tuple, np.asarray(chips).tolist()))


def _reference_generate(boxes, width, height, chip_size, stride, rng):
    """The original's generator re-stated with loops and sets (docs/design.md, "Positive chips", step 3)."""
    W, H, C_ = width, height, chip_size
    boxes = np.array(boxes, dtype=np.float64)
    if len(boxes) == 0:
        return np.zeros((0, 4), np.float32)
    # chip_generator.py calls clip_boxes(boxes, [H - 1, W - 1]) and clip_boxes (lib/bbox/bbox_transform.py)
    # clips x to im_shape[1] - 1 = W - 2 and y to H - 2
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, W - 2)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, H - 2)
    cands = [[max(W - C_, 0), 0, W - 1, min(C_, H - 1)], [0, max(H - C_, 0), min(C_, W - 1), H - 1],
             [max(W - C_, 0), max(H - C_, 0), W - 1, H - 1]]
    x = 0
    while x < W - C_:
        y = 0
        while y < H - C_:
            cands.append([x, y, x + C_ - 1, y + C_ - 1])
            y += stride
        x += stride
    y = 0
    while y < H - C_:
        cands.append([max(W - C_ - 1, 0), y, W - 1, y + C_ - 1])
        y += stride
    x = 0
    while x < W - C_:
        cands.append([x, max(H - C_ - 1, 0), x + C_ - 1, H - 1])
        x += stride
    cands = np.array(cands)[rng.permutation(len(cands))]
    frac = containment(boxes, cands)  # (N, K)
    sets = [set(np.flatnonzero(frac[:, k] == 1.0)) for k in range(len(cands))]
    out = []
    while True:
        best, best_n = -1, 0
        for k, s in enumerate(sets):
            if len(s) > best_n:
                best, best_n = k, len(s)
        if best_n == 0:
            break
        out.append(cands[best])
        taken = set(sets[best])
        sets = [s - taken for s in sets]
    return np.array(out, np.float32).reshape(-1, 4)


def test_canvas_smaller_than_chip_gives_the_whole_canvas():
    for seed in range(5):
        chips = generate_chips([[10, 10, 50, 50], [200, 100, 290, 190]], 300, 200, C, S, seed)
        assert chips.tolist() == [[0, 0, 299, 199]]
        assert chips.dtype == np.float32


def test_one_side_longer_reference_example():
    # boxes that only the two reference chips can hold: x2 = 512 needs the C+1-wide corner.
    boxes = [[20, 10, 512, 50], [680, 10, 699, 50]]
    for seed in range(10):
        assert _rows(generate_chips(boxes, 700, 400, C, S, seed)) == [(0, 0, 512, 399), (188, 0, 699, 399)]


def test_one_side_longer_small_boxes_ties_broken_by_shuffle():
    boxes = np.array([[10, 10, 50, 50], [600, 10, 650, 50]], float)
    outcomes = set()
    for seed in range(40):
        chips = generate_chips(boxes, 700, 400, C, S, seed)
        assert len(chips) == 2
        assert containment_matrix(chips, boxes).any(axis=1).all()
        outcomes.update(_rows(chips))
    assert (0, 0, 512, 399) in outcomes and (188, 0, 699, 399) in outcomes


def test_candidate_enumeration_order_and_off_by_one_sizes():
    cands = candidate_chips(700, 600, C, S)
    xs, ys = [0, 56, 112, 168], [0, 56]
    expected = [[188, 0, 699, 512], [0, 88, 512, 599], [188, 88, 699, 599]]
    expected += [[x, y, x + 511, y + 511] for x in xs for y in ys]
    expected += [[187, y, 699, y + 511] for y in ys]
    expected += [[x, 87, x + 511, 599] for x in xs]
    assert cands.tolist() == expected
    widths, heights = cands[:, 2] - cands[:, 0] + 1, cands[:, 3] - cands[:, 1] + 1
    assert heights[0] == C + 1 and widths[1] == C + 1  # the reference's 513 px corners (kept)
    assert set(widths[-6:-4]) == {C + 1} and set(heights[-4:]) == {C + 1}


def test_box_larger_than_a_chip_is_left_uncovered():
    big = [100, 100, 700, 700]
    assert generate_chips([big], 1000, 1000, C, S, 0).shape == (0, 4)
    chips = generate_chips([big, [10, 10, 40, 40]], 1000, 1000, C, S, 0)
    assert len(chips) == 1
    assert not containment_matrix(chips, np.array([big], float)).any()


def test_empty_input_and_empty_canvas():
    assert generate_chips(np.zeros((0, 4)), 1000, 800, C, S, 0).shape == (0, 4)
    assert generate_chips([], 1000, 800, C, S, 0).dtype == np.float32
    assert generate_chips([[0, 0, 5, 5]], 0, 800, C, S, 0).shape == (0, 4)


def test_boxes_on_and_beyond_the_border_are_clipped_then_covered():
    boxes = np.array([[0, 0, 10, 10], [990, 990, 1100, 1100], [0, 950, 20, 999]], float)
    chips = generate_chips(boxes, 1000, 1000, C, S, 3)
    clipped = np.minimum(boxes, 999)
    assert containment_matrix(chips, clipped).any(axis=1).all()
    assert chips.min() >= 0 and chips[:, 2].max() <= 999 and chips[:, 3].max() <= 999


def _plain(holds):
    """A Containment for an explicit (K, N) 'candidate k holds box n' matrix (one interval per candidate)."""
    inside = Containment.__new__(Containment)
    inside.in_x, inside.in_y = holds.T.copy(), np.ones((holds.shape[1], 1), bool)
    inside.x_index, inside.y_index = np.arange(holds.shape[0]), np.zeros(holds.shape[0], np.int64)
    return inside


def test_greedy_cover_most_uncovered_first_and_ties_to_first_row():
    holds = np.array([[1, 1, 0, 0, 0],  # candidate k (row) holds box n (column)
                      [0, 1, 1, 1, 0],
                      [1, 0, 0, 0, 1],
                      [0, 0, 0, 0, 0]], bool)
    assert greedy_cover(_plain(holds)) == [1, 2]
    assert greedy_cover(_plain(np.array([[1, 0], [1, 0], [0, 1]], bool))) == [0, 2]
    assert greedy_cover(_plain(np.zeros((3, 0), bool))) == []
    assert greedy_cover(_plain(np.zeros((0, 3), bool))) == []


def test_containment_matrix_equals_intersection_over_area_is_one():
    rng = np.random.default_rng(0)
    cands = candidate_chips(1500, 1100, C, S).astype(float)
    xy = rng.uniform(0, 1400, (300, 2)) + rng.choice([0.0, 0.5, 0.25], (300, 2))
    wh = rng.uniform(0, 300, (300, 2)) * rng.choice([1.0, 0.0], (300, 1))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    boxes = np.concatenate([boxes, cands[:20]])  # boxes equal to chips: exactly on every edge
    assert np.array_equal(containment_matrix(cands, boxes), containment(boxes, cands) == 1.0)


@pytest.mark.parametrize("seed", range(6))
def test_matches_the_loop_statement_of_the_reference(seed):
    rng = np.random.default_rng(100 + seed)
    W, H = int(rng.integers(300, 2500)), int(rng.integers(300, 2000))
    n = int(rng.integers(1, 80))
    xy = rng.uniform(-20, [W, H], (n, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(1, 300, (n, 2))], axis=1).round(1)
    stride = int(rng.integers(56, 60))
    ours = generate_chips(boxes, W, H, C, stride, np.random.default_rng(seed))
    ref = _reference_generate(boxes, W, H, C, stride, np.random.default_rng(seed))
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("seed", range(10))
def test_properties_on_random_inputs(seed):
    rng = np.random.default_rng(seed)
    W, H = int(rng.integers(100, 3000)), int(rng.integers(100, 3000))
    n = int(rng.integers(0, 60))
    xy = rng.uniform(0, [W, H], (n, 2))
    boxes = np.floor(np.concatenate([xy, xy + rng.uniform(0, 600, (n, 2))], axis=1))
    chips = generate_chips(boxes, W, H, C, S, seed)
    clipped = boxes.copy()
    clipped[:, 0::2] = np.minimum(clipped[:, 0::2], W - 2)
    clipped[:, 1::2] = np.minimum(clipped[:, 1::2], H - 2)
    fits_some = containment_matrix(candidate_chips(W, H, C, S), clipped).any(axis=1)
    covered = containment_matrix(chips, clipped).any(axis=1) if len(chips) else np.zeros(n, bool)
    assert np.array_equal(covered, fits_some)  # every box that fits a candidate is covered, no other
    assert len(chips) <= n
    if len(chips):
        assert chips[:, :2].min() >= 0 and chips[:, 2].max() <= W - 1 and chips[:, 3].max() <= H - 1
        assert (chips[:, 2] - chips[:, 0] + 1).max() <= C + 1
    assert np.array_equal(chips, generate_chips(boxes, W, H, C, S, seed))
