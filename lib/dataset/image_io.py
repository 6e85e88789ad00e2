"""Reading images for the datasets, loaders, tester and demo: always HxWx3 uint8 BGR, or a DatasetError naming
the file.

OpenCV decodes a truncated JPEG without an error (libjpeg fills the missing rows with grey and only prints
"Premature end of JPEG file"), so the file's structure is checked first: a JPEG must reach its end-of-image
marker, a PNG its IEND chunk. Both checks only walk the segment / chunk headers (cheap next to the decode).
"""
import os
import re

import cv2
import numpy as np

from lib.dataset.errors import DatasetError

JPEG_MAGIC = b"\xff\xd8\xff"
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
# a JPEG marker: 0xFF and a code that is neither byte stuffing (00) nor a restart (D0-D7); code FF is a fill byte
_JPEG_MARKER = re.compile(rb"\xff([^\x00\xd0-\xd7])")
_JPEG_EOI, _JPEG_FILL, _JPEG_NO_LENGTH = 0xD9, 0xFF, (0x01, 0xD8)  # TEM and SOI have no length field


def _jpeg_problem(data):
    """Why the JPEG bytes `data` cannot be complete (None when they reach the end-of-image marker).

    Segments are skipped by their length (an EXIF thumbnail's own markers are inside one); between them, and in
    the entropy-coded data after each start-of-scan, the next marker is searched as libjpeg does.
    """
    pos = len(JPEG_MAGIC) - 1
    while True:
        match = _JPEG_MARKER.search(data, pos)
        if match is None:
            return "truncated JPEG (the data ends before the end-of-image marker)"
        marker, pos = match.group(1)[0], match.end()
        if marker == _JPEG_FILL:
            pos -= 1
            continue
        if marker == _JPEG_EOI:
            return None
        if marker in _JPEG_NO_LENGTH:
            continue
        length = int.from_bytes(data[pos:pos + 2], "big")
        if pos + 2 > len(data) or pos + length > len(data):
            return "truncated JPEG (the data ends inside a segment)"
        if length < 2:
            return "corrupt JPEG (segment length %d at byte %d)" % (length, pos)
        pos += length


def _png_problem(data):
    """Why the PNG bytes `data` cannot be complete (None when its chunks reach IEND)."""
    pos = len(PNG_MAGIC)
    while pos + 8 <= len(data):
        length, kind = int.from_bytes(data[pos:pos + 4], "big"), data[pos + 4:pos + 8]
        pos += 12 + length  # length, type, data, CRC
        if kind == b"IEND":
            return None if pos <= len(data) else "truncated PNG (the data ends inside the IEND chunk)"
    return "truncated PNG (the data ends before the IEND chunk)"


def container_problem(data):
    """Why the file bytes `data` are an incomplete JPEG or PNG, or None (also for other formats)."""
    if data.startswith(JPEG_MAGIC):
        return _jpeg_problem(data)
    if data.startswith(PNG_MAGIC):
        return _png_problem(data)
    return None


def _to_uint8(image, path):
    """Scale 16-bit pixels to 8 bits (65535 -> 255, rounded); reject other pixel types."""
    if image.dtype == np.uint8:
        return image
    if image.dtype == np.uint16:
        return ((image.astype(np.uint32) * 255 + 32767) // 65535).astype(np.uint8)
    raise DatasetError("image %s: unsupported pixel type %s (expected 8 or 16 bit)" % (path, image.dtype))


def _to_bgr(image, path):
    """(H, W), (H, W, 1|2|3|4) -> (H, W, 3): gray is replicated, alpha dropped (gray+alpha keeps gray)."""
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    channels = image.shape[2]
    if channels in (1, 2):
        return cv2.cvtColor(np.ascontiguousarray(image[:, :, 0]), cv2.COLOR_GRAY2BGR)
    if channels == 3:
        return image
    if channels == 4:
        return cv2.cvtColor(image, cv2.COLOR_BGRA2BGR)
    raise DatasetError("image %s: unsupported number of channels %d" % (path, channels))


def read_image(path):
    """The image at `path` as an (H, W, 3) uint8 BGR array, stored pixel orientation (EXIF ignored).

    Grayscale, gray+alpha, RGBA and 16-bit images are converted. A missing, empty, truncated, corrupt or
    unsupported file raises DatasetError naming the file.
    """
    if not os.path.isfile(path):
        raise DatasetError("image file not found: %s" % path)
    with open(path, "rb") as f:
        data = f.read()
    problem = container_problem(data)
    if problem:
        raise DatasetError("image %s: %s" % (path, problem))
    image = cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED) if data else None
    if image is None or image.size == 0:
        raise DatasetError("image %s: cannot be decoded (corrupt, truncated or not an image)" % path)
    return _to_bgr(_to_uint8(image, path), path)


def check_size(image, path, width, height):
    """DatasetError naming `path` unless `image` (H, W, ...) is `width` x `height` px (the annotation's)."""
    if image.shape[:2] != (height, width):
        raise DatasetError("image %s: size %dx%d differs from the annotation's %dx%d"
                           % (path, image.shape[1], image.shape[0], width, height))


def check_image(path, width, height):
    """Decode `path` fully and check its size is `width` x `height` px; DatasetError otherwise."""
    check_size(read_image(path), path, width, height)
