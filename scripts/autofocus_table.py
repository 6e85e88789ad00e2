"""AutoFocus and tiled inference against the full pyramid, one checkpoint (README "AutoFocus and tiled inference").

    python scripts/autofocus_table.py [--cfg configs/quickstart/shapes_cpu.yml] [--epoch N] [--images N]
                                      [--thresholds 0.05,0.1,0.2] [--tile 1024] [--overlap 192] [--out DIR]
                                      [--force] [--set KEY VALUE ...]

Runs the tester's pipeline (main_test.py's, in this process, one network per variant) on the first `--images`
images of the config's test set (0: all) for: the full pyramid (every scale on whole images); AutoFocus
(TEST.AUTO_FOCUS with the config's DO_PRUNING and CHIP_HYPERPARAMS) with the coarsest chip-making map's threshold
set to each of `--thresholds` (the finer maps keep the config's); the full pyramid in tiles (TEST.TILE_SIZE,
TEST.TILE_OVERLAP). COCOeval runs on the same images' gts. Prints a markdown table of AP, AP_S, network-input
pixels per image (relative to the full pyramid) and images/s, and writes it with each variant's json to `--out`
(a variant's json is reused unless --force).
"""
import argparse
import dataclasses
import json
import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
import init_paths  # noqa: E402,F401  (logging set up)
from lib.config import load_config  # noqa: E402
from lib.utils.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cfg", default="configs/quickstart/shapes_cpu.yml")
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: TEST.TEST_EPOCH)")
    parser.add_argument("--images", type=int, default=0, help="first N test images (0: all)")
    parser.add_argument("--thresholds", default="0.05,0.1,0.2",
                        help="focus map thresholds: 'c' sets the coarsest chip-making map's, 'c/m' also the "
                             "finer chip-making maps' (the others keep the config's)")
    parser.add_argument("--tile", type=int, default=1024, help="tile size of the tiled variant (0: none)")
    parser.add_argument("--overlap", type=int, default=192)
    parser.add_argument("--out", default=None, help="default: <output dir>/autofocus")
    parser.add_argument("--force", action="store_true")
    parser.add_argument("--set", nargs="*", default=[], dest="set_words", metavar="KEY VALUE",
                        help="config overrides for every variant (last)")
    return parser.parse_args(argv)


def chip_making_maps(cfg):
    """Indices of the TEST.SCALES entries whose focus maps make the chips of a finer scale (the scale before each
    DO_PRUNING one in the coarse-to-fine order), coarsest first; the order is by each entry's factor on the
    shapes val images' median shape (1116 x 1605), as lib.inference.focus orders them per image."""
    from lib.chips.scales import scale_factor_at
    scales = cfg.TEST.SCALES
    order = sorted(range(len(scales)), key=lambda k: scale_factor_at(1116, 1605, scales, k))
    return [order[p - 1] for p, k in enumerate(order) if p > 0 and cfg.TEST.DO_PRUNING[k]]


def scale_words(scale):
    """A TEST.SCALES entry as the table names it: (930, 1340), x0.5 or 256 px."""
    if isinstance(scale, (list, tuple)):
        return "(%g, %g)" % tuple(scale)
    return "x%g" % scale if scale < 10 else "%g px" % scale


def variants(cfg, args):
    """[(key, label, --set words)]: a --thresholds entry 'c' sets the coarsest chip-making map's threshold,
    'c/m' also every finer chip-making map's."""
    out = [("full", "full pyramid", [])]
    makers = chip_making_maps(cfg)
    for entry in [v for v in args.thresholds.split(",") if v and makers]:
        hyper = [list(h) for h in cfg.TEST.CHIP_HYPERPARAMS]
        values = [float(v) for v in entry.split("/")]
        for k in makers[1:] if len(values) > 1 else []:
            hyper[k][1] = values[1]
        hyper[makers[0]][1] = values[0]
        maps = ", ".join("%s: %g" % (scale_words(cfg.TEST.SCALES[k]), hyper[k][1]) for k in makers)
        out.append(("autofocus_%s" % entry.replace("/", "_"), "AutoFocus, map thresholds %s" % maps,
                    ["TEST.AUTO_FOCUS", "True", "TEST.CHIP_HYPERPARAMS", str(tuple(tuple(h) for h in hyper))]))
    if args.tile > 0:
        out.append(("tiled", "full pyramid in %d px tiles, overlap %d" % (args.tile, args.overlap),
                    ["TEST.TILE_SIZE", str(args.tile), "TEST.TILE_OVERLAP", str(args.overlap)]))
    return out


def subset(dataset, count, folder):
    """The dataset cut to its first `count` records, with a gt json of those images only."""
    if count <= 0 or count >= len(dataset.records):
        return dataset
    records = dataset.records[:count]
    with open(dataset.annotation_file) as f:
        gt = json.load(f)
    ids = {r.image_id for r in records}
    gt["images"] = [im for im in gt["images"] if im["id"] in ids]
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in ids]
    path = os.path.join(folder, "gt_first_%d.json" % count)
    atomic_write_json(path, gt)
    return dataclasses.replace(dataset, records=records, annotation_file=path)


def run_variant(cfg, params, dataset, contexts):
    """(COCO metrics, pixels per image, images/s) of the config's tester on the dataset."""
    from lib.inference.coco_results import coco_results
    from lib.inference.evaluate import coco_evaluate
    from lib.inference.network import build_test_network
    from lib.inference.pipeline import Pipeline
    net = build_test_network(cfg, params, contexts)
    pipeline = Pipeline.from_config(cfg, net, contexts, dataset.num_classes)
    start = time.time()
    detections = pipeline.detect(dataset.records)
    seconds = time.time() - start
    evaluation = coco_evaluate(coco_results(detections, dataset), dataset.annotation_file, dataset.class_names,
                               dataset.category_ids)
    return evaluation["metrics"], pipeline.pixels / len(dataset.records), len(dataset.records) / seconds


def table(rows, dataset_name, count):
    full = next(r for r in rows if r["key"] == "full")
    lines = ["| %s, %d images | AP | AP_S | Mpx per image | of full | images/s |" % (dataset_name, count),
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append("| %s | %.3f | %.3f | %.2f | %.0f %% | %.2f |" % (
            r["label"], r["metrics"]["AP"], r["metrics"]["APs"], r["pixels_per_image"] / 1e6,
            100 * r["pixels_per_image"] / full["pixels_per_image"], r["images_per_second"]))
    return "\n".join(lines)


def main(argv=None):
    args = parse_args(argv)
    from lib.dataset import load_dataset
    from lib.inference.prerequisites import model_params
    from lib.runtime.devices import parse_contexts
    from lib.runtime.run_paths import output_dir
    base = load_config(args.cfg, args.set_words)
    out = args.out or os.path.join(output_dir(base), "autofocus")
    os.makedirs(out, exist_ok=True)
    params = model_params(base, args.epoch)
    contexts = parse_contexts(base.gpus)
    dataset = subset(load_dataset(base, base.dataset.test_image_set), args.images, out)
    rows = []
    for key, label, words in variants(base, args):
        path = os.path.join(out, key + ".json")
        if os.path.exists(path) and not args.force:
            with open(path) as f:
                rows.append(dict(json.load(f), label=label))
            continue
        metrics, pixels, speed = run_variant(load_config(args.cfg, args.set_words + words), params, dataset, contexts)
        row = {"key": key, "label": label, "set": words, "metrics": metrics, "pixels_per_image": pixels,
               "images_per_second": speed, "images": len(dataset.records), "params": params}
        atomic_write_json(path, row, indent=2)
        rows.append(row)
    text = table(rows, dataset.name, len(dataset.records))
    atomic_write_bytes(os.path.join(out, "autofocus.md"), (text + "\n").encode())
    print(text)


if __name__ == "__main__":
    main()
