"""Tester speed on this CPU: images/s of SNIPER's multi-scale tester (tiny backbone, ResNet-50) on shapes val
images, the share of its wall time outside the network forward, and gluoncv's Faster R-CNN
(faster_rcnn_resnet50_v1b_coco) on the same pixels. Prints one table.

    python scripts/bench_test.py [--images 2] [--models tiny,resnet50] [--no-gluoncv] [--json FILE]

Weights are random (a freshly initialised net saved as a checkpoint in a temp dir): speed does not depend on
them, except through the number of detections that reach decoding and soft-NMS, which random weights inflate
(scores near 1/C everywhere). Both scale settings run with one image per batch, so that no padding is added
and both detectors see exactly the same pixels: the paper's three test scales (1400,2000), (800,1280),
(480,512), and (800,1280) alone. gluoncv gets the resized images as tensors (no decode, no resize), SNIPER's
time includes reading and resizing them (overlapped with the forward by the tester's read-ahead thread).
"""
import argparse
import os
import sys
import tempfile
import time

import mxnet as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.chips.scales import scale_factor  # noqa: E402
from lib.config import load_config  # noqa: E402
from lib.dataset import load_dataset  # noqa: E402
from lib.inference.network import build_test_network  # noqa: E402
from lib.inference.pipeline import Pipeline  # noqa: E402
from lib.model.params import initialize_sniper  # noqa: E402
from lib.model.sniper import build_sniper  # noqa: E402
from lib.utils.atomic import atomic_write_json  # noqa: E402

SHAPES = ["dataset.dataset", "shapes", "dataset.dataset_path", "./data/shapes", "dataset.test_image_set", "val",
          "dataset.NUM_CLASSES", "6", "gpus", "", "TEST.CONCURRENT_JOBS", "1"]
CONFIGS = {"tiny": ("configs/quickstart/shapes_cpu.yml", []),
           "resnet50": ("configs/faster/sniper_res50_e2e.yml", ["network.pretrained", "", "TRAIN.fp16", "False"])}
SCALE_SETS = {"3 scales": ["TEST.SCALES", "((1400, 2000), (800, 1280), (480, 512))", "TEST.VALID_RANGES",
                           "((-1, 90), (32, 180), (75, -1))", "TEST.BATCH_IMAGES", "(1, 1, 1)"],
              "1 scale": ["TEST.SCALES", "((800, 1280),)", "TEST.VALID_RANGES", "((-1, -1),)",
                          "TEST.BATCH_IMAGES", "(1,)"]}
GLUONCV_MODEL = "faster_rcnn_resnet50_v1b_coco"


def bench_config(model, scale_set):
    """The config of a SNIPER model on the shapes val set at one scale setting."""
    path, overrides = CONFIGS[model]
    return load_config(path, overrides + SHAPES + SCALE_SETS[scale_set])


def random_checkpoint(cfg, folder):
    """Save a freshly initialised test network of `cfg` to `folder`; returns the params path."""
    net = build_sniper(cfg, train=False, dtype="float32")
    initialize_sniper(net)
    net(mx.nd.zeros((1, 3, 128, 128)), mx.nd.array([[128, 128, 1.0]]))  # finishes the deferred shapes
    path = os.path.join(folder, "%s-random.params" % cfg.network.BACKBONE)
    net.save_parameters(path)
    return path


def time_sniper(cfg, params, records):
    """(images/s over all scales, Pipeline.overhead_fraction, merge seconds per image) after a warm-up (one image
    at the smallest scale: the graph is built once, memory is reallocated per input shape anyway)."""
    tester = Pipeline.from_config(cfg, build_test_network(cfg, params, [mx.cpu()]), [mx.cpu()],
                                  cfg.dataset.NUM_CLASSES)
    tester.detect_scale(records[:1], len(cfg.TEST.SCALES) - 1, progress=False)
    tester.forward_seconds = tester.total_seconds = 0.0
    per_scale = tester.detect_all_scales(records, progress=False)
    start = time.time()
    tester.merge(per_scale)
    merge_seconds = time.time() - start
    return len(records) / tester.total_seconds, tester.overhead_fraction(), merge_seconds / len(records)


def resized_shapes(records, scales):
    """(h, w) of every image at every scale, as the tester's cv2.resize makes them."""
    shapes = []
    for record in records:
        for scale in scales:
            s = scale_factor(record.width, record.height, tuple(scale))
            shapes.append((int(round(record.height * s)), int(round(record.width * s))))
    return shapes


def time_gluoncv(shapes, num_images):
    """gluoncv Faster R-CNN (random weights) images/s on random tensors of the given (h, w), after a warm-up on
    the smallest."""
    import gluoncv
    net = gluoncv.model_zoo.get_model(GLUONCV_MODEL, pretrained=False, pretrained_base=False)
    net.initialize()
    net.hybridize(static_alloc=True)
    rng = np.random.RandomState(0)
    inputs = [mx.nd.array(rng.normal(0, 1, (1, 3, h, w))) for h, w in shapes]
    [o.asnumpy() for o in net(min(inputs, key=lambda x: x.size))]
    start = time.time()
    for data in inputs:
        [o.asnumpy() for o in net(data)]
    return num_images / (time.time() - start)


def run(models, num_images, gluoncv):
    """One row per (model, scale setting): dict of the figures."""
    rows, gluoncv_speed = [], {}  # gluoncv's figure depends on the scale setting only
    with tempfile.TemporaryDirectory() as folder:
        for model in models:
            params = random_checkpoint(bench_config(model, "1 scale"), folder)
            for scale_set in SCALE_SETS:
                cfg = bench_config(model, scale_set)
                records = load_dataset(cfg, cfg.dataset.test_image_set).records[:num_images]
                images_s, overhead, merge_s = time_sniper(cfg, params, records)
                row = {"model": model, "scales": scale_set, "images": len(records), "images_per_s": images_s,
                       "overhead_fraction": overhead, "merge_ms_per_image": 1000 * merge_s,
                       "megapixels_per_image": sum(h * w for h, w in resized_shapes(records, cfg.TEST.SCALES))
                       / 1e6 / len(records)}
                if gluoncv and scale_set not in gluoncv_speed:
                    gluoncv_speed[scale_set] = time_gluoncv(resized_shapes(records, cfg.TEST.SCALES), len(records))
                if gluoncv:
                    row["gluoncv_images_per_s"] = gluoncv_speed[scale_set]
                rows.append(row)
                print(format_row(row), flush=True)
    return rows


def format_row(row):
    gcv = "%.3f" % row["gluoncv_images_per_s"] if "gluoncv_images_per_s" in row else "-"
    return "| %s | %s | %d | %.2f | %.3f | %.1f%% | %.0f | %s |" % (
        row["model"], row["scales"], row["images"], row["megapixels_per_image"], row["images_per_s"],
        100 * row["overhead_fraction"], row["merge_ms_per_image"], gcv)


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=2, help="shapes val images to time (default: %(default)s)")
    parser.add_argument("--models", default="tiny,resnet50", help="comma-separated: %s" % ", ".join(CONFIGS))
    parser.add_argument("--no-gluoncv", action="store_true", help="skip gluoncv's Faster R-CNN")
    parser.add_argument("--json", default=None, help="also write the table to this json file")
    args = parser.parse_args()
    unknown = set(args.models.split(",")) - set(CONFIGS)
    if unknown or args.images < 1:
        parser.error("unknown model(s) %s" % ", ".join(sorted(unknown)) if unknown else "--images must be >= 1")
    print("| SNIPER model | scales | images | Mpx/image | SNIPER images/s | outside forward | merge ms/image "
          "| gluoncv %s images/s (same pixels) |" % GLUONCV_MODEL)
    print("|---|---|---|---|---|---|---|---|")
    rows = run(args.models.split(","), args.images, not args.no_gluoncv)
    if args.json:
        atomic_write_json(args.json, rows, indent=1)


if __name__ == "__main__":
    main()
