"""Aggregation across test scales (the original tester's per-scale valid ranges and soft-NMS): valid-range filter, NMS per (image, class), per-image cap.

All detections use the layout of `lib.inference.detections`: dets[image][cls] -> (n, 5) float32.
"""
import logging

import numpy as np
from tqdm import tqdm

from lib.geometry.boxes import tester_valid_range_mask
from lib.inference.nms import suppress

log = logging.getLogger(__name__)


def filter_valid_range(image_dets, valid_range):
    """One image's per-class detections (list of (n, 5)) -> the same with only the in-range rows."""
    return [d[tester_valid_range_mask(d, valid_range)] for d in image_dets]


def cap_per_image(image_dets, max_per_image):
    """The reference's MAX_PER_IMAGE cap over all classes of one image.

    When there are more than K = max_per_image detections, the K-th highest score becomes a threshold and
    the rows with score >= it are kept, so ties at the threshold can leave more than K (as the reference).
    max_per_image <= 0: no cap. Returns a list of (n_c, 5) arrays.
    """
    scores = np.concatenate([d[:, 4] for d in image_dets])
    if max_per_image <= 0 or len(scores) <= max_per_image:
        return list(image_dets)
    thresh = np.sort(scores)[-max_per_image]
    return [d[d[:, 4] >= thresh] for d in image_dets]


def merge_image(per_scale_image_dets, valid_ranges, nms_spec):
    """One image: per scale, per class (n, 5) detections -> its final per-class detections.

    per_scale_image_dets: list over scales (same order as valid_ranges) of lists over classes.
    Each class concatenates its in-range rows of every scale, in scale order, then `suppress` (NMS per
    nms_spec, a lib.specs.NMSSpec); then the per-image cap nms_spec.max_per_image.
    """
    filtered = [filter_valid_range(dets, vr) for dets, vr in zip(per_scale_image_dets, valid_ranges)]
    merged = []
    for cls_dets in zip(*filtered):
        dets = np.concatenate(cls_dets, axis=0)
        merged.append(suppress(dets, nms_spec) if len(dets) else dets)
    return cap_per_image(merged, nms_spec.max_per_image)


def merge_scales(per_scale_dets, valid_ranges, nms_spec):
    """All images: per_scale_dets[scale][image][cls] -> final dets[image][cls] (n, 5) float32.

    valid_ranges: one (lo, hi) per scale (cfg.TEST.VALID_RANGES), in original-image sqrt-area pixels.
    """
    if len(per_scale_dets) != len(valid_ranges):
        raise ValueError("TEST.VALID_RANGES has %d entries but there are detections of %d scales"
                         % (len(valid_ranges), len(per_scale_dets)))
    counts = {len(dets) for dets in per_scale_dets}
    if len(counts) > 1:
        raise ValueError("detections of the scales cover different numbers of images: %s" % sorted(counts))
    per_image = list(zip(*per_scale_dets))
    final = [merge_image(image, valid_ranges, nms_spec)
             for image in tqdm(per_image, desc="merge scales", unit="img", disable=len(per_image) < 500)]
    log.info("merged %d scales over %d images: %d detections", len(per_scale_dets), len(final),
             sum(len(d) for image in final for d in image))
    return final
