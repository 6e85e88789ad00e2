"""The public names of the project (chip engine, soft-NMS, CLIs, output paths) keep their documented
signatures, return types and values. Every expected value below is worked out by hand in the comments.
"""
import inspect
import math
import os
import subprocess
import sys

import numpy as np
import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _defaults(fn):
    """name -> default (inspect.Parameter.empty when none) of fn's parameters."""
    return {name: p.default for name, p in inspect.signature(fn).parameters.items()}


def _rows(array):
    return sorted(map(tuple, np.asarray(array, dtype=np.float64).round(3).tolist()))


# --- lib.chips.generate_chips(boxes, width, height, chip_size, stride, rng=None) -> (K, 4) float32 ----------

def test_generate_chips_signature():
    from lib.chips import generate_chips
    params = _defaults(generate_chips)
    assert list(params)[:6] == ["boxes", "width", "height", "chip_size", "stride", "rng"]
    assert params["rng"] is None


def test_generate_chips_canvas_smaller_than_chip_is_one_whole_canvas_chip():
    from lib.chips import generate_chips
    # 300 x 200 canvas, chip 512: no grid window fits, the three corner windows are all [0, 0, 299, 199].
    chips = generate_chips(np.array([[10.0, 10.0, 50.0, 60.0]]), 300, 200, 512, 56, rng=None)
    assert isinstance(chips, np.ndarray) and chips.dtype == np.float32 and chips.shape == (1, 4)
    assert _rows(chips) == [(0, 0, 299, 199)]


def test_generate_chips_two_halves_need_two_chips():
    from lib.chips import generate_chips
    # 700 x 400 canvas, C = 512, S = 56. Candidates: corners [188, 0, 699, 399], [0, 0, 512, 399] (x2 capped at C,
    # not C - 1), [188, 0, 699, 399]; no grid row (400 < 512); bottom-edge windows [x, 0, x + 511, 399] for
    # x = 0, 56, 112, 168. The left box (x2 = 512) fits only [0, 0, 512, 399]; the right box (x1 = 650, x2 = 690)
    # only [188, 0, 699, 399] (168 + 511 = 679 < 690). No window holds both: two chips, whatever the shuffle.
    boxes = np.array([[10.0, 10.0, 512.0, 50.0], [650.0, 10.0, 690.0, 50.0]])
    for rng in (np.random.default_rng(0), np.random.default_rng(1), 3):
        chips = generate_chips(boxes, 700, 400, 512, 56, rng=rng)
        assert chips.dtype == np.float32 and chips.shape == (2, 4)
        assert _rows(chips) == [(0, 0, 512, 399), (188, 0, 699, 399)]


def test_generate_chips_one_window_for_boxes_that_share_one():
    from lib.chips import generate_chips
    # both boxes lie in x 200..350: every candidate from x = 0 to x = 188 holds both, so one chip covers them.
    chips = generate_chips(np.array([[200.0, 10.0, 250.0, 50.0], [300.0, 10.0, 350.0, 50.0]]), 700, 400, 512, 56,
                           rng=np.random.default_rng(5))
    assert chips.shape == (1, 4)
    x1, y1, x2, y2 = chips[0]
    assert x1 <= 200 and y1 <= 10 and x2 >= 350 and y2 >= 50


def test_generate_chips_no_boxes_no_chips():
    from lib.chips import generate_chips
    chips = generate_chips(np.zeros((0, 4)), 700, 400, 512, 56)
    assert chips.dtype == np.float32 and chips.shape == (0, 4)


# --- lib.chips.sample_chips(width, height, gt_boxes, scales, valid_ranges, chip_size=512, stride=None,
#                           proposals=None, rng=None) -> ImageChips --------------------------------------------

RANGES = ((-1, 80), (32, 150), (120, -1))
SMALL = [10.0, 10.0, 39.0, 39.0]      # w = h = int(29) -> sqrt area 29: only the finest scale (a < 80)
LARGE = [100.0, 100.0, 299.0, 299.0]  # w = h = 199 -> sqrt area 199: only the coarsest scale (a >= 120)


def test_sample_chips_signature():
    from lib.chips import sample_chips
    params = _defaults(sample_chips)
    assert list(params)[:9] == ["width", "height", "gt_boxes", "scales", "valid_ranges", "chip_size", "stride",
                                "proposals", "rng"]
    assert (params["chip_size"], params["stride"], params["proposals"], params["rng"]) == (512, None, None, None)


@pytest.mark.parametrize("scales, finest", [
    # factor form: the first entries are the factors, the last the long side in px (512 / 640 = 0.8)
    ((3.0, 1.667, 512.0), 3.0),
    # resolution form: short side 480 -> 1400 (s = 1400 / 480; long side round(640 s) = 1867 <= 2000);
    # the last: 480 / 480 = 1, but round(640) > 512, so the long side goes to 512: s = 0.8
    (((1400, 2000), (800, 1280), (480, 512)), 1400 / 480),
])
def test_sample_chips_positive_chips_by_hand(scales, finest):
    from lib.chips import ImageChips, sample_chips
    out = sample_chips(640, 480, np.array([LARGE, SMALL]), scales, RANGES, stride=56,
                       rng=np.random.default_rng(0))
    assert isinstance(out, ImageChips) and out.negative == []
    chips = sorted(out.positive, key=lambda c: c.scale_index)
    assert [c.scale_index for c in chips] == [0, 2]
    fine, coarse = chips
    # finest scale: the 1920 x 1440 (or 1866 x 1400) canvas; the scaled small box (x2 < 120) fits only the grid
    # window [0, 0, 511, 511] (the next grid column starts at 56 > its x1, the edge windows near the far sides),
    # i.e. [0, 0, 511 / s, 511 / s] in image px; the large box is not assignable there (a >= 80): gt 1 only.
    assert fine.scale == pytest.approx(finest)
    np.testing.assert_allclose(fine.box, [0, 0, 511 / finest, 511 / finest], rtol=1e-5)
    assert list(fine.gt_index) == [1]
    # coarsest scale: s = 0.8, canvas 512 x 384 <= the chip: one chip, the whole canvas [0, 0, 511, 383] / 0.8;
    # it owns the large box only (the small one is below lo = 120).
    assert coarse.scale == pytest.approx(0.8)
    np.testing.assert_allclose(coarse.box, [0, 0, 511 / 0.8, 383 / 0.8], rtol=1e-5)
    assert list(coarse.gt_index) == [0]
    assert len(fine.proposal_index) == 0 and len(coarse.proposal_index) == 0


@pytest.mark.parametrize("num_proposals, kept", [(10, 0), (11, 1)])
def test_sample_chips_negative_chip_needs_more_than_ten_proposals_off_the_finest_scale(num_proposals, kept):
    from lib.chips import sample_chips
    # Proposals of sqrt area 199 are assignable only at the coarsest scale (a >= 120; a < 150 fails at the
    # middle one). No gt is that large, so no positive chip covers them; the generator places one negative
    # chip, the whole 512 x 384 canvas, which owns all of them. The original keeps a negative chip with more
    # than 10 boxes at any scale but the finest (lib/data_utils/data_workers.py there, box_assigner).
    proposals = np.array([[100.0 + k, 100.0, 299.0 + k, 299.0] for k in range(num_proposals)])
    out = sample_chips(640, 480, np.array([SMALL]), (3.0, 1.667, 512.0), RANGES, stride=56, proposals=proposals,
                       rng=np.random.default_rng(0))
    assert len(out.negative) == kept
    if kept:
        chip = out.negative[0]
        assert chip.scale_index == 2 and chip.scale == pytest.approx(0.8)
        np.testing.assert_allclose(chip.box, [0, 0, 511 / 0.8, 383 / 0.8], rtol=1e-5)
        assert list(chip.proposal_index) == list(range(num_proposals))
        assert len(chip.gt_index) == 0


# --- lib.inference.nms.soft_nms(dets, sigma=0.55, score_thresh=0.001, method="gaussian") -> (M, 5) -------------

A = [0.0, 0.0, 9.0, 9.0]    # 10 x 10 px (inclusive)
B = [5.0, 0.0, 14.0, 9.0]   # overlaps A on x 5..9: 5 x 10 = 50 px; union 150; IoU 1/3 (+1 rule)
FAR = [20.0, 20.0, 29.0, 29.0]


def test_soft_nms_signature():
    from lib.inference.nms import soft_nms
    params = _defaults(soft_nms)
    assert list(params)[:4] == ["dets", "sigma", "score_thresh", "method"]
    assert (params["sigma"], params["score_thresh"], params["method"]) == (0.55, 0.001, "gaussian")


def test_soft_nms_gaussian_by_hand():
    from lib.inference.nms import soft_nms
    dets = np.array([B + [0.8], FAR + [0.5], A + [0.9]], dtype=np.float32)
    out = soft_nms(dets)
    assert isinstance(out, np.ndarray) and out.shape == (3, 5)
    # A (0.9) is kept first; B decays to 0.8 exp(-(1/3)^2 / 0.55) = 0.8 x 0.81709 = 0.65367 (sigma, not
    # 2 sigma^2, as the original's cpu_soft_nms); FAR does not overlap A or B.
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8 * math.exp(-1 / 9 / 0.55), 0.5], rtol=1e-5)
    np.testing.assert_array_equal(out[:, :4], [A, B, FAR])
    assert np.all(np.diff(out[:, 4]) <= 0)


def test_soft_nms_drops_what_decays_below_score_thresh():
    from lib.inference.nms import soft_nms
    # an identical box (IoU 1) of score 0.005 decays to 0.005 exp(-1 / 0.55) = 0.00081 < 0.001: dropped;
    # one of score 0.8 decays to 0.8 x 0.16233 = 0.12987 and stays.
    out = soft_nms(np.array([A + [0.9], A + [0.8], A + [0.005]], dtype=np.float32), sigma=0.55, score_thresh=0.001)
    np.testing.assert_allclose(out[:, 4], [0.9, 0.8 * math.exp(-1 / 0.55)], rtol=1e-5)


def test_soft_nms_linear_and_hard_by_hand():
    from lib.inference.nms import soft_nms
    dets = np.array([A + [0.9], B + [0.8], FAR + [0.5]], dtype=np.float32)
    # linear: IoU 1/3 > Nt 0.3 -> 0.8 x (1 - 1/3) = 0.53333, still above FAR's 0.5
    linear = soft_nms(dets, method="linear")
    np.testing.assert_allclose(linear[:, 4], [0.9, 0.8 * 2 / 3, 0.5], rtol=1e-5)
    np.testing.assert_array_equal(linear[:, :4], [A, B, FAR])
    # hard: IoU 1/3 > 0.3 removes B
    hard = soft_nms(dets, method="hard")
    assert hard.shape == (2, 5)
    np.testing.assert_array_equal(hard, np.array([A + [0.9], FAR + [0.5]], dtype=np.float32))


def test_soft_nms_empty():
    from lib.inference.nms import soft_nms
    assert soft_nms(np.zeros((0, 5), dtype=np.float32)).shape == (0, 5)


# --- the CLIs -------------------------------------------------------------------------------------------------

@pytest.mark.parametrize("script, options", [
    ("main_train.py", ["--cfg", "--set"]),
    ("main_test.py", ["--cfg", "--set"]),
    ("demo.py", ["--cfg", "--im_path"]),
])
def test_cli_help(script, options):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), "--help"], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    for option in options:
        assert option in proc.stdout


# --- output paths ----------------------------------------------------------------------------------------------

def _cfg(tmp_path):
    from lib.config import load_config
    cfg_file = tmp_path / "my_experiment.yml"
    cfg_file.write_text("output_path: %s\nproposal_path: %s\n" % (tmp_path / "out", tmp_path / "props"))
    return load_config(str(cfg_file), ["dataset.image_set", "train2014+val2014",
                                       "dataset.test_image_set", "minival2014"])


def test_checkpoint_path_layout(tmp_path):
    import mxnet as mx
    from lib.inference.prerequisites import model_params
    from lib.train.checkpoint import save_checkpoint
    cfg = _cfg(tmp_path)
    folder = str(tmp_path / "out" / "my_experiment" / "train2014_val2014")  # '+' -> '_'
    os.makedirs(folder)
    net = mx.gluon.nn.Dense(2, in_units=3)
    net.initialize()
    path = save_checkpoint(net, None, folder, {"epoch": 7, "batch": 0, "num_update": 1})
    assert path == os.path.join(folder, "SNIPER-0007.params") and os.path.isfile(path)
    assert model_params(cfg, 7) == path  # where main_test.py and demo.py look for epoch 7


def test_results_json_path_layout(tmp_path):
    from lib.inference.coco_results import results_file
    from lib.runtime.run_paths import output_dir
    cfg = _cfg(tmp_path)
    results_dir = os.path.join(output_dir(cfg), "results")  # main_test.py's results folder
    assert results_file(results_dir, cfg.dataset.test_image_set) == str(
        tmp_path / "out" / "my_experiment" / "train2014_val2014" / "results" / "detections_minival2014_results.json")


def test_proposals_path_layout(tmp_path):
    from lib.dataset.proposals import proposal_file
    cfg = _cfg(tmp_path)
    # the COCO loader names its datasets COCO_<set>, the name the original's proposal files carry
    assert proposal_file(cfg.proposal_path, "COCO_train2014") == str(tmp_path / "props" / "COCO_train2014_rpn.pkl")
