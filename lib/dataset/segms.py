"""Instance segmentations of roidb records, kept compact: COCO polygons or a compressed RLE per gt box.

One gt's segmentation (`segm`) is either
- a list of polygons, each a float32 array [x1, y1, x2, y2, ...] of at least 3 points in image pixels
  (continuous coordinates: COCO's rasteriser fills pixel c when about its centre c + 0.5 lies inside); an
  empty list is a gt without a usable polygon, whose mask is empty, as in the original's loader;
- a compressed RLE dict {"size": [height, width], "counts": bytes} (pycocotools), covering whole pixels.
pycocotools reads and writes the RLEs; the polygons are rasterised where they are used (lib/data/mask_targets.py).
An RLE is mirrored and sampled through its runs (`rle_runs`), never decoded to the full image: decoding takes
~10 ms for a 2000 px image, per gt and per use.
"""
import numpy as np
from pycocotools import mask as mask_api

MIN_POLYGON_LEN = 6  # the original keeps polygons of >= 6 numbers (3 points) only (lib/dataset/coco.py:253)


def read_segmentation(segmentation, height, width):
    """A COCO annotation's `segmentation` (polygon list, RLE with string counts, or uncompressed RLE with a
    list of counts, the crowd format) -> segm as above.

    Raises ValueError with the reason when it is malformed or its RLE size is not [height, width].
    """
    if isinstance(segmentation, list):
        polygons = []
        for poly in segmentation:
            if not isinstance(poly, list) or not all(isinstance(v, (int, float)) for v in poly):
                raise ValueError("a polygon is not a list of numbers")
            array = np.asarray(poly, dtype=np.float32)
            if len(array) % 2 or not np.isfinite(array).all():
                raise ValueError("a polygon has an odd number of coordinates or a non-finite one")
            if len(array) >= MIN_POLYGON_LEN:
                polygons.append(array)
        return polygons
    if not isinstance(segmentation, dict) or "counts" not in segmentation or "size" not in segmentation:
        raise ValueError("neither a polygon list nor an RLE dict with 'size' and 'counts'")
    if list(segmentation["size"]) != [height, width]:
        raise ValueError("RLE size %r differs from the image's [height, width] = [%d, %d]"
                         % (segmentation["size"], height, width))
    counts = segmentation["counts"]
    try:
        if isinstance(counts, list):
            rle = mask_api.frPyObjects(segmentation, height, width)
        else:
            rle = {"size": [height, width], "counts": counts.encode("ascii") if isinstance(counts, str) else counts}
            mask_api.area(rle)  # parses the counts
    except (TypeError, ValueError, UnicodeEncodeError) as e:
        raise ValueError("unreadable RLE counts (%s)" % e) from None
    return {"size": [height, width], "counts": rle["counts"]}


def _rle_counts(counts):
    """Run lengths (zeros first) from COCO's compressed counts string: each count in 5-bit groups offset by 48,
    0x20 marks a continuation, 0x10 in a count's last group its sign, and each count after the second is stored
    as the difference from the count two before (maskApi.c rleFrString; pycocotools has no Python call for it).
    """
    groups = np.frombuffer(counts, dtype=np.uint8).astype(np.int64) - 48
    if not len(groups):
        return groups
    last = (groups & 0x20) == 0  # the last group of each count
    ends_before = np.concatenate([[True], last[:-1]])  # a count starts after the last group of the one before
    first = np.flatnonzero(ends_before)
    owner = np.cumsum(ends_before) - 1
    shift = 5 * (np.arange(len(groups)) - first[owner])
    values = np.add.reduceat((groups & 0x1F) << shift, first)
    negative = (groups[last] & 0x10) != 0
    values[negative] -= 1 << (shift[last][negative] + 5)
    values[1::2] = np.cumsum(values[1::2])
    values[2::2] = np.cumsum(values[2::2])
    return values


def rle_runs(rle):
    """The runs of mask pixels of a compressed RLE -> (starts, ends) int64, [start, end) in column-major
    pixel order (index x * height + y), sorted."""
    bounds = np.cumsum(_rle_counts(rle["counts"]))
    return bounds[0:-1:2], bounds[1::2]


def runs_to_rle(starts, ends, height, width):
    """Sorted, disjoint runs (as `rle_runs`) -> compressed RLE dict (pycocotools compresses the counts)."""
    bounds = np.stack([starts, ends], axis=1).ravel()
    counts = np.diff(np.concatenate([[0], bounds, [height * width]])).tolist()
    if len(counts) > 1 and counts[-1] == 0:
        counts.pop()  # no empty last run, as pycocotools' encode
    return {"size": [height, width], "counts": mask_api.frPyObjects({"size": [height, width], "counts": counts},
                                                                   height, width)["counts"]}


def _mirrored_runs(starts, ends, height, width):
    """Runs of the horizontally mirrored mask: runs cut at column ends, columns x -> width - 1 - x, re-sorted
    and touching pieces joined."""
    if not len(starts):
        return starts, ends
    first, last = starts // height, (ends - 1) // height
    pieces = last - first + 1
    run = np.repeat(np.arange(len(starts)), pieces)
    column = first[run] + np.arange(pieces.sum()) - np.repeat(np.cumsum(pieces) - pieces, pieces)
    y0 = np.maximum(starts[run], column * height) - column * height
    y1 = np.minimum(ends[run], (column + 1) * height) - column * height
    base = (width - 1 - column) * height
    order = np.argsort(base + y0, kind="stable")
    new_starts, new_ends = (base + y0)[order], (base + y1)[order]
    apart = new_starts[1:] != new_ends[:-1]
    return new_starts[np.concatenate([[True], apart])], new_ends[np.concatenate([apart, [True]])]


def flip_segm(segm, width):
    """The horizontally mirrored segm of an image `width` px wide.

    Polygons: x -> width - x - 1, the original's formula (lib/dataset/imdb.py:221-224), the same as its box
    flip of inclusive pixels; on continuous polygon coordinates it lands the mask 1 px left of the mirrored
    image pixels (the exact mirror would be width - x). An RLE is mirrored pixel for pixel, like the image.
    """
    if isinstance(segm, dict):
        height = segm["size"][0]
        return runs_to_rle(*_mirrored_runs(*rle_runs(segm), height, width), height, width)
    flipped = []
    for poly in segm:
        poly = poly.copy()
        poly[0::2] = width - poly[0::2] - 1
        flipped.append(poly)
    return flipped
