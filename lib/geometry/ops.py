"""The box geometry of `lib.geometry.boxes` / `lib.geometry.anchors` written with MXNet operators (`F` is
mx.sym or mx.nd), for HybridBlocks. Boxes are (..., 4) rows (x1, y1, x2, y2), inclusive pixels.

Same conventions as the numpy side (tests/test_geometry.py holds them equal on random inputs); the two
places where the fork's proposal-target op used other ones are named for it: `areas_no_plus_one`,
`iou_fork_gpu` (intersection +1, areas without) and `encode_gt_centre_half_pixel` (gt centre gx1 + 0.5 gw).
"""


def split_corners(F, boxes):
    """(..., 4) -> x1, y1, x2, y2, each (..., 1)."""
    return F.split(boxes, num_outputs=4, axis=-1)


def widths_heights(F, boxes):
    """(..., 4) -> widths, heights (..., 1) with +1."""
    x1, y1, x2, y2 = split_corners(F, boxes)
    return x2 - x1 + 1.0, y2 - y1 + 1.0


def areas_no_plus_one(F, boxes):
    """(..., 4) -> (..., 1) (x2 - x1) * (y2 - y1): the proposal-target op's range-test area."""
    x1, y1, x2, y2 = split_corners(F, boxes)
    return (x2 - x1) * (y2 - y1)


def grid_anchors(F, base, feat, stride):
    """Base anchors (A, 4) shifted over feat's (H, W) grid (its axes 2, 3) -> (1, A*H*W, 4), anchor-major
    (row a*H*W + y*W + x; `lib.geometry.anchors.shifted_anchors` is the position-major numpy twin)."""
    xs = F.reshape(F.contrib.arange_like(feat, axis=3) * stride, (1, 1, -1))  # (1, 1, W)
    ys = F.reshape(F.contrib.arange_like(feat, axis=2) * stride, (1, -1, 1))  # (1, H, 1)
    grid = F.broadcast_add(xs, ys) * 0  # (1, H, W) zeros, to broadcast every coordinate to the grid
    coords = []
    for k, shift in enumerate((xs, ys, xs, ys)):
        column = F.reshape(F.slice_axis(base, axis=1, begin=k, end=k + 1), (-1, 1, 1))  # (A, 1, 1)
        coords.append(F.broadcast_add(F.broadcast_add(column, shift), grid))  # (A, H, W)
    return F.reshape(F.stack(*coords, axis=-1), (1, -1, 4))


def _pairwise(F, a, b):
    """(B, N, 4), (B, K, 4) -> corners of a as (B, N, 1) and of b as (B, 1, K)."""
    return split_corners(F, a), [F.transpose(c, axes=(0, 2, 1)) for c in split_corners(F, b)]


def _intersections(F, a, b):
    """(B, N, 4), (B, K, 4) -> (B, N, K) intersection areas with +1 (0 where disjoint)."""
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = _pairwise(F, a, b)
    iw = F.relu(F.broadcast_minimum(ax2, bx2) - F.broadcast_maximum(ax1, bx1) + 1.0)
    ih = F.relu(F.broadcast_minimum(ay2, by2) - F.broadcast_maximum(ay1, by1) + 1.0)
    return iw * ih


def iou(F, a, b):
    """IoU matrix with +1 everywhere (numpy: `bbox_overlaps`). (B, N, 4), (B, K, 4) -> (B, N, K)."""
    inter = _intersections(F, a, b)
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = _pairwise(F, a, b)
    union = F.broadcast_add((ax2 - ax1 + 1.0) * (ay2 - ay1 + 1.0), (bx2 - bx1 + 1.0) * (by2 - by1 + 1.0)) - inter
    return inter / F.maximum(union, 1e-12)


def iou_fork_gpu(F, a, b):
    """The fork's proposal-target op's IoU: intersection +1, areas without (src/operator/
    multi_proposal_target.cu). (B, N, 4), (B, K, 4) -> (B, N, K)."""
    inter = _intersections(F, a, b)
    (ax1, ay1, ax2, ay2), (bx1, by1, bx2, by2) = _pairwise(F, a, b)
    union = F.broadcast_add((ax2 - ax1) * (ay2 - ay1), (bx2 - bx1) * (by2 - by1)) - inter
    return inter / F.maximum(union, 1e-6)


def _centres(F, boxes):
    """(..., 4) -> cx, cy, w, h (..., 1): +1 widths, centre x1 + 0.5 (w - 1)."""
    x1, y1, _, _ = split_corners(F, boxes)
    w, h = widths_heights(F, boxes)
    return x1 + 0.5 * (w - 1.0), y1 + 0.5 * (h - 1.0), w, h


def encode(F, rois, gts):
    """Deltas (dx, dy, log dw, log dh) of gts against rois, both (..., 4) -> (..., 4); numpy: `bbox_transform`."""
    rcx, rcy, rw, rh = _centres(F, rois)
    gcx, gcy, gw, gh = _centres(F, gts)
    return F.concat((gcx - rcx) / (rw + 1e-7), (gcy - rcy) / (rh + 1e-7),
                    F.log(gw / (rw + 1e-7)), F.log(gh / (rh + 1e-7)), dim=-1)


def encode_gt_centre_half_pixel(F, rois, gts):
    """`encode` with the fork's proposal-target quirk: the gt centre is gx1 + 0.5 gw (not + 0.5 (gw - 1))."""
    rcx, rcy, rw, rh = _centres(F, rois)
    gx1, gy1, _, _ = split_corners(F, gts)
    gw, gh = widths_heights(F, gts)
    return F.concat((gx1 + 0.5 * gw - rcx) / (rw + 1e-7), (gy1 + 0.5 * gh - rcy) / (rh + 1e-7),
                    F.log(gw / (rw + 1e-7)), F.log(gh / (rh + 1e-7)), dim=-1)


def decode(F, anchors, deltas):
    """Apply deltas (B, N, 4) to anchors (1 or B, N, 4) -> (B, N, 4); numpy: `bbox_pred`. No std scaling."""
    acx, acy, aw, ah = _centres(F, anchors)
    dx, dy, dw, dh = split_corners(F, deltas)
    cx, cy = F.broadcast_add(F.broadcast_mul(dx, aw), acx), F.broadcast_add(F.broadcast_mul(dy, ah), acy)
    w, h = F.broadcast_mul(F.exp(dw), aw), F.broadcast_mul(F.exp(dh), ah)
    return F.concat(cx - 0.5 * (w - 1.0), cy - 0.5 * (h - 1.0),
                    cx + 0.5 * (w - 1.0), cy + 0.5 * (h - 1.0), dim=-1)


def clip_to_images(F, boxes, im_info):
    """Clip (B, N, 4) per image: x to [0, w - 1], y to [0, h - 1] with im_info (B, 3) = [h, w, scale]
    (numpy: `clip_boxes`)."""
    h = F.reshape(F.slice_axis(im_info, axis=1, begin=0, end=1), (-1, 1, 1)) - 1.0
    w = F.reshape(F.slice_axis(im_info, axis=1, begin=1, end=2), (-1, 1, 1)) - 1.0
    x1, y1, x2, y2 = split_corners(F, boxes)
    clip_x = lambda v: F.broadcast_minimum(F.relu(v), w)  # noqa: E731
    clip_y = lambda v: F.broadcast_minimum(F.relu(v), h)  # noqa: E731
    return F.concat(clip_x(x1), clip_y(y1), clip_x(x2), clip_y(y2), dim=-1)
