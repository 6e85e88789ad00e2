"""Instance segmentations of roidb records, kept compact: COCO polygons or a compressed RLE per gt box.

One gt's segmentation (`segm`) is either
- a list of polygons, each a float32 array [x1, y1, x2, y2, ...] of at least 3 points in image pixels
  (continuous coordinates: COCO's rasteriser fills pixel c when about its centre c + 0.5 lies inside); an
  empty list is a gt without a usable polygon, whose mask is empty, as in the original's loader;
- a compressed RLE dict {"size": [height, width], "counts": bytes} (pycocotools), covering whole pixels.
pycocotools reads and writes the RLEs; the polygons are rasterised where they are used (lib/data/mask_targets.py).
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


def flip_segm(segm, width):
    """The horizontally mirrored segm of an image `width` px wide.

    Polygons: x -> width - x - 1, the original's formula (lib/dataset/imdb.py:221-224), the same as its box
    flip of inclusive pixels; on continuous polygon coordinates it lands the mask 1 px left of the mirrored
    image pixels (the exact mirror would be width - x). An RLE is mirrored pixel for pixel, like the image.
    """
    if isinstance(segm, dict):
        rle = mask_api.encode(np.asfortranarray(mask_api.decode(segm)[:, ::-1]))
        return {"size": list(segm["size"]), "counts": rle["counts"]}
    flipped = []
    for poly in segm:
        poly = poly.copy()
        poly[0::2] = width - poly[0::2] - 1
        flipped.append(poly)
    return flipped
