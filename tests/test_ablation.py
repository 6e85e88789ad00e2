"""scripts/ablation.py's budget arithmetic: equal pixels, equal wall time, the scaled schedule."""
import json
import os
import sys

import pytest

from lib.config import load_config
from train_helpers import QUICKSTART_CFG, ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import ablation  # noqa: E402


def test_schedule_keeps_the_configs_shape_at_any_length():
    cfg = load_config(QUICKSTART_CFG)  # lr_step 2.25 of 3 epochs, warmup 100 iterations
    words, passes = ablation.schedule_words(cfg, (200, 0, 0, 0), 150, reference_iterations=1000)
    got = dict(zip(words[::2], words[1::2]))
    assert passes == pytest.approx(0.75)
    assert got == {"TRAIN.MAX_ITERATIONS": "150", "TRAIN.end_epoch": "2", "TRAIN.warmup_step": "15",
                   "TRAIN.lr_step": "0.5625"}


def test_pixel_budget_and_wall_time_budget(tmp_path):
    budget = {"pixels": 600e6, "iterations": 1000, "epochs": 3}
    plan = (200, 400e6, 400, 400)  # 200 batches of 2 Mpx
    assert ablation.arm_iterations("single_scale", plan, budget, str(tmp_path)) == 300
    assert ablation.arm_iterations("sniper_epochs", plan, budget, str(tmp_path)) == 600
    with pytest.raises(SystemExit, match="sniper_pos"):
        ablation.arm_iterations("single_scale_time", plan, budget, str(tmp_path))
    for arm, seconds, iterations in (("sniper_pos", 480.0, 1000), ("single_scale", 120.0, 300)):
        os.makedirs(tmp_path / arm)
        (tmp_path / arm / "result.json").write_text(json.dumps({"train_s": seconds, "iterations": iterations}))
    assert ablation.arm_iterations("single_scale_time", plan, budget, str(tmp_path)) == 1200


def test_pyramid_is_the_three_canvases():
    assert ablation.pyramid_pixels() == 2400 ** 2 + 1344 ** 2 + 256 ** 2
