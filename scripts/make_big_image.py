"""A large test image for tiled / AutoFocus inference: a grid of the shapes val images at their own scale.

    python scripts/make_big_image.py [--size 6000] [--out output/big_6000.jpg]

The first images of data/shapes/images/val (sorted by name) are pasted unscaled, row by row, into a black
size x size canvas (cut at its edges), so the objects keep the sizes the quickstart network was trained on.
"""
import argparse
import glob
import os

import cv2
import numpy as np


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", type=int, default=6000)
    parser.add_argument("--out", default="output/big_6000.jpg")
    parser.add_argument("--images", default="data/shapes/images/val")
    args = parser.parse_args(argv)
    canvas = np.zeros((args.size, args.size, 3), np.uint8)
    files = sorted(glob.glob(os.path.join(args.images, "*")))
    if not files:
        raise SystemExit("error: no images in %s (run scripts/make_shapes.py first)" % args.images)
    x = y = row = 0
    for path in files:
        image = cv2.imread(path)
        h, w = image.shape[:2]
        if x >= args.size:
            x, y, row = 0, y + row, 0
        if y >= args.size:
            break
        part = image[:args.size - y, :args.size - x]
        canvas[y:y + part.shape[0], x:x + part.shape[1]] = part
        x, row = x + w, max(row, h)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, canvas, [cv2.IMWRITE_JPEG_QUALITY, 90])
    print("%s: %d x %d" % (args.out, args.size, args.size))


if __name__ == "__main__":
    main()
