"""Test batches of image parts: AutoFocus chips and tiles (the original's `MNIteratorTestAutoFocus` batching).

A piece is what one network input row holds: a `unit` of an image (the whole image [0, 0, W, H] or a focus
chip, half-open in original pixels), resized by the image's factor s of the scale (from the whole image's size,
as the original), and optionally one tile `window` of that resized unit. A unit has whole-pixel corners
(`pixel_unit`); its pixels are the original rows y1:y2 and columns x1:x2 resized by s (OpenCV INTER_LINEAR, as
a whole test image); a tile is a window of that resized unit, so tiles of a whole image hold exactly the
whole-image input's pixels.

Batches: untiled pieces are sorted by area and split into landscape then portrait groups (as the original's
iterator, lib/iterators/MNIteratorTestAutoFocus.py, `reset`); tiled pieces stay in unit order, so each unit is
resized once. A batch's canvas is the largest piece; pieces sit top-left, zeros elsewhere.
"""
import math
from collections import OrderedDict
from dataclasses import dataclass

import cv2
import numpy as np

from lib.chips.tiles import tile_windows
from lib.data.image import paste_network_image
from lib.inference.pyramid import orientation_groups

IMAGE_CACHE_BYTES = 512 << 20  # decoded images kept while a scale's pieces are prepared


@dataclass(frozen=True)
class Piece:
    """One network input row. item: index into the pipeline's items; unit: (x1, y1, x2, y2) original px;
    scale: s; windows: (K, 4) int tiles [x1, y1, x2, y2) of the resized unit, or None (the whole unit);
    tile: the index of this piece's window in `windows`."""
    item: int
    unit: tuple
    scale: float
    windows: np.ndarray = None
    tile: int = 0

    @property
    def resized_unit(self):
        """(width, height) of the resized unit: OpenCV's size for fx = fy = s (round half to even)."""
        x1, y1, x2, y2 = (int(v) for v in self.unit)
        return int(np.rint((x2 - x1) * self.scale)), int(np.rint((y2 - y1) * self.scale))

    @property
    def size(self):
        """(width, height) of the network input content."""
        if self.windows is None:
            return self.resized_unit
        x1, y1, x2, y2 = self.windows[self.tile]
        return int(x2 - x1), int(y2 - y1)


def pixel_unit(unit, width, height):
    """A unit (x1, y1, x2, y2) in original px -> the whole pixels it touches, (floor x1, floor y1, ceil x2,
    ceil y2) inside the width x height image: the rows and columns a piece crops, so that its detections are
    placed back by the same offset (focus chips have fractional corners)."""
    x1, y1, x2, y2 = (float(v) for v in unit)
    return (float(max(math.floor(x1), 0)), float(max(math.floor(y1), 0)), float(min(math.ceil(x2), width)),
            float(min(math.ceil(y2), height)))


def unit_pieces(item, unit, scale, *, tile_size, tile_overlap):
    """The pieces of one unit: itself, or one per tile of its resized extent when tile_size > 0."""
    piece = Piece(item, tuple(float(v) for v in unit), float(scale))
    if tile_size <= 0:
        return [piece]
    width, height = piece.resized_unit
    windows = tile_windows(max(width, 1), max(height, 1), tile_size, tile_overlap)
    return [Piece(piece.item, piece.unit, piece.scale, windows, k) for k in range(len(windows))]


def plan_piece_batches(pieces, batch_size, *, sort):
    """Lists of piece indices, batch_size each (a group's last may be short); sort: by area, landscape first."""
    order = list(range(len(pieces)))
    if sort:
        landscape, portrait = orientation_groups([p.size for p in pieces])
        order = landscape + portrait
    return [order[k:k + batch_size] for k in range(0, len(order), batch_size)]


class PieceReader:
    """Decoded images (a byte-bounded LRU) and the last resized unit, for one scale's batch preparation."""

    def __init__(self, items, read):
        self.items, self.read = items, read
        self.images, self.resized_key, self.resized_pixels = OrderedDict(), None, None

    def image(self, index):
        """HxWx3 uint8 BGR pixels of item `index`."""
        if index in self.images:
            self.images.move_to_end(index)
            return self.images[index]
        pixels = self.read(self.items[index])
        self.images[index] = pixels
        while len(self.images) > 1 and sum(a.nbytes for a in self.images.values()) > IMAGE_CACHE_BYTES:
            self.images.popitem(last=False)
        return pixels

    def unit(self, piece):
        """The unit's original pixels (a view)."""
        x1, y1, x2, y2 = (int(v) for v in piece.unit)
        return self.image(piece.item)[y1:y2, x1:x2]

    def resized_unit(self, piece):
        """The unit resized by s, uint8 (kept until another unit is asked for)."""
        key = (piece.item, piece.unit, piece.scale)
        if key != self.resized_key:
            self.resized_key, self.resized_pixels = None, None  # free the previous one first
            self.resized_pixels = cv2.resize(np.ascontiguousarray(self.unit(piece)), None, fx=piece.scale,
                                             fy=piece.scale, interpolation=cv2.INTER_LINEAR)
            self.resized_key = key
        return self.resized_pixels


def prepare_pieces(reader, pieces, pixel_means):
    """Network input of a batch of pieces: data (B, 3, H, W) float32, im_info (B, 3) rows (h, w, s)."""
    height = max(p.size[1] for p in pieces)
    width = max(p.size[0] for p in pieces)
    data = np.zeros((len(pieces), 3, height, width), dtype=np.float32)
    im_info = np.zeros((len(pieces), 3), dtype=np.float32)
    for k, piece in enumerate(pieces):
        if piece.windows is None:
            h, w = paste_network_image(np.ascontiguousarray(reader.unit(piece)), piece.scale, pixel_means, data[k])
        else:
            x1, y1, x2, y2 = (int(v) for v in piece.windows[piece.tile])
            tile = np.ascontiguousarray(reader.resized_unit(piece)[y1:y2, x1:x2])
            h, w = paste_network_image(tile, 1.0, pixel_means, data[k])
        im_info[k] = (h, w, piece.scale)
    return data, im_info


def focus_cells(prob, im_info, stride):
    """(2, fh, fw) focus softmax of a padded batch row -> (ceil(h / stride), ceil(w / stride)) focus-class map."""
    h, w = float(im_info[0]), float(im_info[1])
    return np.asarray(prob)[1, :int(math.ceil(h / stride)), :int(math.ceil(w / stride))]
