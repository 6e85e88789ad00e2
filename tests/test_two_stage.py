"""Negative chip mining's two stages: proposal extraction -> file -> training records -> negative chips, and
scripts/train_neg_props_and_sniper.sh end to end on the tiny data."""
import os
import pickle
import re
import subprocess

import numpy as np
import pytest

import main_test
from lib.chips import sample_chips
from lib.dataset import load_dataset
from lib.dataset.proposals import proposal_file
from lib.train.records import training_records
from train_helpers import QUICKSTART_CFG, ROOT, tiny_config, tiny_dataset, tiny_words, train_tiny

pytestmark = pytest.mark.slow
PER_SCALE = 300  # TEST.N_PROPOSAL_PER_SCALE, the quickstart's (and the reference's) value
TWO_SCALES = 2   # the tiny config's TEST.SCALES


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("two_stage") / "data")


def _check_proposal_file(path, records):
    """The pickle: one (2 x 300, 5) float32 array per training image, boxes inside the image."""
    with open(path, "rb") as f:
        arrays = pickle.load(f)
    assert len(arrays) == len(records)
    for rows, record in zip(arrays, records):
        assert rows.dtype == np.float32 and rows.shape == (TWO_SCALES * PER_SCALE, 5)
        assert rows[:, :2].min() >= 0 and (rows[:, 2:4] >= rows[:, :2]).all()
        assert rows[:, 2].max() <= record.width + 1 and rows[:, 3].max() <= record.height + 1  # W - 1 + 0.5 / s
        assert np.isfinite(rows[:, 4]).all() and (rows[:, 4] <= 1).all()


def _check_detection_refuses_rpn_only_checkpoint(data_dir, out, capsys):
    """main_test.py without EXTRACT_PROPOSALS on an RPN-only checkpoint: exit 2, one line naming the file."""
    capsys.readouterr()
    with pytest.raises(SystemExit) as exit_info:
        main_test.main(["--cfg", QUICKSTART_CFG, "--set"] + tiny_words(data_dir, out))
    assert exit_info.value.code == 2
    errors = [line for line in capsys.readouterr().err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and "SNIPER-0001.params does not fit this network" in errors[0]


@pytest.mark.parametrize("only_proposal", [True, False], ids=["rpn_only_checkpoint", "full_checkpoint"])
def test_extracted_proposals_place_negative_chips(data_dir, tmp_path, capsys, only_proposal):
    train_tiny(data_dir, tmp_path / "out", "TRAIN.ONLY_PROPOSAL", str(only_proposal))
    if only_proposal:
        _check_detection_refuses_rpn_only_checkpoint(data_dir, tmp_path / "out", capsys)
    props = str(tmp_path / "proposals")
    cfg = tiny_config(data_dir, tmp_path / "out", "TEST.EXTRACT_PROPOSALS", "True", "dataset.test_image_set",
                      "train", "TEST.PROPOSAL_SAVE_PATH", props)
    path = main_test.run(cfg)
    assert path == proposal_file(props, "shapes_train")
    _check_proposal_file(path, load_dataset(cfg, "train").records)

    records, _, _ = training_records(tiny_config(data_dir, tmp_path / "out", "TRAIN.USE_NEG_CHIPS", "True",
                                                 "proposal_path", props))
    negatives = 0
    for record in records:
        assert record.proposals is not None and 0 < len(record.proposals) <= TWO_SCALES * PER_SCALE
        chips = sample_chips(record.width, record.height, record.boxes, cfg.TRAIN.SCALES, cfg.TRAIN.VALID_RANGES,
                             cfg.TRAIN.CHIP_SIZE, proposals=record.proposals, rng=0)
        for chip in chips.negative:
            assert len(chip.proposal_index) and chip.proposal_index.max() < len(record.proposals)
            x1, y1, x2, y2 = chip.box
            assert x1 >= 0 and y1 >= 0 and x2 <= record.width and y2 <= record.height
        negatives += len(chips.negative)
    assert negatives > 0


def test_two_stage_script_end_to_end(data_dir, tmp_path):
    """RPN-only stage, extraction on the training set, SNIPER with negatives; --set values with spaces."""
    words = tiny_words(data_dir, tmp_path / "final")
    assert any(" " in w for w in words) and any("(" in w for w in words)
    command = ["bash", os.path.join(ROOT, "scripts", "train_neg_props_and_sniper.sh"), "--cfg", QUICKSTART_CFG,
               "--prop_save_path", str(tmp_path / "props"), "--prop_train_path", str(tmp_path / "rpn"),
               "--rpn_epochs", "1", "--set"] + words
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert [line for line in done.stdout.splitlines() if line.startswith("== stage")] == [
        "== stage 1/3: RPN-only training, 1 epochs -> %s" % (tmp_path / "rpn"),
        "== stage 2/3: proposals on train -> %s" % (tmp_path / "props"),
        "== stage 3/3: SNIPER with negative chips"]
    assert os.path.exists(tmp_path / "rpn" / "shapes_cpu" / "train" / "SNIPER-0001.params")
    props = proposal_file(str(tmp_path / "props"), "shapes_train")
    _check_proposal_file(props, load_dataset(tiny_config(data_dir, tmp_path), "train").records)
    assert os.path.exists(tmp_path / "final" / "shapes_cpu" / "train" / "SNIPER-0001.params")
    chip_lines = re.findall(r"epoch 0: 3 images, stride \d+, \d+ chips \((\d+) negative\)", done.stderr)
    assert len(chip_lines) == 2 and int(chip_lines[0]) == 0 and int(chip_lines[1]) > 0  # stage 1, stage 3
