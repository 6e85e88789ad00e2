"""Anchors in numpy: py-faster-rcnn base anchors shifted over a feature grid (`lib.geometry.ops.grid_anchors` is
the MXNet side).

One generator, one order: `generate_base_anchors` gives the A base anchors ratio-major; `shifted_anchors`
gives the grid position-major (row (y * W + x) * A + a), the order of the loader's anchor targets (the
original's AnchorLoader); the network's RPN outputs are anchor-major (row a * H * W + y * W + x), and
`position_major_to_maps` re-orders one into the other.
"""
import numpy as np


def generate_base_anchors(stride=16, ratios=(0.5, 1, 2), scales=(2, 4, 7, 10, 13, 16, 24)):
    """Base anchors around the reference window (0, 0, stride - 1, stride - 1).

    Ratio-major, then scale: row index = ratio_index * len(scales) + scale_index.
    w0 = round(sqrt(stride^2 / r)), h0 = round(w0 * r) (numpy rounding, half to even), then w = w0 * k.
    Returns (len(ratios) * len(scales), 4) float32, inclusive x1, y1, x2, y2.
    """
    centre = 0.5 * (stride - 1)
    rows = []
    for ratio in ratios:
        w0 = np.round(np.sqrt(stride * stride / float(ratio)))
        h0 = np.round(w0 * ratio)
        for scale in scales:
            w, h = w0 * scale, h0 * scale
            rows.append([centre - 0.5 * (w - 1), centre - 0.5 * (h - 1),
                         centre + 0.5 * (w - 1), centre + 0.5 * (h - 1)])
    return np.array(rows, dtype=np.float32)


def shifted_anchors(base_anchors, feat_height, feat_width, stride):
    """All anchors of a feature map, position-major: index = (y * feat_width + x) * A + a.

    (A, 4) base anchors -> (feat_height * feat_width * A, 4) float32.
    """
    sx, sy = np.meshgrid(np.arange(feat_width) * stride, np.arange(feat_height) * stride)
    shifts = np.stack([sx.ravel(), sy.ravel(), sx.ravel(), sy.ravel()], axis=1).astype(np.float32)
    return (shifts[:, None, :] + base_anchors[None, :, :]).reshape(-1, 4)


def position_major_to_maps(rows, feat_height, feat_width):
    """Re-order per-anchor rows for the network: (H*W*A, k) position-major -> (A*k, H, W), channel a*k + c.

    With k = 1, `.reshape(-1)` of the result is anchor-major (row a*H*W + y*W + x), the RPN's label order;
    with k = 4 it is the layout of the RPN's regression output (channel 4a + coordinate).
    """
    rows = np.asarray(rows)
    return rows.reshape(feat_height, feat_width, -1).transpose(2, 0, 1).copy()
