"""Test oracle: the original's chip worker re-stated in plain Python loops, to check lib/chips against.

A readable twin written from the original's code (SNIPER repository), not imported from it:
- `generate`: lib/chips/chip_generator.py `_pygenerate` (lines 29-93; `cgenerate` in lib/chips/cchips.cpp is the
  same algorithm), with the candidate shuffle drawn from `rng` instead of the process's generator, and the C++
  early return for an empty box list (cchips.cpp line 56) so that both sides draw the same permutations;
- `chip_extractor` and `box_assigner`: lib/data_utils/data_workers.py lines 394-450 and 452-594.
Boxes are the gts followed by the proposals (the original's merged roidb; gt rows have max_overlaps == 1).

    python -m tests.original_chips_oracle   # per-scale chips per image on data/shapes, oracle vs lib/chips
"""
import math

import numpy as np


def clip_to_shape(boxes, shape):
    """lib/bbox/bbox_transform.py clip_boxes: x to [0, shape[1] - 1], y to [0, shape[0] - 1]."""
    boxes = boxes.copy()
    boxes[:, 0::2] = np.maximum(np.minimum(boxes[:, 0::2], shape[1] - 1), 0)
    boxes[:, 1::2] = np.maximum(np.minimum(boxes[:, 1::2], shape[0] - 1), 0)
    return boxes


def ignore_overlaps(boxes, query_boxes):
    """lib/bbox/bbox.pyx ignore_overlaps_cython: (N, K) intersection (+1) / area of query box k (+1), 0 when
    the boxes do not intersect (the loops written with numpy broadcasting)."""
    b, q = np.asarray(boxes, float)[:, None, :], np.asarray(query_boxes, float)[None, :, :]
    area = (q[..., 2] - q[..., 0] + 1) * (q[..., 3] - q[..., 1] + 1)
    iw = np.minimum(b[..., 2], q[..., 2]) - np.maximum(b[..., 0], q[..., 0]) + 1
    ih = np.minimum(b[..., 3], q[..., 3]) - np.maximum(b[..., 1], q[..., 1]) + 1
    return np.where((iw > 0) & (ih > 0), iw * ih / area, 0.0)


def generate(boxes, width, height, chipsize, stride, rng):
    """chip_generator._pygenerate: greedy cover of `boxes` by candidate chips (scaled frame)."""
    if len(boxes) == 0:
        return []
    boxes = clip_to_shape(np.asarray(boxes, dtype=float), np.array([height - 1, width - 1]))
    chips = [[max(width - chipsize, 0), 0, width - 1, min(chipsize, height - 1)],
             [0, max(height - chipsize, 0), min(chipsize, width - 1), height - 1],
             [max(width - chipsize, 0), max(height - chipsize, 0), width - 1, height - 1]]
    for i in range(0, width - int(chipsize), stride):
        for j in range(0, height - int(chipsize), stride):
            chips.append([i, j, i + chipsize - 1, j + chipsize - 1])
    for j in range(0, height - int(chipsize), stride):
        chips.append([max(width - chipsize - 1, 0), j, width - 1, j + chipsize - 1])
    for i in range(0, width - int(chipsize), stride):
        chips.append([i, max(height - chipsize - 1, 0), i + chipsize - 1, height - 1])
    chips = np.array(chips).astype(float)
    chips = chips[rng.permutation(chips.shape[0])]
    overlaps = ignore_overlaps(chips, boxes)
    chip_matches = [set(np.where(overlaps[j, :] == 1)[0].tolist()) for j in range(len(chips))]
    fchips = []
    while True:
        num_matches = [len(m) for m in chip_matches]
        if max(num_matches) == 0:
            break
        best = chip_matches[int(np.argmax(np.array(num_matches)))]
        fchips.append(chips[int(np.argmax(np.array(num_matches)))])
        chip_matches = [m - best for m in chip_matches]
    return fchips


def im_scales(width, height, scales):
    """The per-scale factors of chip_extractor / box_assigner (both forms)."""
    im_size_max, im_size_min = max(width, height), min(width, height)
    out = []
    for i, im_scale in enumerate(scales):
        if isinstance(im_scale, (tuple, list)):
            min_target, max_target = im_scale
            if min_target > 0:
                scale = float(min_target) / float(im_size_min)
                if max_target > 0 and np.round(scale * im_size_max) > max_target:
                    scale = float(max_target) / float(im_size_max)
            else:
                scale = float(max_target) / float(im_size_max)
            out.append(scale)
        else:
            out.append(im_scale / float(im_size_max) if i == len(scales) - 1 else im_scale)
    return out


def chip_extractor(width, height, gt_boxes, scales, valid_ranges, chip_size, stride, rng):
    """data_workers.chip_worker.chip_extractor -> [[chip (4,), im_scale, h, w, scale index]]."""
    ws = (gt_boxes[:, 2] - gt_boxes[:, 0]).astype(np.int32)
    hs = (gt_boxes[:, 3] - gt_boxes[:, 1]).astype(np.int32)
    area = np.sqrt(ws * hs)
    ms = np.maximum(ws, hs)
    chip_ar = []
    n = len(scales)
    for i, im_scale in enumerate(im_scales(width, height, scales)):
        if i == n - 1:
            ids = np.where(area >= valid_ranges[i][0])[0]
        elif i == 0:
            ids = np.where((area < valid_ranges[i][1]) & (ms < (chip_size - stride - 1) / im_scale)
                           & (ws >= 2) & (hs >= 2))[0]
        else:
            ids = np.where((area >= valid_ranges[i][0]) & (area < valid_ranges[i][1])
                           & (ms < (chip_size - stride - 1) / im_scale))[0]
        cur = generate(gt_boxes[ids, :] * im_scale, int(width * im_scale), int(height * im_scale), chip_size,
                       stride, rng)
        for chip in np.array(cur) / im_scale:
            size = (chip_size, chip_size) if i != n - 1 else (int(height * im_scale), int(width * im_scale))
            chip_ar.append([chip, im_scale, size[0], size[1], i])
    return chip_ar


def _assign(chips, chip_ids, boxes, box_ids, is_coarsest, lo, hi, strict, into):
    """The max-overlap assignment loop of box_assigner (positive: <= hi, negative: < hi)."""
    overlaps = ignore_overlaps(chips, boxes)
    covered = np.zeros(len(boxes), dtype=bool)
    for pi, cid in enumerate(overlaps.argmax(axis=0)):
        chip, box = chips[cid], boxes[pi]
        x1, x2, y1, y2 = max(chip[0], box[0]), min(chip[2], box[2]), max(chip[1], box[1]), min(chip[3], box[3])
        side = math.sqrt(abs((x2 - x1) * (y2 - y1)))
        if is_coarsest:
            ok = x2 - x1 >= 1 and y2 - y1 >= 1 and side >= lo
        else:
            ok = x2 - x1 >= 1 and y2 - y1 >= 1 and (side < hi if strict else side <= hi)
        if ok:
            into[chip_ids[cid]].append(box_ids[pi])
            covered[pi] = True
    return covered


def box_assigner(width, height, boxes, crops, scales, valid_ranges, chip_size, stride, rng):
    """data_workers.chip_worker.box_assigner with USE_NEG_CHIPS.

    -> (props_in_chips per crop, negative chips [[chip, im_scale, h, w, i]], their box ids).
    """
    widths = (boxes[:, 2] - boxes[:, 0]).astype(np.int32)
    heights = (boxes[:, 3] - boxes[:, 1]).astype(np.int32)
    max_sizes = np.maximum(widths, heights)
    area = np.sqrt(widths * heights)
    factors = im_scales(width, height, scales)
    n = len(factors)
    props_in_chips = [[] for _ in crops]
    all_chips = [np.array([c[0] for c in crops if c[4] == i]) for i in range(n)]
    all_chip_ids = [[ci for ci, c in enumerate(crops) if c[4] == i] for i in range(n)]
    valid_ids = []
    for i, im_scale in enumerate(factors):
        if i == n - 1:
            valid_ids.append(np.where(area >= valid_ranges[i][0])[0])
        else:  # no lower bound here, even at intermediate scales
            valid_ids.append(np.where((area < valid_ranges[i][1]) & (max_sizes < (chip_size - stride - 1) / im_scale)
                                      & (widths >= 2) & (heights >= 2))[0])
    valid_boxes = [boxes[ids].astype(float) for ids in valid_ids]
    covered = [np.zeros(len(b), dtype=bool) for b in valid_boxes]
    for i in range(n):
        if all_chips[i].shape[0] > 0:
            covered[i] = _assign(all_chips[i], all_chip_ids[i], valid_boxes[i], valid_ids[i], i == n - 1,
                                 valid_ranges[i][0], valid_ranges[i][1], False, props_in_chips)
    rem_boxes = [valid_boxes[i][~covered[i]] for i in range(n)]
    rem_ids = [valid_ids[i][~covered[i]] for i in range(n)]
    neg_chips, neg_props, neg_chip_ids, first = [], [], [], 0
    for i, im_scale in enumerate(factors):
        cur = generate(rem_boxes[i] * im_scale, int(width * im_scale), int(height * im_scale), chip_size, stride,
                       rng)
        neg_chips.append(np.array(cur, dtype=float) / im_scale)
        neg_props += [[] for _ in cur]
        neg_chip_ids.append(np.arange(first, first + len(cur)))
        first += len(cur)
    for i in range(n):
        if neg_chips[i].shape[0] > 0:
            _assign(neg_chips[i], neg_chip_ids[i], rem_boxes[i], rem_ids[i], i == n - 1, valid_ranges[i][0],
                    valid_ranges[i][1], True, neg_props)
    final_chips, final_props, counter = [], [], 0
    for i, chips in enumerate(neg_chips):
        for chip in chips:
            if len(neg_props[counter]) > 25 or (len(neg_props[counter]) > 10 and i != 0):
                final_props.append(np.array(neg_props[counter], dtype=int))
                size = (chip_size, chip_size) if i != n - 1 else (int(height * factors[i]), int(width * factors[i]))
                final_chips.append([chip, factors[i], size[0], size[1], i])
            counter += 1
    return [np.array(p, dtype=np.int32) for p in props_in_chips], final_chips, final_props


def original_chips(width, height, gt_boxes, proposals, scales, valid_ranges, chip_size, stride, rng):
    """chip_extractor then box_assigner on one image -> (crops, props_in_chips, neg_chips, neg_props)."""
    gt_boxes = np.asarray(gt_boxes, dtype=float).reshape(-1, 4)
    boxes = np.concatenate([gt_boxes, np.asarray(proposals, dtype=float).reshape(-1, 4)])
    crops = chip_extractor(width, height, gt_boxes, scales, valid_ranges, chip_size, stride, rng)
    return (crops,) + tuple(box_assigner(width, height, boxes, crops, scales, valid_ranges, chip_size, stride, rng))


def _shapes_table(max_images=400, n_props=300, seed=0):
    """Chips per image and scale on data/shapes train with synthetic proposals: oracle, lib/chips now and with
    TRAIN.ASSIGN_LOWER_BOUND_ALL_SCALES."""
    from lib.chips import sample_chips
    from lib.chips.synthetic import synthetic_proposals
    from lib.config import load_config
    from lib.dataset import load_dataset
    cfg = load_config("configs/faster/sniper_res101_e2e.yml",
                      ["dataset.dataset", "shapes", "dataset.dataset_path", "./data/shapes", "dataset.image_set",
                       "train", "dataset.NUM_CLASSES", "6"])
    scales, ranges, stride = tuple(cfg.TRAIN.SCALES), tuple(cfg.TRAIN.VALID_RANGES), 56
    records = load_dataset(cfg, "train").records[:max_images]
    counts = {k: np.zeros((2, 3)) for k in ("oracle", "default", "opt-in")}
    for index, r in enumerate(records):
        props = synthetic_proposals(np.random.default_rng([seed, index]), r.boxes, n_props, r.width, r.height)
        crops, _, neg, _ = original_chips(r.width, r.height, r.boxes, props, scales, ranges, 512, stride,
                                          np.random.default_rng([seed, index, 1]))
        for c in crops:
            counts["oracle"][0, c[4]] += 1
        for c in neg:
            counts["oracle"][1, c[4]] += 1
        for key, flag in (("default", False), ("opt-in", True)):
            chips = sample_chips(r.width, r.height, r.boxes, scales, ranges, 512, stride, props,
                                 np.random.default_rng([seed, index, 1]), lower_bound_all_scales=flag)
            for row, group in enumerate((chips.positive, chips.negative)):
                for c in group:
                    counts[key][row, c.scale_index] += 1
    print("%d shapes train images, %d synthetic proposals each, stride %d" % (len(records), n_props, stride))
    for key, table in counts.items():
        t = table / max(len(records), 1)
        print("%-8s positive %s  negative candidates %s" % (key, np.round(t[0], 3), np.round(t[1], 3)))


if __name__ == "__main__":
    _shapes_table()
