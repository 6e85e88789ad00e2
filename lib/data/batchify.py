"""Batches: the layout of a batch dict and stacking per-chip dicts into it."""
import numpy as np

BATCH_KEYS = ("data", "im_info", "gt_boxes", "valid_ranges", "rpn_label", "rpn_bbox_target", "rpn_bbox_weight")
FOCUS_KEY = "focus_label"  # with spec.focus (lib/data/focus_targets.py)
MASK_KEYS = ("gt_mask_frames", "gt_mask_grids")  # with spec.masks (lib/data/mask_targets.chip_gt_masks)


def batch_layout(spec, batch_size, canvas):
    """name -> (shape, dtype) of every array of a batch of `batch_size` chips (all float32).

    spec: a lib.specs.LoaderSpec (anchors, max_gts).
    data (B, 3, C, C) with C = canvas; im_info (B, 3); gt_boxes (B, MAX_GTS, 5);
    valid_ranges (B, 2); rpn_label (B, A*fh*fw); rpn_bbox_target, rpn_bbox_weight (B, 4A, fh, fw);
    with spec.focus (TRAIN.AUTO_FOCUS) also focus_label (B, fh, fw);
    with spec.masks: gt_mask_frames (B, MAX_GTS, 4) float32, gt_mask_grids (B, MAX_GTS, g, g) uint8.
    """
    size, num_anchors = canvas, spec.anchors.num_anchors
    fh = fw = size // spec.anchors.stride
    shapes = {
        "data": (3, size, size), "im_info": (3,), "gt_boxes": (spec.max_gts, 5), "valid_ranges": (2,),
        "rpn_label": (num_anchors * fh * fw,), "rpn_bbox_target": (4 * num_anchors, fh, fw),
        "rpn_bbox_weight": (4 * num_anchors, fh, fw),
    }
    keys = BATCH_KEYS
    if getattr(spec, "focus", None) is not None:
        shapes["focus_label"], keys = (fh, fw), BATCH_KEYS + (FOCUS_KEY,)
    layout = {key: ((batch_size,) + shapes[key], np.dtype(np.float32)) for key in keys}
    if getattr(spec, "masks", None) is not None:
        grid = spec.masks.grid
        layout["gt_mask_frames"] = ((batch_size, spec.max_gts, 4), np.dtype(np.float32))
        layout["gt_mask_grids"] = ((batch_size, spec.max_gts, grid, grid), np.dtype(np.uint8))
    return layout


def layout_nbytes(layout):
    """Total bytes of the arrays of a layout."""
    return sum(int(np.prod(shape)) * dtype.itemsize for shape, dtype in layout.values())


def batch_views(layout, buffer):
    """Arrays of `layout` laid one after the other in `buffer` (bytes-like, >= layout_nbytes): name -> view."""
    views, offset = {}, 0
    for key, (shape, dtype) in layout.items():
        count = int(np.prod(shape))
        views[key] = np.frombuffer(buffer, dtype=dtype, count=count, offset=offset).reshape(shape)
        offset += count * dtype.itemsize
    return views


def batchify(chip_dicts, out=None):
    """Stack per-chip dicts (as from `load_chip`) along a new first axis.

    With `out` (name -> (B, ...) arrays, e.g. shared-memory views), write into it and return it;
    otherwise return new arrays.
    """
    keys = [key for key in BATCH_KEYS + (FOCUS_KEY,) + MASK_KEYS if key in chip_dicts[0]]
    if out is None:
        return {key: np.stack([chip[key] for chip in chip_dicts]) for key in keys}
    for k, chip in enumerate(chip_dicts):
        for key in keys:
            out[key][k] = chip[key]
    return out
