"""Reading images for the datasets and loaders: always HxWx3 uint8 BGR, or a DatasetError naming the file."""
import os

import cv2
import numpy as np

from lib.dataset.errors import DatasetError


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

    Grayscale, gray+alpha, RGBA and 16-bit images are converted. A missing, empty, corrupt or unsupported
    file raises DatasetError naming the file.
    """
    if not os.path.isfile(path):
        raise DatasetError("image file not found: %s" % path)
    image = cv2.imread(path, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise DatasetError("image %s: cannot be decoded (corrupt, truncated or not an image)" % path)
    return _to_bgr(_to_uint8(image, path), path)


def check_image(path, width, height):
    """Decode `path` fully and check its size is `width` x `height` px; DatasetError otherwise."""
    image = read_image(path)
    if image.shape[:2] != (height, width):
        raise DatasetError("image %s: size %dx%d differs from the annotation's %dx%d"
                           % (path, image.shape[1], image.shape[0], width, height))
