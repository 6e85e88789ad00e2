"""Benchmark of the chip engine: per-image time of positive + negative chip mining at the paper's 3 scales.

    python scripts/bench_chips.py [--images 300] [--seed 0]

COCO-sized synthetic images (640x480, 1-40 gts, up to 900 proposals, fixed seed), with and without proposals,
and the large deepforest images (their VOC annotations, read from data/deepforest or the deepforest wheel in
data/cache/wheels; synthetic proposals around them). The original's C++ generator with its Python assigner
takes about 4.6 ms per COCO-sized image with proposals on one core of the development machine.
"""
import argparse
import glob
import json
import os
import sys
import time
import xml.etree.ElementTree as ET
import zipfile

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from lib.chips import draw_stride, sample_chips, sample_negatives  # noqa: E402
from lib.chips.synthetic import random_boxes, synthetic_proposals  # noqa: E402
from lib.utils.atomic import atomic_write_json  # noqa: E402

SCALES = (3.0, 1.667, 512.0)
VALID_RANGES = ((-1, 80), (32, 150), (120, -1))
REFERENCE_MS = 4.6


def coco_like(seed, n_images):
    """[(width, height, gts, proposals)] of synthetic COCO-sized images."""
    rng = np.random.default_rng(seed)
    images = []
    for _ in range(n_images):
        gts = random_boxes(rng, int(rng.integers(1, 41)), 640, 480).astype(np.float32)
        props = synthetic_proposals(rng, gts, int(rng.integers(300, 901)), 640, 480)
        images.append((640, 480, gts, props))
    return images


def _voc_boxes(text):
    root = ET.fromstring(text)
    size = root.find("size")
    boxes = [[float(o.find("bndbox").find(k).text) for k in ("xmin", "ymin", "xmax", "ymax")]
             for o in root.iter("object")]
    return int(size.find("width").text), int(size.find("height").text), np.array(boxes, np.float32)


def _coco_boxes(json_file):
    data = json.load(open(json_file))
    boxes = {img["id"]: [] for img in data["images"]}
    for ann in data["annotations"]:
        x, y, w, h = ann["bbox"]
        boxes[ann["image_id"]].append([x, y, x + max(w - 1, 0), y + max(h - 1, 0)])
    return [(img["file_name"], img["width"], img["height"], np.array(boxes[img["id"]], np.float32).reshape(-1, 4))
            for img in data["images"]]


def deepforest_annotations():
    """[(name, width, height, boxes)] from data/deepforest (COCO layout) or the wheel's VOC xml; [] if neither."""
    jsons = sorted(glob.glob(os.path.join(ROOT, "data", "deepforest", "annotations", "instances_*.json")))
    if jsons:
        return [image for path in jsons for image in _coco_boxes(path)]
    wheels = sorted(glob.glob(os.path.join(ROOT, "data", "cache", "wheels", "deepforest-*.whl")))
    if not wheels:
        return []
    with zipfile.ZipFile(wheels[-1]) as zf:
        names = sorted(n for n in zf.namelist() if n.startswith("deepforest/data/") and n.endswith(".xml"))
        return [(os.path.basename(n),) + _voc_boxes(zf.read(n)) for n in names]


def time_images(images, use_proposals, seed, repeats=1):
    """ms per image (mean, median) and chips per image for sample_chips + sample_negatives."""
    rng = np.random.default_rng(seed)
    stride = draw_stride(rng)
    times, n_chips = [], []
    for _ in range(repeats):
        for width, height, gts, props in images:
            start = time.perf_counter()
            chips = sample_chips(width, height, gts, SCALES, VALID_RANGES, 512, stride,
                                 props if use_proposals else None, rng)
            negs = sample_negatives(chips, 2, rng)
            times.append(time.perf_counter() - start)
            n_chips.append((len(chips.positive), len(chips.negative), len(negs)))
    t = np.array(times) * 1000.0
    return float(t.mean()), float(np.median(t)), np.array(n_chips).mean(axis=0)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--images", type=int, default=300, help="synthetic COCO-sized images")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the figures to this json file")
    args = parser.parse_args(argv)
    figures = {}
    images = coco_like(args.seed, args.images)
    time_images(images[:20], True, args.seed)  # warm-up
    print("%-34s %9s %9s %7s %7s %7s" % ("case", "mean ms", "median ms", "pos", "neg", "neg/ep"))
    for label, use in (("COCO-sized 640x480, no proposals", False), ("COCO-sized 640x480, proposals", True)):
        mean, median, chips = time_images(images, use, args.seed)
        figures["coco_ms_median" + ("_proposals" if use else "")] = median
        print("%-34s %9.2f %9.2f %7.2f %7.2f %7.2f" % ((label, mean, median) + tuple(chips)))
    print("(reference: C++ generator + Python assigner, %.1f ms/image with proposals, one core)" % REFERENCE_MS)
    forest = deepforest_annotations()
    if not forest:
        print("deepforest: skipped (no data/deepforest and no deepforest wheel in data/cache/wheels)")
    rng = np.random.default_rng(args.seed)
    for name, width, height, gts in forest:
        props = synthetic_proposals(rng, gts, 900, width, height)
        for use in (False, True):
            mean, median, chips = time_images([(width, height, gts, props)], use, args.seed, repeats=5)
            label = "deepforest %dx%d %d gts%s" % (width, height, len(gts), ", props" if use else "")
            print("%-34s %9.2f %9.2f %7.2f %7.2f %7.2f" % ((label[:34], mean, median) + tuple(chips)))
            if use:
                figures["deepforest_ms_max_proposals"] = max(median, figures.get("deepforest_ms_max_proposals", 0))
    if args.json:
        atomic_write_json(args.json, figures, indent=1)

if __name__ == "__main__":
    main()
