"""Instance masks on chips and the mask head's 28 x 28 targets (numpy + pycocotools, no MXNet).

Coordinates. A gt's segm (lib/dataset/segms.py) lives in the image pixels of its record, already mirrored when
the record is flipped (lib/dataset/roidb.flip_record). It moves into a chip like the chip's gt boxes
(lib/data/chip_loader.boxes_in_chip): X = (x - chip x1) * s with the float chip origin, as the original's
`crop_polys` (lib/data_utils/mask_utils.py:8-19 there). Chip coordinates are continuous: chip pixel j covers
[j, j + 1); polygons are filled by COCO's rasteriser (a cell is in when about its centre lies inside); an RLE
cell takes the image pixel under its centre.

Where the targets are made. The mask RoIs are the positive RoIs of the proposal-target step, which runs inside
the network (the original's MultiProposalTargetMask op, symbols/faster/resnet_mx_101_e2e_mask.py:317), so the
loader cannot know them. The original ships each chip's gt polygons to the graph as a (100, 500) array whose
rows follow the gt_boxes rows (lib/data_utils/data_workers.py:231-257, mask_utils.poly_encoder), and its
MaskRcnnTarget op fills each positive RoI's gt polygon into the RoI's 28 x 28 cells (src/operator/
mask_rcnn_target.cu in the fork). Stock MXNet cannot fill polygons, so here the loader rasterises every gt once
into a G x G grid over the gt mask's extent in the chip (`chip_gt_masks`, rows following the gt_boxes rows as the
original's polygon rows), and the graph resamples a positive RoI's gt grid at the RoI's 28 x 28 cell centres,
bilinearly, with mask where the value is >= 0.5 (`roi_mask_targets` is that step in numpy, the twin of the graph
op). `polygon_roi_targets` is the original op's rasterisation, the reference the grid route is measured against.
"""
import numpy as np
from pycocotools import mask as mask_api

from lib.dataset.segms import rle_runs
from lib.specs.masks import GT_GRID

MASK_SIZE = 28  # cells a side of a RoI's target (MaskRcnnTarget's mask_size, resnet_mx_101_e2e_mask.py:393)
IGNORE = -1.0  # target of the cells of non-mask RoIs (the op's ignore_label, mask_rcnn_target.cu:160)
POLYGON_BUDGET = 500  # floats per gt row of the original's polygon array (data_workers.py:133, poly_encoder)


def within_budget(polygons, budget=POLYGON_BUDGET):
    """The polygons of one gt the original's encoder keeps in its row of `budget` floats: a header of
    2 + (number of polygons) floats, then whole polygons in order until the first that does not fit
    (lib/data_utils/mask_utils.py:22-46). A gt whose first polygon is too long keeps none (an empty mask).
    budget None keeps them all."""
    if budget is None:
        return polygons
    used = 2 + len(polygons)
    for count, poly in enumerate(polygons):
        used += len(poly)
        if used > budget:
            return polygons[:count]
    return polygons


def polygons_in_chip(polygons, chip_box, scale):
    """Polygons (list of (2K,) float arrays, image px) -> the same in chip coordinates, (p - chip origin) * s."""
    moved = []
    for poly in polygons:
        poly = np.asarray(poly, dtype=np.float64).copy()
        poly[0::2] = (poly[0::2] - chip_box[0]) * scale
        poly[1::2] = (poly[1::2] - chip_box[1]) * scale
        moved.append(poly)
    return moved


def fill_polygons(polygons, rows, cols):
    """Union of polygons in cell units (cell (i, j) covers [j, j + 1) x [i, i + 1)) -> (rows, cols) uint8.

    Filled by pycocotools as the original's target op calls it: x and y swapped and the column-major result
    read row-major (mask_rcnn_target.cu:71-90), i.e. COCO's fill of the transposed polygon, transposed back.
    """
    if not len(polygons):
        return np.zeros((rows, cols), np.uint8)
    swapped = [np.asarray(p, dtype=np.float64).reshape(-1, 2)[:, ::-1].ravel().tolist() for p in polygons]
    filled = mask_api.decode(mask_api.frPyObjects(swapped, cols, rows))  # (cols, rows, n)
    return np.ascontiguousarray(filled.any(axis=2).T.astype(np.uint8))


def rasterise(segm, *, chip_box, scale, origin, step, shape):
    """Occupancy of a gt's mask on a grid of chip coordinates -> (rows, cols) uint8 (an RLE is sampled through
    its runs, without decoding the whole image).

    segm: polygons or RLE in image px; chip_box (4,), scale: the chip's box (image px) and factor;
    origin (ox, oy), step (sx, sy), shape (rows, cols): cell (i, j) covers [ox + j sx, ox + (j + 1) sx) x
    [oy + i sy, oy + (i + 1) sy) in chip coordinates.
    """
    (ox, oy), (sx, sy), (rows, cols) = origin, step, shape
    if isinstance(segm, dict):
        height, width = segm["size"]
        starts, ends = rle_runs(segm)
        xs = np.floor((ox + (np.arange(cols) + 0.5) * sx) / scale + chip_box[0]).astype(np.int64)
        ys = np.floor((oy + (np.arange(rows) + 0.5) * sy) / scale + chip_box[1]).astype(np.int64)
        inside = ((ys >= 0) & (ys < height))[:, None] & ((xs >= 0) & (xs < width))[None, :]
        if not len(starts):
            return np.zeros((rows, cols), np.uint8)
        flat = xs[None, :] * height + ys[:, None]  # column-major pixel index, as the runs
        run = np.maximum(np.searchsorted(starts, flat, side="right") - 1, 0)
        return (inside & (flat >= starts[run]) & (flat < ends[run])).astype(np.uint8)
    cells = []
    for poly in polygons_in_chip(segm, chip_box, scale):
        poly[0::2] = (poly[0::2] - ox) / sx
        poly[1::2] = (poly[1::2] - oy) / sy
        cells.append(poly)
    return fill_polygons(cells, rows, cols)


def mask_extent(segm, chip_box, scale):
    """The mask's bounding box in chip coordinates, (4,) float64 [x1, y1, x2, y2] with x2, y2 the far edges
    (an RLE's last pixel c ends at c + 1), or None for an empty mask."""
    if isinstance(segm, dict):
        x, y, w, h = mask_api.toBbox(segm)
        if w <= 0 or h <= 0:
            return None
        box = np.array([x, y, x + w, y + h], dtype=np.float64)
    else:
        if not len(segm):
            return None
        points = np.concatenate([np.asarray(p, dtype=np.float64).reshape(-1, 2) for p in segm])
        box = np.concatenate([points.min(axis=0), points.max(axis=0)])
    return (box - np.tile(np.asarray(chip_box[:2], dtype=np.float64), 2)) * scale


def chip_mask(segm, chip, canvas):
    """The gt's mask in the chip's canvas pixels -> (canvas, canvas) uint8 (pictures and tests)."""
    return rasterise(segm, chip_box=chip.box, scale=chip.scale, origin=(0.0, 0.0), step=(1.0, 1.0),
                     shape=(canvas, canvas))


def gt_mask_grid(segm, chip, canvas, grid=GT_GRID, budget=POLYGON_BUDGET):
    """One gt's grid over its mask's extent clipped to the canvas -> (frame (4,) float32, (grid, grid) uint8).

    frame [x1, y1, x2, y2] (chip coordinates, far edges) is the area the grid covers; an empty mask, or one
    outside the canvas, gives the frame [0, 0, 1, 1] and an empty grid (an all-background target, as the
    original's op gives a gt without polygons). Polygons are first cut to the original's `budget`.
    """
    if not isinstance(segm, dict):
        segm = within_budget(segm, budget)
    extent = mask_extent(segm, chip.box, chip.scale)
    if extent is not None:
        extent = np.clip(extent, 0, canvas)
    if extent is None or extent[2] <= extent[0] or extent[3] <= extent[1]:
        return np.array([0, 0, 1, 1], np.float32), np.zeros((grid, grid), np.uint8)
    step = ((extent[2] - extent[0]) / grid, (extent[3] - extent[1]) / grid)
    cells = rasterise(segm, chip_box=chip.box, scale=chip.scale, origin=extent[:2], step=step, shape=(grid, grid))
    return extent.astype(np.float32), cells


def chip_gt_masks(segms, chip, *, canvas, max_gts, grid=GT_GRID, budget=POLYGON_BUDGET):
    """The gt masks a chip sends to the network, rows following its gt_boxes rows.

    segms: the record's segms of the chip's gt rows, in gt_boxes order (record.segms[i] for i in `kept` of
    lib/data/chip_loader.boxes_in_chip); rows beyond max_gts are left out as their boxes are; budget: the
    original's polygon floats per gt (`within_budget`; None: no limit).
    Returns (frames (max_gts, 4) float32, padded with -1; grids (max_gts, grid, grid) uint8, padded with 0).
    """
    frames = np.full((max_gts, 4), -1, np.float32)
    grids = np.zeros((max_gts, grid, grid), np.uint8)
    for row, segm in enumerate(segms[:max_gts]):
        frames[row], grids[row] = gt_mask_grid(segm, chip, canvas, grid, budget)
    return frames, grids


def _interpolation(coords, size):
    """(S,) sample coordinates in cell-centre units of a zero-bordered axis of `size` cells -> (S, size)
    bilinear weights; cell k's centre is at k, samples beyond the cells' centres blend towards 0 (the border)."""
    weights = np.zeros((len(coords), size + 2))
    padded = coords + 1.0  # index into the axis with one zero cell on each side
    low = np.floor(padded).astype(np.int64)
    frac = padded - low
    for index, weight in ((low, 1.0 - frac), (low + 1, frac)):
        ok = (index >= 0) & (index < size + 2)
        weights[np.flatnonzero(ok), index[ok]] = weight[ok]
    return weights[:, 1:-1]


def _roi_cell_centres(roi, mask_size):
    """(mask_size,) x and y centres (chip coordinates) of a RoI's cells: the RoI spans max(x2 - x1, 1) px wide
    from x1 (no +1), as the original's op (mask_rcnn_target.cu:62-78)."""
    x1, y1, x2, y2 = (float(v) for v in roi)
    centres = np.arange(mask_size) + 0.5
    return (x1 + centres * max(x2 - x1, 1.0) / mask_size, y1 + centres * max(y2 - y1, 1.0) / mask_size)


def roi_mask_targets(rois, gt_rows, frames, grids, mask_size=MASK_SIZE):
    """The mask head's targets from the gt grids of `chip_gt_masks` (the numpy twin of the graph step).

    rois: (R, 4) chip coordinates; gt_rows: (R,) int, the gt row each RoI learns the mask of, -1 for a RoI
    without mask target (not a positive RoI, or a padding slot); frames (G, 4), grids (G, g, g) of the chip.
    Returns (R, mask_size, mask_size) float32: 1 mask, 0 background, IGNORE (-1) for the rows of gt_rows -1.
    A cell is mask when the bilinear value of the gt's grid at the cell's centre is >= 0.5.
    """
    rois, gt_rows = np.asarray(rois, dtype=np.float64).reshape(-1, 4), np.asarray(gt_rows).reshape(-1)
    out = np.full((len(rois), mask_size, mask_size), IGNORE, np.float32)
    for r in np.flatnonzero(gt_rows >= 0):
        frame, cells = frames[gt_rows[r]].astype(np.float64), grids[gt_rows[r]].astype(np.float64)
        xs, ys = _roi_cell_centres(rois[r], mask_size)
        gx = (xs - frame[0]) / (frame[2] - frame[0]) * cells.shape[1] - 0.5
        gy = (ys - frame[1]) / (frame[3] - frame[1]) * cells.shape[0] - 0.5
        value = _interpolation(gy, cells.shape[0]) @ cells @ _interpolation(gx, cells.shape[1]).T
        out[r] = value >= 0.5
    return out


def polygon_roi_targets(rois, polygons, mask_size=MASK_SIZE):
    """The original's MaskRcnnTarget for polygon gts: each RoI's gt polygons (chip coordinates) mapped to
    ((x - x1) * S / w, (y - y1) * S / h) with w = max(x2 - x1, 1), h likewise, and filled (mask_rcnn_target.cu
    :51-108) -> (R, S, S) uint8. rois: (R, 4); polygons: per RoI, the list of its gt's polygons."""
    out = np.zeros((len(rois), mask_size, mask_size), np.uint8)
    for r, (roi, polys) in enumerate(zip(np.asarray(rois, dtype=np.float64).reshape(-1, 4), polygons)):
        w, h = max(roi[2] - roi[0], 1.0), max(roi[3] - roi[1], 1.0)
        cells = []
        for poly in polys:
            poly = np.asarray(poly, dtype=np.float64).copy()
            poly[0::2] = (poly[0::2] - roi[0]) * mask_size / w
            poly[1::2] = (poly[1::2] - roi[1]) * mask_size / h
            cells.append(poly)
        out[r] = fill_polygons(cells, mask_size, mask_size)
    return out
