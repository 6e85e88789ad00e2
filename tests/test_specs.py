"""Specs are built from the config keys they name (values set by hand with --set words and read back)."""
import pytest

from lib.config import load_config
from lib.specs import NMSSpec, TestPyramidSpec
from lib.specs.training import AnchorSpec, ChipSpec, LoaderSpec, RoITargetSpec, RPNTargetSpec


def test_test_pyramid_spec_repeats_an_int_batch_and_refuses_a_short_list():
    cfg = load_config(None, ["TEST.SCALES", "((800, 1280), (480, 512))", "TEST.VALID_RANGES",
                             "((-1, 90), (75, -1))", "TEST.BATCH_IMAGES", "3"])
    spec = TestPyramidSpec.from_config(cfg)
    assert spec.batch_images == (3, 3) and spec.valid_ranges == ((-1, 90), (75, -1))
    assert spec.is_last(1) and not spec.is_last(0)
    cfg.TEST.BATCH_IMAGES = (1,)
    with pytest.raises(ValueError, match="TEST.BATCH_IMAGES: 1 entries but TEST.SCALES has 2"):
        TestPyramidSpec.from_config(cfg)


def test_nms_spec_follows_the_original_rule_and_carries_the_cap():
    cfg = load_config(None, ["TEST.NMS", "0.45", "TEST.MAX_PER_IMAGE", "150"])
    assert NMSSpec.from_config(cfg) == NMSSpec(method="hard", sigma=cfg.TEST.NMS_SIGMA, iou_thresh=0.45,
                                               score_thresh=1e-3, max_per_image=150)


def test_training_specs_read_their_keys():
    cfg = load_config(None, ["network.ANCHOR_SCALES", "(2, 4)", "network.ANCHOR_RATIOS", "(1,)",
                             "TRAIN.RPN_BATCH_SIZE", "64", "TRAIN.FG_THRESH", "0.6", "dataset.MAX_GTS", "50",
                             "TRAIN.NUM_NEG_CHIPS", "7", "TRAIN.USE_NEG_CHIPS", "True", "TRAIN.CHIP_SIZE", "320",
                             "TRAIN.ROIS_PER_CHIP", "128"])
    anchors = AnchorSpec.from_config(cfg)
    assert (anchors.stride, anchors.scales, anchors.ratios, anchors.num_anchors) == (16, (2, 4), (1,), 2)
    assert RPNTargetSpec.from_config(cfg).batch_size == 64
    roi = RoITargetSpec.from_config(cfg)
    assert (roi.num_rois, roi.fg_thresh, roi.max_gts, roi.pre_nms_top_n) == (128, 0.6, 50, -1)
    assert RoITargetSpec.from_config(load_config(None, [])).num_rois == 300  # the fork's op keeps 300 rois
    chips = ChipSpec.from_config(cfg)
    assert (chips.chip_size, chips.use_negatives, chips.num_negatives, chips.full_image) == (320, True, 7, False)
    loader = LoaderSpec.from_config(cfg)
    assert loader.anchors == anchors and loader.max_gts == 50
