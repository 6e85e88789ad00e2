"""Per-scale batching of whole test images (the original's `MNIteratorTestAutoFocus`), numpy + OpenCV only.

For one test scale, a (min_t, max_t) pair or a factor-form entry (lib/chips/scales.py, the rule of TRAIN.SCALES:
a factor, the last entry of the list a long side in px): every image is resized whole by its factor s;
the images are sorted by area (ascending, stable), split into landscape (w >= h) then portrait groups, and
each group is cut into batches of B images. A batch's canvas is (max ceil(h*s), max ceil(w*s)) over its images;
each image sits top-left, RGB minus the pixel means, zeros elsewhere. A group's last batch may be short
(the reference padded it by repeating entries, whose outputs were then discarded).
"""
import math
from dataclasses import dataclass

import numpy as np

from lib.chips.scales import scale_factor
from lib.data.image import paste_network_image, read_record_image


@dataclass
class TestBatch:
    """One batch of whole images at one scale.

    indices: (B,) int record indices (into the list given to `plan_batches`).
    scales: (B,) float64 resize factors s.
    canvas: (height, width) of the padded batch in resized pixels.
    """
    indices: np.ndarray
    scales: np.ndarray
    canvas: tuple


def _make_batch(records, indices, scale, is_last):
    scales = np.array([scale_factor(records[i].width, records[i].height, scale, is_last) for i in indices])
    height = max(math.ceil(records[i].height * s) for i, s in zip(indices, scales))
    width = max(math.ceil(records[i].width * s) for i, s in zip(indices, scales))
    return TestBatch(np.asarray(indices, dtype=np.int64), scales, (int(height), int(width)))


def orientation_groups(sizes):
    """(width, height) per item -> (landscape, portrait) index lists, each by ascending area (stable): the
    tester's order, so that a batch's padded canvas wastes little."""
    areas = np.array([w * h for w, h in sizes], dtype=np.float64)
    order = [int(i) for i in np.argsort(areas, kind="stable")]
    return [i for i in order if sizes[i][0] >= sizes[i][1]], [i for i in order if sizes[i][0] < sizes[i][1]]


def plan_batches(records, scale, batch_size, *, is_last=False):
    """The batches of one test scale, landscape group first.

    records: ImageRecords (width, height used). scale: (min_t, max_t), or a factor-form entry (a factor; with
    is_last, the last entry of TEST.SCALES, the long side in px). batch_size: B >= 1.
    Returns a list of TestBatch covering every record exactly once.
    """
    if batch_size < 1:
        raise ValueError("config key TEST.BATCH_IMAGES: batch size must be >= 1, got %d" % batch_size)
    landscape, portrait = orientation_groups([(r.width, r.height) for r in records])
    return [_make_batch(records, group[k:k + batch_size], scale, is_last)
            for group in (landscape, portrait) for k in range(0, len(group), batch_size)]


def read_uncached(record):
    """A record's image for the tester (each is read once per scale): `read_record_image` without the cache."""
    return read_record_image(record, cached=False)


def prepare_batch(records, batch, pixel_means, read=read_uncached):
    """The network input of one TestBatch.

    records: items with width and height; read(item) -> its HxWx3 uint8 BGR image (default: an ImageRecord's
    file, mirrored when flipped; DatasetError naming the file when it is unreadable, truncated or of another size).
    pixel_means: BGR, as cfg.network.PIXEL_MEANS.
    Returns data (B, 3, H, W) float32 RGB minus means, zero-padded bottom/right to the canvas;
    im_info (B, 3) float32 rows [h_resized, w_resized, s]; indices (B,) the record indices.
    """
    height, width = batch.canvas
    data = np.zeros((len(batch.indices), 3, height, width), dtype=np.float32)
    im_info = np.zeros((len(batch.indices), 3), dtype=np.float32)
    for k, (i, s) in enumerate(zip(batch.indices, batch.scales)):
        h, w = paste_network_image(read(records[i]), s, pixel_means, data[k])
        im_info[k] = (h, w, s)
    return data, im_info, batch.indices
