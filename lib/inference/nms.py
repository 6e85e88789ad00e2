"""The tester's duplicate suppression: `suppress` applies an NMSSpec (lib/specs) to one class's detections.

The numpy cores live in `lib.geometry.nms`; `soft_nms` and `nms` are re-exported here under their public names.
"""
from lib.geometry.nms import nms, soft_nms

__all__ = ["nms", "soft_nms", "suppress"]


def suppress(dets, spec):
    """The tester's NMS: (N, 5) detections -> (M, 5) float32 detections, by descending score.

    spec: a lib.specs.NMSSpec (method, sigma, iou_thresh, score_thresh).
    """
    return soft_nms(dets, sigma=spec.sigma, score_thresh=spec.score_thresh, method=spec.method,
                    iou_thresh=spec.iou_thresh)
