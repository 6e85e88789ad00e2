"""scripts/autofocus_table.py's variants: which focus map each --thresholds entry sets."""
import argparse
import os
import sys

from lib.config import load_config
from train_helpers import QUICKSTART_CFG, ROOT

sys.path.insert(0, os.path.join(ROOT, "scripts"))
import autofocus_table  # noqa: E402

FOREST_CFG = os.path.join(ROOT, "configs", "quickstart", "deepforest_cpu.yml")
CASCADE = ["TEST.DO_PRUNING", "(True, True, False)",  # both finer shapes scales pruned
           "TEST.CHIP_HYPERPARAMS", "((-1, -1, -1), (3, 0.2, 10), (3, 0.02, 3))"]


def _args(thresholds, tile=0):
    return argparse.Namespace(thresholds=thresholds, tile=tile, overlap=64)


def _hyper(words):
    return dict(zip(words[::2], words[1::2]))["TEST.CHIP_HYPERPARAMS"]


def test_shapes_thresholds_set_the_coarsest_map_then_the_middle_one():
    cfg = load_config(QUICKSTART_CFG, CASCADE)
    rows = autofocus_table.variants(cfg, _args("0.1,0.05/0.1", tile=512))
    assert [r[0] for r in rows] == ["full", "autofocus_0.1", "autofocus_0.05_0.1", "tiled"]
    assert _hyper(rows[1][2]) == "((-1, -1, -1), (3, 0.2, 10), (3, 0.1, 3))"
    assert _hyper(rows[2][2]) == "((-1, -1, -1), (3, 0.1, 10), (3, 0.05, 3))"
    assert rows[2][1] == "AutoFocus, map thresholds (240, 256): 0.05, (930, 1340): 0.1"


def test_a_single_chip_making_map_that_is_not_the_coarsest_scale_gets_the_threshold():
    # x0.5 makes the x1.5 chips; the 256 px scale (coarser) makes none
    cfg = load_config(FOREST_CFG, ["TEST.SCALES", "(1.5, 0.5, 256.0)", "TEST.VALID_RANGES",
                                   "((-1, -1), (40, -1), (120, -1))", "TEST.BATCH_IMAGES", "(1, 1, 1)",
                                   "TEST.DO_PRUNING", "(True, False, False)",
                                   "TEST.CHIP_HYPERPARAMS", "((-1, -1, -1), (3, 0.1, 8), (-1, -1, -1))"])
    rows = autofocus_table.variants(cfg, _args("0.3"))
    assert _hyper(rows[1][2]) == "((-1, -1, -1), (3, 0.3, 8), (-1, -1, -1))"
    assert rows[1][1] == "AutoFocus, map thresholds x0.5: 0.3"


def test_a_scale_run_whole_between_two_makes_the_finest_chips():
    # shapes with the middle scale unpruned: its map (not the coarsest's) makes the x1.5 chips
    cfg = load_config(QUICKSTART_CFG, CASCADE + ["TEST.DO_PRUNING", "(True, False, False)"])
    assert autofocus_table.chip_making_maps(cfg) == [1]
    rows = autofocus_table.variants(cfg, _args("0.05"))
    assert _hyper(rows[1][2]) == "((-1, -1, -1), (3, 0.05, 10), (3, 0.02, 3))"
