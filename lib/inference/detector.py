"""Python API of the multi-scale detector (the pipeline of main_test.py on images in memory), and export of the
hybridized network.

    from lib.config import load_config
    from lib.inference.detector import Detector
    detector = Detector(load_config("configs/quickstart/shapes_cpu.yml"),
                        "output/quickstart/shapes_cpu/train/SNIPER-0003.params")
    for name, score, (x1, y1, x2, y2) in detector.detect("data/demo/demo.jpg"):
        ...

Class names and the dataset's category ids come from `classes.json`, which training writes beside the checkpoints.
"""
import json
import logging
import os

import mxnet as mx
from pycocotools import mask as mask_api

from lib.dataset.image_io import read_image
from lib.inference.network import build_test_network
from lib.inference.pipeline import LoadedImage, Pipeline
from lib.runtime.run_paths import CLASSES_FILE
from lib.runtime.devices import parse_contexts

log = logging.getLogger(__name__)


def load_classes(params_path, num_classes):
    """(class names, category ids) saved by training beside the checkpoint (`classes.json`), else ('class <k>', k).

    Entry 0 is the background (category id None).
    """
    path = os.path.join(os.path.dirname(os.path.abspath(params_path)), CLASSES_FILE)
    if os.path.exists(path):
        with open(path) as f:
            saved = json.load(f)
        names = saved["class_names"]
        if len(names) == num_classes:
            return names, saved.get("category_ids") or [None] + list(range(1, num_classes))
        log.warning("%s lists %d classes but the network has %d: using generic names", path, len(names),
                    num_classes)
    return ["__background__"] + ["class %d" % k for k in range(1, num_classes)], [None] + list(range(1, num_classes))


class Detector:
    """SNIPER inference at every TEST.SCALES entry, merged: the Pipeline of main_test.py on images in memory."""

    def __init__(self, cfg, params_path, contexts=None, class_names=None):
        self.cfg = cfg
        self.contexts = contexts or parse_contexts(cfg.gpus)[:1]
        self.net = build_test_network(cfg, params_path, self.contexts)
        num_classes = cfg.dataset.NUM_CLASSES
        self.class_names, self.category_ids = load_classes(params_path, num_classes)
        if class_names:
            self.class_names, self.category_ids = class_names, [None] + list(range(1, num_classes))
        self.pipeline = Pipeline.from_config(cfg, self.net, self.contexts, num_classes)

    def detect_raw_many(self, images, progress=False):
        """HxWx3 uint8 BGR images -> their per-class detections dets[image][cls] (n, 5) in image pixels.

        The images are batched per scale as main_test.py batches a test set (TEST.BATCH_IMAGES), so the same
        images in the same order give the same detections as main_test.py.
        """
        return self.pipeline.detect([LoadedImage(image) for image in images], progress)

    def detect_raw(self, image):
        """HxWx3 uint8 BGR image -> per-class detections dets[cls] (n, 5) in image pixels, scales merged."""
        return self.detect_raw_many([image])[0]

    def masks_raw_many(self, images, detections, progress=False):
        """Masks of final detections (from detect_raw_many) -> masks[image][cls], lists of COCO RLE dicts (decode
        with pycocotools.mask.decode), or None when the network has no mask branch (TRAIN.WITH_MASK)."""
        return self.pipeline.masks([LoadedImage(image) for image in images], detections, progress)

    def detect_masks(self, image, score_thresh=0.0):
        """An image path or HxWx3 uint8 BGR array -> [(class name, score, (x1, y1, x2, y2), mask (H, W) uint8),
        ...] by score; ValueError for a network without the mask branch."""
        if self.pipeline.mask_spec is None:
            raise ValueError("this network has no mask branch (trained without TRAIN.WITH_MASK)")
        if isinstance(image, str):
            image = read_image(image)
        dets = self.detect_raw(image)
        masks = self.masks_raw_many([image], [dets])[0]
        found = [(self.class_names[c], float(row[4]), tuple(float(v) for v in row[:4]), mask_api.decode(rle))
                 for c, rows in enumerate(dets) for row, rle in zip(rows, masks[c]) if row[4] >= score_thresh]
        return sorted(found, key=lambda d: -d[1])

    def detect(self, image, score_thresh=0.0):
        """An image path or HxWx3 uint8 BGR array -> [(class name, score, (x1, y1, x2, y2)), ...] by score."""
        if isinstance(image, str):
            image = read_image(image)
        found = [(self.class_names[c], float(row[4]), tuple(float(v) for v in row[:4]))
                 for c, rows in enumerate(self.detect_raw(image)) for row in rows if row[4] >= score_thresh]
        return sorted(found, key=lambda d: -d[1])

    def export(self, prefix):
        """Write `<prefix>-symbol.json` and `<prefix>-0000.params` (runs one small forward first if needed).

        Gluon names the exported inputs data0 (the image batch) and data1 (im_info). Load them with:
            net = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data0", "data1"],
                                               prefix + "-0000.params")
            rois, roi_scores, cls_prob, deltas = net(data, im_info)
        data: (B, 3, H, W) float32 RGB minus cfg.network.PIXEL_MEANS; im_info: (B, 3) rows (h, w, scale);
        outputs are in resized pixels, decode them with lib.inference.detections.decode_image.
        With the mask branch also `<prefix>-mask-symbol.json` / `<prefix>-mask-0000.params`: inputs data0 (one
        image, as above), data1 (1, D, 4) boxes in resized pixels, data2 (1, D) their classes -> (1, D, 28, 28)
        mask probabilities (lib.model.mask_head.MaskPredictor; paste with lib.inference.masks.paste_mask).
        Returns the written files.
        """
        size = self.cfg.network.RPN_FEAT_STRIDE * 8
        data = mx.nd.zeros((1, 3, size, size), ctx=self.contexts[0])
        im_info = mx.nd.array([[size, size, 1.0]], ctx=self.contexts[0])
        self.net(data, im_info)
        os.makedirs(os.path.dirname(os.path.abspath(prefix)), exist_ok=True)
        self.net.export(prefix)
        files = [prefix + "-symbol.json", prefix + "-0000.params"]
        predictor = self.pipeline.mask_predictor()
        if predictor is not None:
            predictor(data, mx.nd.array([[[0, 0, size / 2, size / 2]]], ctx=self.contexts[0]),
                      mx.nd.ones((1, 1), ctx=self.contexts[0]))
            predictor.export(prefix + "-mask")
            files += [prefix + "-mask-symbol.json", prefix + "-mask-0000.params"]
        return files
