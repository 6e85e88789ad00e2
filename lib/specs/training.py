"""The training side's specs: anchors, chips, RPN targets, RoI targets and what a loader worker needs.

Each is built once from the config with `from_config(cfg)` and handed down; leaf code reads no config.
"""
from dataclasses import dataclass

from lib.config_error import ConfigError
from lib.specs.masks import MaskSpec


def _ranges(values):
    return tuple(tuple(float(x) for x in v) for v in values)


def _scales(values):
    return tuple(tuple(v) if isinstance(v, (tuple, list)) else v for v in values)


@dataclass(frozen=True)
class AnchorSpec:
    """The RPN's anchors: feature stride (px), scales (multiples of the stride) and aspect ratios (h / w)."""
    stride: int
    scales: tuple
    ratios: tuple

    @property
    def num_anchors(self):
        """A = len(scales) * len(ratios) anchors per feature-map cell."""
        return len(self.scales) * len(self.ratios)

    @classmethod
    def from_config(cls, cfg):
        """From cfg.network: RPN_FEAT_STRIDE, ANCHOR_SCALES, ANCHOR_RATIOS."""
        net = cfg.network
        return cls(stride=int(net.RPN_FEAT_STRIDE), scales=tuple(net.ANCHOR_SCALES), ratios=tuple(net.ANCHOR_RATIOS))


@dataclass(frozen=True)
class ChipSpec:
    """The chip engine of one training run.

    chip_size: side C of a chip (px). scales: TRAIN.SCALES (either form of lib/chips/scales.py), finest first.
    valid_ranges: one (lo, hi) per scale, original sqrt-area px, -1 = no bound. The generator's stride is
    drawn per epoch (lib/chips/rng.py, draw_stride). use_negatives / num_negatives: negative chips mined from
    proposals, how many per image. lower_bound_all_scales: TRAIN.ASSIGN_LOWER_BOUND_ALL_SCALES (assigner).
    full_image: the whole-image baseline instead of chips.
    """
    chip_size: int
    scales: tuple
    valid_ranges: tuple
    use_negatives: bool = False
    num_negatives: int = 0
    lower_bound_all_scales: bool = False
    full_image: bool = False

    @classmethod
    def from_config(cls, cfg):
        """From cfg.TRAIN: CHIP_SIZE, SCALES, VALID_RANGES, USE_NEG_CHIPS, NUM_NEG_CHIPS,
        ASSIGN_LOWER_BOUND_ALL_SCALES, FULL_IMAGE."""
        train = cfg.TRAIN
        return cls(chip_size=int(train.CHIP_SIZE), scales=_scales(train.SCALES),
                   valid_ranges=tuple(tuple(v) for v in train.VALID_RANGES),
                   use_negatives=bool(train.USE_NEG_CHIPS), num_negatives=int(train.NUM_NEG_CHIPS),
                   lower_bound_all_scales=bool(train.ASSIGN_LOWER_BOUND_ALL_SCALES),
                   full_image=bool(train.FULL_IMAGE))


@dataclass(frozen=True)
class RPNTargetSpec:
    """The loader's RPN anchor labels: IoU for a positive (>=) and a negative (<), sampled batch size and its
    foreground fraction."""
    positive_overlap: float
    negative_overlap: float
    batch_size: int
    fg_fraction: float

    @classmethod
    def from_config(cls, cfg):
        """From cfg.TRAIN: RPN_POSITIVE_OVERLAP, RPN_NEGATIVE_OVERLAP, RPN_BATCH_SIZE, RPN_FG_FRACTION."""
        return cls(positive_overlap=float(cfg.TRAIN.RPN_POSITIVE_OVERLAP),
                   negative_overlap=float(cfg.TRAIN.RPN_NEGATIVE_OVERLAP),
                   batch_size=int(cfg.TRAIN.RPN_BATCH_SIZE), fg_fraction=float(cfg.TRAIN.RPN_FG_FRACTION))


@dataclass(frozen=True)
class RoITargetSpec:
    """The training proposal-target layer (the fork's MultiProposalTarget op).

    num_rois: rois per chip (TRAIN.ROIS_PER_CHIP; the op's 300). fg_thresh: IoU above which a roi takes its gt's
    class.
    bbox_stds: the regression targets' divisors. nms_thresh / pre_nms_top_n: the proposal NMS (-1: every anchor).
    ignore_outside_range: TRAIN.IGNORE_ROIS_OUTSIDE_RANGE. max_gts: gt rows per chip (dataset.MAX_GTS).
    """
    num_rois: int
    fg_thresh: float
    bbox_stds: tuple
    nms_thresh: float
    pre_nms_top_n: int
    ignore_outside_range: bool
    max_gts: int

    @classmethod
    def from_config(cls, cfg):
        """From cfg.TRAIN (ROIS_PER_CHIP, FG_THRESH, BBOX_STDS, RPN_NMS_THRESH, RPN_PRE_NMS_TOP_N,
        IGNORE_ROIS_OUTSIDE_RANGE) and cfg.dataset.MAX_GTS."""
        train = cfg.TRAIN
        return cls(num_rois=int(train.ROIS_PER_CHIP), fg_thresh=float(train.FG_THRESH),
                   bbox_stds=tuple(train.BBOX_STDS),
                   nms_thresh=float(train.RPN_NMS_THRESH), pre_nms_top_n=int(train.RPN_PRE_NMS_TOP_N),
                   ignore_outside_range=bool(train.IGNORE_ROIS_OUTSIDE_RANGE), max_gts=int(cfg.dataset.MAX_GTS))


@dataclass(frozen=True)
class FocusLabelSpec:
    """AutoFocus's FocusPixel labels (lib/chips/focus_labels.py): sqrt-area thresholds in chip pixels
    (TRAIN.AUTO_FOCUS_SMALL_THRESH, _DC_LOW, _DC_HIGH) and the feature stride of the label map."""
    small_thresh: float
    dc_low: float
    dc_high: float
    stride: int

    @classmethod
    def from_config(cls, cfg):
        """None without TRAIN.AUTO_FOCUS; ConfigError naming the key for an unset (<= 0) threshold."""
        train = cfg.TRAIN
        if not train.AUTO_FOCUS:
            return None
        values = {"SMALL_THRESH": train.AUTO_FOCUS_SMALL_THRESH, "DC_LOW": train.AUTO_FOCUS_DC_LOW,
                  "DC_HIGH": train.AUTO_FOCUS_DC_HIGH}
        for key, value in values.items():
            if value <= 0:
                raise ConfigError("config key TRAIN.AUTO_FOCUS_%s must be > 0 with TRAIN.AUTO_FOCUS (the original's "
                                  "AutoFocus config uses 64, 5, 90), got %r" % (key, value))
        return cls(*(float(v) for v in values.values()), stride=int(cfg.network.RPN_FEAT_STRIDE))


@dataclass(frozen=True)
class LoaderSpec:
    """What the loader and its workers need to turn a chip into a batch row (sent to each worker instead of
    the config).

    anchors, rpn: AnchorSpec and RPNTargetSpec of the anchor targets. pixel_means: network.PIXEL_MEANS (BGR).
    max_gts: gt rows per chip. valid_gts_by_index: TRAIN.VALID_GTS_BY_INDEX (each chip carries its canvas).
    num_workers / timeout: TRAIN.NUM_PROCESS and TRAIN.LOADER_TIMEOUT (s).
    focus: FocusLabelSpec with TRAIN.AUTO_FOCUS (each chip then gets its focus_label map), else None.
    masks: a lib.specs.masks.MaskSpec (each chip also carries its gts' mask grids) or None.
    """
    anchors: AnchorSpec
    rpn: RPNTargetSpec
    pixel_means: tuple
    max_gts: int
    valid_gts_by_index: bool
    num_workers: int
    timeout: float
    focus: FocusLabelSpec = None
    masks: object = None

    @classmethod
    def from_config(cls, cfg):
        """From the anchor and RPN specs, network.PIXEL_MEANS, dataset.MAX_GTS, TRAIN.VALID_GTS_BY_INDEX,
        NUM_PROCESS and LOADER_TIMEOUT."""
        train = cfg.TRAIN
        return cls(anchors=AnchorSpec.from_config(cfg), rpn=RPNTargetSpec.from_config(cfg),
                   pixel_means=tuple(cfg.network.PIXEL_MEANS), max_gts=int(cfg.dataset.MAX_GTS),
                   valid_gts_by_index=bool(train.VALID_GTS_BY_INDEX),
                   num_workers=int(train.NUM_PROCESS), timeout=float(train.LOADER_TIMEOUT),
                   focus=FocusLabelSpec.from_config(cfg), masks=MaskSpec.from_config(cfg))
