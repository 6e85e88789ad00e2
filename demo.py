"""Run the multi-scale SNIPER detector on one image and draw the detections.

    python demo.py [--cfg FILE] [--im_path IMG] [--epoch N] [--thresh 0.5] [--export PREFIX] [--set KEY VALUE ...]

Writes `<image stem>_detections<image extension>` beside the image (data/demo/demo_detections.jpg for the
default image, which is generated from the shapes dataset's generator when missing).
"""
import argparse
import logging
import os
import sys

import init_paths  # noqa: F401  (repository root on sys.path, logging set up)
from lib.config import ConfigError, add_config_args, config_from_args

DEFAULT_CFG = "configs/faster/sniper_res101_e2e.yml"
DEFAULT_IMAGE = "data/demo/demo.jpg"
log = logging.getLogger("demo")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--im_path", default=DEFAULT_IMAGE, help="image to detect on (default: %(default)s)")
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: TEST.TEST_EPOCH)")
    parser.add_argument("--thresh", type=float, default=0.5, help="draw detections scoring at least this")
    parser.add_argument("--out", default=None, help="output image (default: <stem>_detections<ext>)")
    parser.add_argument("--export", default=None, metavar="PREFIX",
                        help="also export the hybridized network to PREFIX-symbol.json / PREFIX-0000.params")
    add_config_args(parser, DEFAULT_CFG)
    return parser.parse_args(argv)


def ensure_demo_image(path):
    """Render the default demo image (an unseen image of the shapes generator) when it is missing."""
    import cv2
    from lib.dataset.shapes import ShapesSpec, render_image
    image, _ = render_image(ShapesSpec(), "val", 9999)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    cv2.imwrite(path, image)
    log.info("generated the demo image %s", path)


def output_path(im_path, out=None):
    stem, ext = os.path.splitext(im_path)
    return out or stem + "_detections" + (ext or ".jpg")


def run(cfg, im_path, epoch=None, thresh=0.5, out=None, export=None):
    """Detect on `im_path`, draw, write; returns (output path, detections)."""
    import cv2
    from lib.dataset.image_io import read_image
    from lib.inference.detector import Detector
    from lib.inference.prerequisites import model_params
    from lib.utils.visualization import draw_detections

    params = model_params(cfg, epoch)  # first: without a model nothing else matters
    if im_path == DEFAULT_IMAGE and not os.path.exists(im_path):
        ensure_demo_image(im_path)
    image = read_image(im_path)  # a wrong path is said before the network is built
    detector = Detector(cfg, params)
    detections = detector.detect(image)
    index = {name: k for k, name in enumerate(detector.class_names)}
    drawn = draw_detections(image, [(index[n], s, b) for n, s, b in detections], detector.class_names, thresh)
    path = output_path(im_path, out)
    if not cv2.imwrite(path, drawn):
        raise FileNotFoundError("could not write %s" % path)
    shown = [d for d in detections if d[1] >= thresh]
    for name, score, box in shown:
        log.info("%-12s %.3f  [%.0f, %.0f, %.0f, %.0f]", name, score, *box)
    log.info("%d detections >= %.2f drawn on %s", len(shown), thresh, path)
    if export:
        log.info("exported %s and %s", *detector.export(export))
    return path, detections


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    from lib.dataset.errors import DatasetError
    from lib.model.checkpoint_names import CheckpointError
    try:
        run(cfg, args.im_path, args.epoch, args.thresh, args.out, args.export)
    except (ConfigError, DatasetError, CheckpointError, FileNotFoundError) as err:
        sys.stderr.write("error: %s\n" % err)
        sys.exit(2)


if __name__ == "__main__":
    main()
