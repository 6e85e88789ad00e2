"""The test side's specs: the scale pyramid (TestPyramidSpec) and the duplicate suppression (NMSSpec)."""
from dataclasses import dataclass

from lib.config_error import ConfigError
from lib.geometry.nms import METHODS


def _pairs(values):
    return tuple(tuple(float(x) for x in v) if isinstance(v, (tuple, list)) else float(v) for v in values)


@dataclass(frozen=True)
class TestPyramidSpec:
    """The test pyramid: which scales, what each trusts, how many images per batch.

    scales: TEST.SCALES, either form of lib/chips/scales.py ((min, max) pairs, or factors with the last entry
        the long side in px).
    valid_ranges: one (lo, hi) per scale (TEST.VALID_RANGES), original-image sqrt-area px, <= 0 meaning none.
    batch_images: one batch size per scale and device (TEST.BATCH_IMAGES, an int repeated or one per scale).
    pixel_means: network.PIXEL_MEANS, BGR, subtracted from every test image.
    """
    __test__ = False  # not a pytest class despite the name
    scales: tuple
    valid_ranges: tuple
    batch_images: tuple
    pixel_means: tuple

    @classmethod
    def from_config(cls, cfg):
        """From cfg.TEST (SCALES, VALID_RANGES, BATCH_IMAGES) and cfg.network.PIXEL_MEANS."""
        test = cfg.TEST
        scales = _pairs(test.SCALES)
        batch = test.BATCH_IMAGES
        if isinstance(batch, (tuple, list)):
            if len(batch) < len(scales):
                raise ValueError("config key TEST.BATCH_IMAGES: %d entries but TEST.SCALES has %d"
                                 % (len(batch), len(scales)))
            batch = tuple(int(b) for b in batch[:len(scales)])
        else:
            batch = (int(batch),) * len(scales)
        return cls(scales=scales, valid_ranges=_pairs(test.VALID_RANGES[:len(scales)]), batch_images=batch,
                   pixel_means=tuple(float(m) for m in cfg.network.PIXEL_MEANS))

    def is_last(self, index):
        """True for the coarsest (last) scale, whose factor-form entry is a long side in px."""
        return index == len(self.scales) - 1


@dataclass(frozen=True)
class NMSSpec:
    """How the tester suppresses duplicates per (image, class) and caps each image.

    method: "gaussian" | "linear" | "hard".
    sigma: Gaussian soft-NMS parameter (score *= exp(-IoU^2 / sigma)).
    iou_thresh: Nt of the linear and hard methods.
    score_thresh: boxes decayed below this score are dropped (also the per-class decode threshold).
    max_per_image: the per-image cap over all classes (<= 0: none).
    """
    method: str = "gaussian"
    sigma: float = 0.55
    iou_thresh: float = 0.3
    score_thresh: float = 0.001
    max_per_image: int = 100

    @classmethod
    def from_config(cls, cfg):
        """From cfg.TEST: NMS_METHOD if set, else the original's rule (NMS <= 0: Gaussian, else hard at NMS);
        NMS_SIGMA, SCORE_THRESH, MAX_PER_IMAGE."""
        test = cfg.TEST
        method = test.NMS_METHOD or ("gaussian" if test.NMS <= 0 else "hard")
        if method not in METHODS:
            raise ValueError("config key TEST.NMS_METHOD: %r is not one of %s" % (method, ", ".join(METHODS)))
        iou_thresh = test.NMS if test.NMS > 0 else 0.3
        return cls(method=method, sigma=float(test.NMS_SIGMA), iou_thresh=float(iou_thresh),
                   score_thresh=float(test.SCORE_THRESH), max_per_image=int(test.MAX_PER_IMAGE))


@dataclass(frozen=True)
class ChipTestSpec:
    """Which parts of each test image run at each scale: AutoFocus chips and tiles (lib/inference/focus.py).

    auto_focus: TEST.AUTO_FOCUS; do_pruning: per TEST.SCALES entry, run only on the focus chips of the next coarser
    scale (TEST.DO_PRUNING); hyperparams: per entry, (dilation, threshold, min chip side in cells) turning that
    scale's focus map into chips for the next finer one (TEST.CHIP_HYPERPARAMS). tile_size / tile_overlap:
    TEST.TILE_SIZE (0: no tiles) and TEST.TILE_OVERLAP, resized px. edge_margin: TEST.CHIP_EDGE_MARGIN.
    stride: the focus map's cell (network.RPN_FEAT_STRIDE).
    """
    auto_focus: bool = False
    do_pruning: tuple = ()
    hyperparams: tuple = ()
    tile_size: int = 0
    tile_overlap: int = 0
    edge_margin: float = 10.0
    stride: int = 16

    @property
    def active(self):
        """True when some scale runs on parts of images (focus chips or tiles) instead of whole images."""
        return self.tile_size > 0 or (self.auto_focus and any(self.do_pruning))

    @classmethod
    def from_config(cls, cfg):
        """From cfg.TEST; ConfigError naming the key for short lists or a bad tile setting."""
        test, count = cfg.TEST, len(cfg.TEST.SCALES)
        for key in ("DO_PRUNING", "CHIP_HYPERPARAMS"):
            if test.AUTO_FOCUS and len(getattr(test, key)) < count:
                raise ConfigError("config key TEST.%s: %d entries but TEST.SCALES has %d"
                                  % (key, len(getattr(test, key)), count))
        tile, overlap = int(test.TILE_SIZE), int(test.TILE_OVERLAP)
        if tile < 0 or (tile > 0 and not 0 <= overlap < tile):
            raise ConfigError("config keys TEST.TILE_SIZE / TEST.TILE_OVERLAP: need TILE_SIZE >= 0 and "
                              "0 <= TILE_OVERLAP < TILE_SIZE, got %d / %d" % (tile, overlap))
        pruning = tuple(bool(p) for p in test.DO_PRUNING[:count]) if test.AUTO_FOCUS else ()
        hyper = tuple(tuple(float(v) for v in h) for h in test.CHIP_HYPERPARAMS[:count]) if test.AUTO_FOCUS else ()
        return cls(auto_focus=bool(test.AUTO_FOCUS), do_pruning=pruning, hyperparams=hyper, tile_size=tile,
                   tile_overlap=overlap, edge_margin=float(test.CHIP_EDGE_MARGIN),
                   stride=int(cfg.network.RPN_FEAT_STRIDE))
