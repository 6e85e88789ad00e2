"""Which class's mask channel wins the cells of each class's detections (README "Instance masks": why the
softmax mask arm loses its star masks).

    python scripts/mask_class_cells.py [--cfg configs/quickstart/shapes_mask_cpu.yml] [--epoch N] [--images 12]
                                       [--score 0.5] [--set KEY VALUE ...]

For the final detections scoring >= --score on the first --images test images, asks the mask head for every
foreground class's 28 x 28 probability map of the same box (at the scale the tester would use) and prints per
detected class: how many detections, the share of cells where the detection's own class reaches 0.5, the share
of cells where the classes' probabilities sum past 0.5 (foreground at all), and how those foreground cells split
by the class with the highest probability. With TRAIN.MASK_LOSS softmax the maps of one box share a softmax;
with binary each is its class's own 2-way softmax.
"""
import argparse
import os
import sys

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import init_paths  # noqa: E402,F401  (logging set up)
from lib.config import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default="configs/quickstart/shapes_mask_cpu.yml")
    parser.add_argument("--epoch", type=int, default=None)
    parser.add_argument("--images", type=int, default=12)
    parser.add_argument("--score", type=float, default=0.5)
    parser.add_argument("--set", nargs="*", default=[], dest="set_words", metavar="KEY VALUE")
    return parser.parse_args(argv)


def class_maps(stage, item, scale_index, box, num_classes):
    """(K - 1, 28, 28) probability maps of classes 1..K-1 for one (4,) box, in one forward pass."""
    boxes = np.repeat(box[None], num_classes - 1, axis=0)
    return stage.probabilities(item, scale_index, boxes, np.arange(1, num_classes, dtype=np.float32))


def cell_shares(maps, own):
    """(K - 1, S, S) maps, own class -> (own >= 0.5 share, foreground share, (K - 1,) winners' shares)."""
    foreground = maps.sum(axis=0) > 0.5
    winners = np.bincount(maps.argmax(axis=0)[foreground], minlength=len(maps)) / max(int(foreground.sum()), 1)
    return float((maps[own - 1] >= 0.5).mean()), float(foreground.mean()), winners


def main(argv=None):
    args = parse_args(argv)
    from lib.dataset import load_dataset
    from lib.dataset.image_io import read_image
    from lib.inference.detector import Detector
    from lib.inference.masks import MaskStage, flat_detections, mask_scale_indices
    from lib.inference.pipeline import LoadedImage, read_item
    from lib.inference.prerequisites import model_params
    cfg = load_config(args.cfg, args.set_words)
    detector = Detector(cfg, model_params(cfg, args.epoch))
    pipeline, k = detector.pipeline, cfg.dataset.NUM_CLASSES
    stage = MaskStage(pipeline.mask_predictor(), detector.contexts[0], pyramid=pipeline.pyramid, read=read_item,
                      max_boxes=k - 1)
    dataset = load_dataset(cfg, cfg.dataset.test_image_set)
    rows = {c: [] for c in range(1, k)}
    for record in dataset.records[:args.images]:
        item = LoadedImage(read_image(record.image))
        dets = detector.detect_raw(item.pixels)
        boxes, classes = flat_detections(dets)
        scores = np.concatenate([d[:, 4] for d in dets])  # flat_detections' order
        keep = scores >= args.score
        boxes, classes = boxes[keep], classes[keep].astype(int)
        for box, own, index in zip(boxes, classes, mask_scale_indices(boxes, pipeline.pyramid.valid_ranges)):
            rows[own].append(cell_shares(class_maps(stage, item, int(index), box, k), own))
    names = dataset.class_names
    for c, found in rows.items():
        if found:
            winners = np.mean([w for _, _, w in found], axis=0)
            print("%-10s %3d detections  own >= 0.5: %.3f  foreground: %.3f  foreground cells won by: %s" % (
                names[c], len(found), np.mean([o for o, _, _ in found]), np.mean([f for _, f, _ in found]),
                ", ".join("%s %.2f" % (names[j + 1], w) for j, w in enumerate(winners))))


if __name__ == "__main__":
    main()
