"""One image's AutoFocus map and chips per scale, as a PNG (README "AutoFocus and tiled inference").

    python scripts/focus_picture.py [--cfg configs/quickstart/shapes_cpu.yml] [--epoch N] [--image PATH]
                                    [--out docs/autofocus_example.png] [--width 360] [--set KEY VALUE ...]

Runs the AutoFocus tester (TEST.AUTO_FOCUS on, the config's DO_PRUNING and CHIP_HYPERPARAMS) on one image
(default: the first test image) and draws one panel per scale, coarse to fine: the image, the gt boxes (green)
when the image is from the test set, the focus probability of the scale's pieces in red (brighter = more
likely a small object; from the scales that make chips), and the chips the next scale runs on (yellow). The
last panel shows the final detections (score >= 0.5, blue) and the finest scale's chips.
"""
import argparse
import os
import sys

import cv2
import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import init_paths  # noqa: E402,F401  (logging set up)
from lib.config import load_config  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default="configs/quickstart/shapes_cpu.yml")
    parser.add_argument("--epoch", type=int, default=None)
    parser.add_argument("--image", default=None, help="an image file (default: the first test image)")
    parser.add_argument("--out", default="docs/autofocus_example.png")
    parser.add_argument("--width", type=int, default=360, help="panel width in px")
    parser.add_argument("--set", nargs="*", default=[], dest="set_words", metavar="KEY VALUE")
    return parser.parse_args(argv)


def overlay_map(panel, entry, factor):
    """Paint one piece's focus map (cells of stride px at its scale) in red into the panel (image px * factor)."""
    piece, cells = entry["piece"], entry["map"]
    x0, y0 = piece.unit[0], piece.unit[1]
    if piece.windows is not None:
        x0 += piece.windows[piece.tile][0] / piece.scale
        y0 += piece.windows[piece.tile][1] / piece.scale
    cell = 16 / piece.scale * factor
    for (r, c), p in np.ndenumerate(cells):
        x1, y1 = int((x0 * factor) + c * cell), int((y0 * factor) + r * cell)
        x2, y2 = min(int(x1 + cell), panel.shape[1]), min(int(y1 + cell), panel.shape[0])
        if x2 > x1 and y2 > y1:
            block = panel[y1:y2, x1:x2].astype(np.float32)
            panel[y1:y2, x1:x2] = (block * (1 - 0.6 * p) + np.array([0, 0, 255]) * 0.6 * p).astype(np.uint8)


def rectangles(panel, boxes, factor, color, thickness=2):
    boxes = np.asarray(boxes, dtype=np.float64)
    for x1, y1, x2, y2 in (boxes.reshape(len(boxes), -1)[:, :4] if boxes.size else []):
        cv2.rectangle(panel, (int(x1 * factor), int(y1 * factor)), (int(x2 * factor), int(y2 * factor)), color,
                      thickness)


def main(argv=None):
    args = parse_args(argv)
    from lib.dataset import load_dataset
    from lib.dataset.image_io import read_image
    from lib.inference.focus import ChipRunner, run_order
    from lib.inference.network import build_test_network
    from lib.inference.pipeline import LoadedImage, Pipeline, read_item
    from lib.inference.prerequisites import model_params
    from lib.runtime.devices import parse_contexts
    cfg = load_config(args.cfg, args.set_words + ["TEST.AUTO_FOCUS", "True"])
    gts = np.zeros((0, 4))
    if args.image:
        image = read_image(args.image)
    else:
        record = load_dataset(cfg, cfg.dataset.test_image_set).records[0]
        image, gts = read_item(record), record.boxes
    contexts = parse_contexts(cfg.gpus)[:1]
    net = build_test_network(cfg, model_params(cfg, args.epoch), contexts)
    pipeline = Pipeline.from_config(cfg, net, contexts, cfg.dataset.NUM_CLASSES)
    runner = ChipRunner(pipeline, pipeline.chips)
    runner.trace = []
    items = [LoadedImage(image)]
    per_scale = runner.detect_all_scales(items, read_item, progress=False)
    final = pipeline.merge(per_scale)[0]
    factor = args.width / image.shape[1]
    small = cv2.resize(image, None, fx=factor, fy=factor, interpolation=cv2.INTER_AREA)
    panels = []
    for k in run_order(items, pipeline.pyramid):
        panel = small.copy()
        entries = [e for e in runner.trace if e["scale_index"] == k]
        for entry in entries:
            overlay_map(panel, entry, factor)
        rectangles(panel, gts, factor, (0, 200, 0), 1)
        for entry in entries:
            rectangles(panel, entry["chips"], factor, (0, 230, 255))
        if not entries:  # the finest scale: its detections
            shown = np.concatenate([d[d[:, 4] >= 0.5] for d in final[1:]] or [np.zeros((0, 5))])
            rectangles(panel, shown, factor, (255, 80, 0), 1)
        label = "scale %s: %d unit(s)" % (pipeline.pyramid.scales[k], runner.chips_per_scale.get(k, 0))
        cv2.putText(panel, label, (4, 14), cv2.FONT_HERSHEY_SIMPLEX, 0.4, (255, 255, 255), 1, cv2.LINE_AA)
        panels.append(panel)
    sheet = np.concatenate([np.pad(p, ((0, 0), (0, 4), (0, 0)), constant_values=255) for p in panels], axis=1)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    cv2.imwrite(args.out, sheet, [cv2.IMWRITE_PNG_COMPRESSION, 9])
    print("%s: panels coarse to fine, %s" % (args.out, ", ".join(
        "scale %s %d unit(s)" % (pipeline.pyramid.scales[k], runner.chips_per_scale.get(k, 0))
        for k in run_order(items, pipeline.pyramid))))


if __name__ == "__main__":
    main()
