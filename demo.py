"""Run the multi-scale SNIPER detector on one image or on every image of a folder and draw the detections.

    python demo.py [--cfg FILE] [--im_path IMAGE_OR_FOLDER] [--out FOLDER] [--epoch N] [--thresh 0.5]
                   [--export PREFIX] [--set KEY VALUE ...]

Everything is written into the --out folder (default `<output_path>/<config name>/demo/`), never beside the
inputs: per image `<image stem>_detections<image extension>` (detections scoring at least --thresh drawn), and
`<input stem>_detections.json` with {"images": [{"id", "file_name", "width", "height"}], "categories":
[{"id", "name"}], "results": [COCO results {"image_id", "category_id", "bbox": [x, y, w, h], "score"}]} (with
the mask branch, TRAIN.WITH_MASK, masks are drawn too and each result has its RLE "segmentation"): every
detection the tester keeps (TEST.SCORE_THRESH, at most TEST.MAX_PER_IMAGE per image), category ids of the
training set. Without --im_path the demo image data/demo/demo.jpg is used (generated from the shapes generator
when missing). A folder: its image files by extension, sorted by name (subfolders are not searched); other files
are skipped and counted. In a folder, an image that cannot be read is named in one line and skipped, the others
are processed, and the run ends with exit code 2; a single unreadable image stops before the model is loaded.
"""
import argparse
import logging
import os
import sys

import init_paths  # noqa: F401  (repository root on sys.path, logging set up)
from lib.config import ConfigError, add_config_args, config_from_args, config_name

DEFAULT_CFG = "configs/faster/sniper_res101_e2e.yml"
DEFAULT_IMAGE = "data/demo/demo.jpg"
IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".jp2", ".ppm", ".pgm", ".pbm")
log = logging.getLogger("demo")


class DemoError(ValueError):
    """A mistake in the demo's arguments or inputs (exit 2)."""


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--im_path", default=None,
                        help="an image or a folder of images (default: %s)" % DEFAULT_IMAGE)
    parser.add_argument("--out", default=None,
                        help="output folder (default: <output_path>/<config name>/demo)")
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: TEST.TEST_EPOCH)")
    parser.add_argument("--thresh", type=float, default=0.5, help="draw detections scoring at least this")
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


def default_out_dir(cfg):
    """`<output_path>/<config name>/demo`."""
    return os.path.join(cfg.output_path, config_name(cfg), "demo")


def list_inputs(im_path):
    """(image paths, non-image files skipped, subfolders skipped) of an image file or a folder.

    A folder gives its files whose extension is an image's (IMAGE_EXTENSIONS, any case), sorted by name.
    """
    if os.path.isfile(im_path):
        return [im_path], 0, 0
    if not os.path.isdir(im_path):
        raise DemoError("--im_path %s: no such image or folder" % im_path)
    entries = sorted(os.listdir(im_path))
    files = [os.path.join(im_path, e) for e in entries if os.path.isfile(os.path.join(im_path, e))]
    images = [f for f in files if f.lower().endswith(IMAGE_EXTENSIONS)]
    if not images:
        raise DemoError("--im_path %s: no image files in the folder (extensions %s)"
                        % (im_path, " ".join(IMAGE_EXTENSIONS)))
    return images, len(files) - len(images), len(entries) - len(files)


def check_out_dir(out_dir, images):
    """Refuse an output folder that is a file, looks like an image name, or holds an input image."""
    if out_dir.lower().endswith(IMAGE_EXTENSIONS) or (os.path.exists(out_dir) and not os.path.isdir(out_dir)):
        raise DemoError("--out %s: a folder is expected (pictures are named <image stem>_detections<ext> in it)"
                        % out_dir)
    inputs = {os.path.realpath(os.path.dirname(os.path.abspath(p))) for p in images}
    if os.path.realpath(out_dir) in inputs:
        raise DemoError("--out %s holds the input images: the outputs would land beside them; choose another folder"
                        % out_dir)


def picture_path(out_dir, image_path):
    """`<out_dir>/<image stem>_detections<image extension>` (.jpg for a file without extension)."""
    stem, ext = os.path.splitext(os.path.basename(image_path))
    return os.path.join(out_dir, stem + "_detections" + (ext or ".jpg"))


def json_path(out_dir, im_path):
    """`<out_dir>/<input stem>_detections.json` (the folder's name for a folder)."""
    stem = os.path.splitext(os.path.basename(os.path.normpath(im_path)))[0]
    return os.path.join(out_dir, stem + "_detections.json")


def coco_output(images, detections, class_names, category_ids, masks=None):
    """The json of the run: images (ids 1..N in input order), categories and COCO results.

    images: [(path, width, height)]; detections: dets[image][cls] (n, 5) in original pixels; masks: masks[image]
    [cls] (RLE dicts, the results get "segmentation") or None.
    """
    from lib.dataset.roidb import Dataset, ImageRecord
    from lib.inference.coco_results import coco_results
    import numpy as np
    records = [ImageRecord(image=path, width=w, height=h, boxes=np.zeros((0, 4)), classes=[], image_id=k + 1)
               for k, (path, w, h) in enumerate(images)]
    dataset = Dataset(name="demo", records=records, class_names=class_names, category_ids=category_ids)
    return {"images": [{"id": r.image_id, "file_name": os.path.basename(r.image), "width": r.width,
                        "height": r.height} for r in records],
            "categories": [{"id": c, "name": n} for n, c in zip(class_names[1:], category_ids[1:])],
            "results": coco_results(detections, dataset, masks)}


def _draw(detector, image, detections, path, thresh, masks=None):
    """Draw the detections scoring >= thresh (and their masks, masks[cls] RLE lists, if given) on the image and
    write it to `path`; returns the detections drawn."""
    import cv2
    from pycocotools import mask as mask_api
    from lib.utils.visualization import draw_detections, overlay_masks
    shown = [(c, float(row[4]), tuple(row[:4])) for c, rows in enumerate(detections) for row in rows
             if row[4] >= thresh]
    if masks is not None:
        image = overlay_masks(image, [(c, mask_api.decode(rle)) for c, rows in enumerate(detections)
                                      for row, rle in zip(rows, masks[c]) if row[4] >= thresh])
    if not cv2.imwrite(path, draw_detections(image, shown, detector.class_names, thresh)):
        raise FileNotFoundError("could not write %s" % path)
    return shown


def run(cfg, im_path=None, *, epoch=None, thresh=0.5, out=None, export=None):
    """Detect on an image or every image of a folder, draw each into `out`, write the json there.

    Returns (json path, [paths of the images that could not be read]).
    """
    from tqdm import tqdm
    from lib.dataset.errors import DatasetError
    from lib.dataset.image_io import read_image
    from lib.inference.detector import Detector
    from lib.inference.prerequisites import model_params
    from lib.utils.atomic import atomic_write_json

    params = model_params(cfg, epoch)  # first: without a model nothing else matters
    if im_path is None:
        im_path = DEFAULT_IMAGE
        if not os.path.exists(im_path):
            ensure_demo_image(im_path)
    paths, other_files, folders = list_inputs(im_path)
    if other_files or folders:
        log.info("%s: skipped %d non-image file(s) and %d subfolder(s)", im_path, other_files, folders)
    out_dir = out or default_out_dir(cfg)
    check_out_dir(out_dir, paths)
    single = read_image(paths[0]) if len(paths) == 1 else None  # a wrong image is said before the model loads
    detector = Detector(cfg, params)
    os.makedirs(out_dir, exist_ok=True)
    done, detections, masks, failed, drawn = [], [], [], [], 0
    for path in tqdm(paths, desc="demo", unit="img", disable=len(paths) == 1):
        try:
            image = single if single is not None else read_image(path)
        except DatasetError as err:
            log.error("skipped: %s", err)
            failed.append(path)
            continue
        dets = detector.detect_raw(image)
        image_masks = detector.masks_raw_many([image], [dets])  # None without the mask branch
        image_masks = image_masks[0] if image_masks is not None else None
        shown = _draw(detector, image, dets, picture_path(out_dir, path), thresh, image_masks)
        masks.append(image_masks)
        drawn += len(shown)
        done.append((path, image.shape[1], image.shape[0]))
        detections.append(dets)
        if len(paths) == 1:
            for c, score, box in sorted(shown, key=lambda d: -d[1]):
                log.info("%-12s %.3f  [%.0f, %.0f, %.0f, %.0f]", detector.class_names[c], score, *box)
    result = json_path(out_dir, im_path)
    masks = masks if all(m is not None for m in masks) else None
    atomic_write_json(result, coco_output(done, detections, detector.class_names, detector.category_ids, masks))
    log.info("%d image(s), %d detections >= %.2f drawn in %s; all detections in %s", len(done), drawn, thresh,
             out_dir, result)
    best = max((float(d[:, 4].max()) for image_dets in detections for d in image_dets if len(d)), default=None)
    if not drawn and best is not None:
        log.warning("no detection scored >= %.2f (the best: %.3f): lower --thresh to draw more", thresh, best)
    if export:
        log.info("exported %s", ", ".join(detector.export(export)))
    return result, failed


def main(argv=None):
    args = parse_args(argv)
    cfg = config_from_args(args)
    from lib.dataset.errors import DatasetError
    from lib.model.checkpoint_names import CheckpointError
    try:
        _, failed = run(cfg, args.im_path, epoch=args.epoch, thresh=args.thresh, out=args.out, export=args.export)
    except (ConfigError, DatasetError, CheckpointError, FileNotFoundError, DemoError) as err:
        sys.stderr.write("error: %s\n" % err)
        sys.exit(2)
    if failed:
        sys.stderr.write("error: %d image(s) could not be read (named above), the others were processed\n"
                         % len(failed))
        sys.exit(2)


if __name__ == "__main__":
    main()
