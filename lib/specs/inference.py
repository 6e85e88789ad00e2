"""The test side's specs: the scale pyramid (TestPyramidSpec) and the duplicate suppression (NMSSpec)."""
from dataclasses import dataclass

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
