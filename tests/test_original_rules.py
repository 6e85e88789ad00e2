"""The original's chip, anchor and RoI rules are what the defaults and the paper configs run; the deviations
are opt-in keys (README "Deviations")."""
import numpy as np
import pytest

from lib.config import load_config
from lib.data.chip_loader import valid_in_chip
from lib.model.proposal_target import ProposalTarget
from lib.specs.training import AnchorSpec, RoITargetSpec

PAPER = ("configs/faster/sniper_res101_e2e.yml", "configs/faster/sniper_res50_e2e.yml",
         "configs/faster/sniper_mobilenetv2_e2e.yml", "configs/faster/sniper_res101_e2e_pascal_voc.yml")


@pytest.mark.parametrize("path", (None,) + PAPER)
def test_defaults_and_paper_configs_run_the_original_rules(path):
    train = load_config(path).TRAIN
    assert train.VALID_GTS_BY_INDEX is False  # the anchor worker's IoU == 1 rule
    assert train.ASSIGN_LOWER_BOUND_ALL_SCALES is False  # box_assigner: no lower bound below the coarsest scale
    assert train.IGNORE_ROIS_OUTSIDE_RANGE is False  # the GPU op trains every roi that is not fg as background
    # the GPU training op (multi_proposal_target.cu, NonMaximumSuppression) runs NMS over every anchor and never
    # read the YAML's RPN_PRE_NMS_TOP_N: 6000; its fg threshold is the hard-coded 0.5
    assert train.RPN_PRE_NMS_TOP_N == -1 and train.FG_THRESH == 0.5 and train.RPN_NMS_THRESH == 0.7


def test_training_proposal_layer_reads_the_keys():
    cfg = load_config(None, ["TRAIN.RPN_PRE_NMS_TOP_N", "2000", "TRAIN.FG_THRESH", "0.6",
                             "TRAIN.IGNORE_ROIS_OUTSIDE_RANGE", "True", "TRAIN.RPN_NMS_THRESH", "0.65"])
    layer = ProposalTarget(AnchorSpec.from_config(cfg), RoITargetSpec.from_config(cfg))
    assert layer._nms == dict(threshold=0.65, pre_top_n=2000, post_top_n=300)
    assert layer._assign["fg_thresh"] == 0.6 and layer._assign["ignore_outside_range"] is True


MOVED = np.array([[10, 10, 60, 60], [10, 10, 60, 60], [100, 100, 150, 170], [10, 10, 60, 61]], np.float32)


def test_valid_gts_by_iou_one_as_the_anchor_worker():
    # gt 1 is assigned (record index 7); gt 0 (index 3, assigned elsewhere) lands on the same chip box: IoU 1 with
    # a valid gt, so the original's `valid_gtids = np.where(mov == 1)` (data_workers.py) makes it valid too;
    # gt 3 differs by one pixel (IoU 51*51 / (51*51 + 51) < 1) and gt 2 does not overlap: invalid.
    kept = np.array([3, 7, 8, 9])
    assert valid_in_chip(MOVED, kept, np.array([7])).tolist() == [True, True, False, False]
    assert valid_in_chip(MOVED, kept, np.array([7]), by_index=True).tolist() == [False, True, False, False]
    assert valid_in_chip(MOVED, kept, np.array([], np.int64)).tolist() == [False] * 4


def test_rpn_tie_at_iou_zero_cannot_fire_with_paper_anchors():
    # The original's anchor worker marks every anchor tied with a gt's best IoU positive, even at IoU 0
    # (data_workers.py: `np.where(overlaps == gt_max_overlaps)`); this port skips ties at 0. Chip gts are at
    # least 10 px (+1) and clipped into the 512 canvas, and the paper anchors tile it, so every such gt has a
    # best IoU > 0: the two rules label the same anchors.
    from lib.data.anchor_targets import anchor_grid
    from lib.geometry.boxes import bbox_overlaps
    cfg = load_config(PAPER[0])
    anchors, inside, *_ = anchor_grid(512, cfg.network.RPN_FEAT_STRIDE, tuple(cfg.network.ANCHOR_SCALES),
                                      tuple(cfg.network.ANCHOR_RATIOS))
    xy = np.stack(np.meshgrid(np.arange(0, 503, 7), np.arange(0, 503, 7)), -1).reshape(-1, 2).astype(np.float32)
    gts = np.concatenate([xy, xy + 9], axis=1)  # 10 x 10 px (+1) everywhere in the canvas
    assert bbox_overlaps(anchors[inside], gts).max(axis=0).min() > 0
