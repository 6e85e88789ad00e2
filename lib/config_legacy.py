"""Legacy config keys: kept so that the original's configs and command lines load, but they change nothing here.

Each entry says why the key has no effect: the original ignored it too (often a hard-coded value in the SNIPER
MXNet fork's operators, which this port reproduces), it chose between implementations of the same result, it
configured a part of the original that is not ported, or another key covers it. Setting one to anything but its
default logs one warning line naming the key and the reason; the run continues.

    warn_legacy(cfg)   # called by lib.config.load_config after the YAML and the --set words
"""
import logging

from lib.config_defaults import DEFAULTS

LOGGER = logging.getLogger(__name__)

_NOT_READ = "the original never read it either"
_ALTERNATE = "settings of Deformable ConvNets' alternate RPN / R-FCN training; SNIPER trains end to end only"
_USE_CACHE = ("the original's per-scale pickles of detections and focus maps for re-runs; this tester keeps them in "
              "memory and recomputes")
_CXX_PROPOSAL = ("chose Deformable ConvNets' C++ or Python proposal layer; the original's SNIPER never read it "
                 "(one MultiProposal op, here one Gluon layer)")
_TEST_PROPOSAL = ("the original's proposal extraction used the test proposal op (TEST.RPN_* settings), never "
                  "these keys; this port extracts TEST.N_PROPOSAL_PER_SCALE boxes per scale the same way")
_TARGET_OP = "the fork's proposal-target op (src/operator/multi_proposal_target.cu) "
_ROIDB_FILTER = ("; the original read the key only in its roidb filter (lib/data_utils/load_data.py:97), which "
                 "keeps every image with a gt at any threshold in [0, 1], as this port's filter does")

LEGACY_KEYS = {
    "MXNET_VERSION": _NOT_READ,
    "symbol": "network.BACKBONE chooses the network here (symbol named the original's symbol module)",
    "CLASS_AGNOSTIC": ("the original's SNIPER symbols hard-code class-agnostic box regression "
                       "(num_reg_classes = 1, symbols/faster/resnet_mx_101_e2e.py:301); so does this port"),
    "dataset.proposal": ("chose the original's roidb method (imdb.<proposal>_roidb, only 'rpn' exists); proposals "
                         "are always read from <proposal_path>/<dataset name>_rpn.pkl"),
    "TRAIN.CPP_CHIPS": "chose the original's C++ or Python chip generator (same chips); this port has one",
    "TRAIN.CHIPS_DB_PARTS": ("split the original's per-epoch chip generation into parts (same chips, "
                             "lib/iterators/MNIteratorE2E.py:48); chips here stream through one worker pool"),
    "TRAIN.NUM_THREAD": ("size of the thread pools of the original's loader (lib/iterators/MNIteratorBase.py:18); "
                         "this port's loader runs TRAIN.NUM_PROCESS worker processes"),
    "TRAIN.model_prefix": ("the original named checkpoints by its --save_prefix flag, never by this key; "
                           "checkpoints here are <output_path>/<config>/<image set>/SNIPER-<epoch>.params"),
    "TRAIN.ALTERNATE.RPN_BATCH_IMAGES": _ALTERNATE,
    "TRAIN.ALTERNATE.RCNN_BATCH_IMAGES": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn1_lr": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn1_lr_step": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn1_epoch": _ALTERNATE,
    "TRAIN.ALTERNATE.rfcn1_lr": _ALTERNATE,
    "TRAIN.ALTERNATE.rfcn1_lr_step": _ALTERNATE,
    "TRAIN.ALTERNATE.rfcn1_epoch": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn2_lr": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn2_lr_step": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn2_epoch": _ALTERNATE,
    "TRAIN.ALTERNATE.rfcn2_lr": _ALTERNATE,
    "TRAIN.ALTERNATE.rfcn2_lr_step": _ALTERNATE,
    "TRAIN.ALTERNATE.rfcn2_epoch": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn3_lr": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn3_lr_step": _ALTERNATE,
    "TRAIN.ALTERNATE.rpn3_epoch": _ALTERNATE,
    "TRAIN.SHUFFLE": _NOT_READ + " (its loader always shuffled; so does this one)",
    "TRAIN.ENABLE_OHEM": ("OHEM exists only in the original's unused resnext symbol; its SNIPER symbols never "
                          "apply it (its metrics read the key only to pick their label layout)"),
    "TRAIN.END2END": ("training is always end to end; the original only used it to pick its metrics' label "
                      "layout"),
    "TRAIN.BATCH_ROIS": _TARGET_OP + "keeps all 300 RoIs per chip without sampling (-1 in the paper configs)",
    "TRAIN.BATCH_ROIS_OHEM": "OHEM (the original's unused resnext symbol) is not ported",
    "TRAIN.FG_FRACTION": _TARGET_OP + "keeps all 300 RoIs per chip without a foreground quota",
    "TRAIN.BG_THRESH_HI": _TARGET_OP + "labels every RoI that is not foreground background" + _ROIDB_FILTER,
    "TRAIN.BG_THRESH_LO": _TARGET_OP + "labels every RoI that is not foreground background" + _ROIDB_FILTER,
    "TRAIN.BBOX_REGRESSION_THRESH": (_TARGET_OP + "regresses exactly its foreground RoIs (IoU > 0.5); the key "
                                     "was read only by the original's unused non-end-to-end roidb targets"),
    "TRAIN.BBOX_WEIGHTS": _NOT_READ + " (RoI box weights are 1 on foreground RoIs)",
    "TRAIN.visualization_path": "the original's debug visualisation metric (VisMetric) was never used in training",
    "TRAIN.visualization_freq": "the original's debug visualisation metric (VisMetric) was never used in training",
    "TRAIN.RPN_CLOBBER_POSITIVES": _NOT_READ,
    "TRAIN.RPN_BBOX_WEIGHTS": _NOT_READ + " (RPN box weights are 1 on positive anchors)",
    "TRAIN.RPN_POSITIVE_WEIGHT": _NOT_READ + " (positive and negative anchors weigh the same)",
    "TRAIN.CXX_PROPOSAL": _CXX_PROPOSAL,
    "TRAIN.RPN_POST_NMS_TOP_N": (_TARGET_OP + "keeps 300 RoIs per chip (its default, the symbol never passed "
                                 "this key; TRAIN.ROIS_PER_CHIP sets it here)"),
    "TRAIN.RPN_MIN_SIZE": _TARGET_OP + "hard-codes a 3-px minimum box side (line 317) and never got this key",
    "TRAIN.BBOX_NORMALIZATION_PRECOMPUTED": ("the original's end-to-end training normalised RoI targets by fixed "
                                             "stds (here TRAIN.BBOX_STDS); this key only chose statistics that "
                                             "its checkpoint callback ignored"),
    "TRAIN.BBOX_MEANS": (_TARGET_OP + "subtracts no means from RoI targets (it divides by fixed stds, here "
                         "TRAIN.BBOX_STDS)"),
    "TEST.TEST_FLAG": _NOT_READ,
    "TEST.HAS_RPN": _NOT_READ + " (the test network always has its RPN)",
    "TEST.CXX_PROPOSAL": _CXX_PROPOSAL,
    "TEST.RPN_PRE_NMS_TOP_N": ("the fork's test proposal op ignored it and kept the best min(12000, anchors) boxes "
                               "before NMS (src/operator/multi_proposal.cu:181); so does this port"),
    "TEST.RPN_MIN_SIZE": ("the fork's test proposal op ignored it and hard-coded a 3-px minimum box side "
                          "(src/operator/multi_proposal.cu:579); so does this port"),
    "TEST.PROPOSAL_NMS_THRESH": _TEST_PROPOSAL,
    "TEST.PROPOSAL_PRE_NMS_TOP_N": _TEST_PROPOSAL,
    "TEST.PROPOSAL_POST_NMS_TOP_N": _TEST_PROPOSAL,
    "TEST.PROPOSAL_MIN_SIZE": _TEST_PROPOSAL,
    "TEST.USE_CACHE": _USE_CACHE,
    "TEST.max_per_image": _NOT_READ + "; TEST.MAX_PER_IMAGE caps the detections per image",
    "TEST.test_epoch": _NOT_READ + "; TEST.TEST_EPOCH names the checkpoint to test",
    "TEST.VISUALIZATION_PATH": "the original's main_test.py --vis drawing is not ported (demo.py draws detections)",
    "TEST.VISUALIZE_INTERMEDIATE_SCALES": ("the original's main_test.py --vis drawing is not ported (demo.py "
                                           "draws detections)"),
}


def _value(tree, dotted):
    for part in dotted.split("."):
        tree = tree[part]
    return tree


def legacy_settings(cfg):
    """[(dotted key, value)] of the legacy keys that `cfg` sets to something other than their default."""
    return [(key, _value(cfg, key)) for key in LEGACY_KEYS
            if _value(cfg, key) != _value(DEFAULTS, key)]


def warn_legacy(cfg):
    """Log one warning line per legacy key set away from its default; returns `cfg`."""
    for key, value in legacy_settings(cfg):
        LOGGER.warning("config key %s = %r has no effect: %s", key, value, LEGACY_KEYS[key])
    return cfg
