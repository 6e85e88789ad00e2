"""An image as the network sees it, the one rule of training chips and test images.

A record's image is read (mirrored when the record is flipped, its size checked against the annotation's), then
`paste_network_image` resizes it by the factor s (OpenCV INTER_LINEAR) and writes it top-left into a zero canvas
as RGB minus the BGR pixel means. Training crops a chip first and pastes it into a C x C canvas
(lib/data/chip_loader.py); the tester pastes whole images into the padded canvas of a batch
(lib/inference/pyramid.py).
"""
import functools

import cv2
import numpy as np

from lib.dataset.image_io import check_size, read_image

IMAGE_CACHE_SIZE = 8  # decoded images kept per loader process


@functools.lru_cache(maxsize=IMAGE_CACHE_SIZE)
def _decoded(path):
    """read_image(path), kept per process and read-only (the chips of one image share one decode)."""
    image = read_image(path)
    image.flags.writeable = False
    return image


def read_record_image(record, *, cached=True):
    """The record's image, HxWx3 uint8 BGR, mirrored when `record.flipped`.

    cached: keep the last IMAGE_CACHE_SIZE decodes per process (read-only arrays): a training image gives many
    chips and a large one is slow to decode (a 2299 x 2472 aerial PNG takes 110 ms); the tester reads each image
    once per scale and reads uncached. Raises DatasetError naming the file when it is unreadable, truncated or
    its size differs from the record's.
    """
    image = _decoded(record.image) if cached else read_image(record.image)
    check_size(image, record.image, record.width, record.height)
    return image[:, ::-1] if record.flipped else image


def paste_network_image(image, scale, pixel_means_bgr, canvas):
    """Resize an image by `scale` and write it into the top-left of a network input canvas.

    image: HxWx3 uint8 BGR. canvas: (3, H, W) float32, zeros where nothing is pasted (the mean pixel).
    The resized image (OpenCV INTER_LINEAR, OpenCV's rounding of the size) is written as RGB minus the BGR means,
    cut at the canvas' edges. Returns (h, w) of the pasted part.
    """
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_LINEAR)
    h, w = min(resized.shape[0], canvas.shape[1]), min(resized.shape[1], canvas.shape[2])
    for rgb, bgr in enumerate((2, 1, 0)):
        np.subtract(resized[:h, :w, bgr], np.float32(pixel_means_bgr[bgr]), out=canvas[rgb, :h, :w],
                    dtype=np.float32)
    return h, w
