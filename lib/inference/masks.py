"""Instance masks of the final detections (after the scale merge), pasted into the image and encoded as COCO RLE.

The original has no mask inference (its mask symbol's test branch stops at the boxes); this is the port's rule:
1. each final box is sent to the finest test scale whose valid range holds it (every final box came from a
   scale where it is valid; the finest of those gives the 14 x 14 pooling the most feature cells: with the
   coarsest, a box at the low end of the coarsest range is ~13 px there, under one feature cell, and the
   quickstart's mask AP was 0.318 against 0.497 box AP);
2. per image and chosen scale, the whole image at that scale goes through the backbone and the mask head
   (lib.model.mask_head.MaskPredictor) with the boxes in that scale's pixels -> 28 x 28 probabilities of the
   box's class;
3. each 28 x 28 grid is pasted back: the grid covers the box [x1, x2) x [y1, y2) in continuous image
   coordinates (pixel p covers [p, p + 1)), as the training targets' cells (lib/data/mask_targets.py); every
   pixel of the box takes the bilinear value at its centre, mask where >= 0.5;
4. the image-sized mask is RLE-encoded by pycocotools (counts as a str, json-ready).

Layout: masks[image][cls] -> list of RLE dicts, one per row of dets[image][cls] (lib/inference/detections.py).
"""
import cv2
import mxnet as mx
import numpy as np
from pycocotools import mask as mask_api
from tqdm import tqdm

from lib.geometry.boxes import tester_valid_range_mask
from lib.inference.pyramid import plan_batches, prepare_batch
from lib.model.mask_head import MASK_SIZE

MASK_THRESH = 0.5


def mask_scale_indices(boxes, valid_ranges):
    """(D, 4+) original-px boxes, one (lo, hi) per scale (finest first) -> (D,) int: the first (finest) scale
    whose valid range (the tester's rule) holds each box; the coarsest scale when none does."""
    chosen = np.full(len(boxes), len(valid_ranges) - 1, dtype=np.int64)
    if len(boxes):
        for index in range(len(valid_ranges) - 1, -1, -1):  # earlier (finer) scales overwrite
            chosen[tester_valid_range_mask(boxes, valid_ranges[index])] = index
    return chosen


def paste_mask(probs, box, height, width, thresh=MASK_THRESH):
    """One box's (S, S) probabilities -> (height, width) uint8 mask of the image.

    box: (x1, y1, x2, y2) original px; the grid spans [x1, x2) x [y1, y2) (at least 1 px a side); pixel (i, j)
    of the box reads the grid at cell coordinates ((j + 0.5 - x1) S / w - 0.5, (i + 0.5 - y1) S / h - 0.5),
    bilinearly, edge cells extended.
    """
    size = probs.shape[0]
    x1, y1, x2, y2 = (float(v) for v in box[:4])
    w, h = max(x2 - x1, 1.0), max(y2 - y1, 1.0)
    c0, c1 = max(int(np.floor(x1)), 0), min(int(np.ceil(x1 + w)), width)
    r0, r1 = max(int(np.floor(y1)), 0), min(int(np.ceil(y1 + h)), height)
    out = np.zeros((height, width), np.uint8, order="F")  # column-major, as RLE encoding reads it
    if c1 <= c0 or r1 <= r0:
        return out
    map_x = ((np.arange(c0, c1) + 0.5 - x1) * size / w - 0.5).astype(np.float32)
    map_y = ((np.arange(r0, r1) + 0.5 - y1) * size / h - 0.5).astype(np.float32)
    map_x, map_y = np.meshgrid(map_x, map_y)
    values = cv2.remap(np.asarray(probs, np.float32), map_x, map_y, cv2.INTER_LINEAR,
                       borderMode=cv2.BORDER_REPLICATE)
    out[r0:r1, c0:c1] = values >= thresh
    return out


def encode_mask(mask):
    """(H, W) uint8 -> COCO RLE dict {"size": [H, W], "counts": str}."""
    rle = mask_api.encode(np.asfortranarray(mask, dtype=np.uint8))
    rle["counts"] = rle["counts"].decode("ascii")
    return rle


def flat_detections(image_dets):
    """dets[cls] (n_c, 5) -> (boxes (D, 4), classes (D,) int) over the classes in order."""
    rows = [(d[:, :4], np.full(len(d), c)) for c, d in enumerate(image_dets) if len(d)]
    if not rows:
        return np.zeros((0, 4), np.float32), np.zeros(0, np.int64)
    return np.concatenate([r[0] for r in rows]), np.concatenate([r[1] for r in rows])


class MaskStage:
    """The mask stage of the inference pipeline: predictor (MaskPredictor on one device), pyramid (its
    TestPyramidSpec), read(item) -> BGR pixels, max_boxes: boxes per forward (the per-image cap)."""

    def __init__(self, predictor, context, *, pyramid, read, max_boxes=100):
        self.predictor, self.context, self.pyramid, self.read = predictor, context, pyramid, read
        self.max_boxes = max(int(max_boxes), 1)

    def probabilities(self, item, scale_index, boxes, classes):
        """(D, 4) original-px boxes of one item at one scale -> (D, 28, 28) probabilities."""
        spec = self.pyramid
        batch = plan_batches([item], spec.scales[scale_index], 1, is_last=spec.is_last(scale_index))[0]
        data, im_info, _ = prepare_batch([item], batch, spec.pixel_means, self.read)
        scale = float(im_info[0, 2])
        out = []
        for k in range(0, len(boxes), self.max_boxes):  # fixed-size chunks: one graph shape
            chunk = np.zeros((self.max_boxes, 4), np.float32)
            chunk_cls = np.ones(self.max_boxes, np.float32)
            n = min(self.max_boxes, len(boxes) - k)
            chunk[:n], chunk_cls[:n] = boxes[k:k + n] * scale, classes[k:k + n]
            probs = self.predictor(mx.nd.array(data, ctx=self.context), mx.nd.array(chunk[None], ctx=self.context),
                                   mx.nd.array(chunk_cls[None], ctx=self.context))
            out.append(probs.asnumpy()[0, :n])
        return np.concatenate(out) if out else np.zeros((0, MASK_SIZE, MASK_SIZE), np.float32)

    def image_masks(self, item, image_dets):
        """One image's final dets[cls] -> masks[cls]: lists of RLE dicts, one per detection row."""
        boxes, classes = flat_detections(image_dets)
        probs = np.zeros((len(boxes), MASK_SIZE, MASK_SIZE), np.float32)
        scales = mask_scale_indices(boxes, self.pyramid.valid_ranges)
        for index in np.unique(scales):
            rows = np.flatnonzero(scales == index)
            probs[rows] = self.probabilities(item, int(index), boxes[rows], classes[rows])
        rles = [encode_mask(paste_mask(p, b, item.height, item.width)) for p, b in zip(probs, boxes)]
        out, start = [], 0
        for d in image_dets:
            out.append(rles[start:start + len(d)])
            start += len(d)
        return out

    def run(self, items, detections, progress=True):
        """masks[image][cls] of every item's final detections (dets[image][cls])."""
        return [self.image_masks(item, dets)
                for item, dets in tqdm(list(zip(items, detections)), desc="masks", unit="img", disable=not progress)]
