"""Chip statistics of a dataset: chips per image, pixels vs single-scale and full-pyramid training, gts never
covered (and why), and the scales and valid ranges suggested from the dataset's box sizes (the ones
`--write-config` writes).

    python scripts/chip_stats.py --cfg configs/quickstart/shapes_cpu.yml [--json out.json] [--max-images N]
        [--image-set SET] [--synthetic-proposals N] [--set KEY VALUE ...]

One epoch's chips are mined with the config's TRAIN.SCALES, VALID_RANGES, CHIP_SIZE,
ASSIGN_LOWER_BOUND_ALL_SCALES and a stride drawn from RNG_SEED. Negative chips need proposals: with
TRAIN.USE_NEG_CHIPS they are read from <proposal_path>/<dataset name>_rpn.pkl when it exists;
`--synthetic-proposals N` draws N seeded ones per image instead (half jittered gts, half clutter; before an RPN
exists). Flipped copies are left out (same statistics).

`--write-config FILE` first writes a starting config for the dataset of --cfg / --set (its dataset keys, the base
config's other values): TRAIN.SCALES (factor form), VALID_RANGES, ANCHOR_SCALES from the box-size distribution
(lib/chips/scale_plan.py), TEST.SCALES = TRAIN.SCALES, TEST.VALID_RANGES = TRAIN's, TEST.TEST_EPOCH =
TRAIN.end_epoch, dataset.NUM_CLASSES (and the class names of a PascalVOC set); the table then shows its chips.
"""
import argparse
import copy
import logging
import math
import os
import sys
import textwrap

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.chips import draw_stride  # noqa: E402
from lib.chips.stats import box_size_percentiles, dataset_chip_stats, range_coverage  # noqa: E402
from lib.chips.scale_plan import plan_scales  # noqa: E402
from lib.chips.synthetic import synthetic_proposals  # noqa: E402
from lib.chips.validity import box_stats  # noqa: E402
from lib.config import ConfigError, add_config_args, config_from_args, default_config, set_key  # noqa: E402
from lib.config_values import check_values  # noqa: E402
from lib.dataset import DatasetError, load_dataset  # noqa: E402
from lib.dataset.pascal_voc import voc_class_names  # noqa: E402
from lib.dataset.proposals import load_proposals, proposal_file  # noqa: E402
from lib.utils.atomic import atomic_write_bytes, atomic_write_json  # noqa: E402

DEFAULT_CFG = "configs/quickstart/shapes_cpu.yml"


def load_images(cfg, image_set, max_images, synthetic=0):
    """[(width, height, gt_boxes, proposals or None)] of the image set, and a note on the proposals.

    synthetic: N > 0 draws N proposals per image, seeded by RNG_SEED and the image index.
    """
    dataset = load_dataset(cfg, image_set)
    records = dataset.records[:max_images] if max_images else dataset.records
    note = "negative chips: off (TRAIN.USE_NEG_CHIPS false)"
    if cfg.TRAIN.USE_NEG_CHIPS and synthetic > 0:
        for i, r in enumerate(records):
            rng = np.random.default_rng([cfg.RNG_SEED, i])
            r.proposals = synthetic_proposals(rng, r.boxes, synthetic, r.width, r.height)
        note = "negative chips: %d synthetic proposals per image" % synthetic
    elif cfg.TRAIN.USE_NEG_CHIPS:
        path = proposal_file(cfg.proposal_path, dataset.name)
        if os.path.isfile(path):
            load_proposals(path, dataset.records)
            note = "negative chips: proposals from %s" % path
        else:
            note = "negative chips: none (no proposals file %s)" % path
    images = [(r.width, r.height, r.boxes, r.proposals) for r in records]
    return dataset.name, images, note


def collect(cfg, image_set, max_images, synthetic=0):
    """All figures as one json-able dict."""
    name, images, note = load_images(cfg, image_set, max_images, synthetic)
    train = cfg.TRAIN
    rng = np.random.default_rng(cfg.RNG_SEED)
    stride = draw_stride(rng)
    stats = dataset_chip_stats(tqdm(images, desc="chips", leave=False), train.SCALES, train.VALID_RANGES,
                               train.CHIP_SIZE, stride, train.NUM_NEG_CHIPS, rng,
                               train.ASSIGN_LOWER_BOUND_ALL_SCALES)
    plan = suggested_plan(images, train.CHIP_SIZE, cfg.network.RPN_FEAT_STRIDE)
    arms = [("current", train.SCALES, train.VALID_RANGES)] + ([("suggested", plan.scales, plan.valid_ranges)]
                                                               if plan else [])
    coverage = {label: range_coverage(images, scales, ranges, train.CHIP_SIZE, stride)
                for label, scales, ranges in arms}
    return {"dataset": name, "scales": list(train.SCALES), "valid_ranges": [list(v) for v in train.VALID_RANGES],
            "chip_size": train.CHIP_SIZE, "stride": stride, "negatives": note, **stats,
            "box_sqrt_area_percentiles": box_size_percentiles(images),
            "suggested_scales": list(plan.scales) if plan else [],
            "suggested_valid_ranges": [list(v) for v in plan.valid_ranges] if plan else [],
            "range_coverage": {k: {"per_scale": v[0], "no_scale": v[1]} for k, v in coverage.items()}}


def suggested_plan(images, chip_size, stride):
    """The ScalePlan --write-config derives from these images' boxes (None without boxes)."""
    sizes = np.concatenate([box_stats(boxes).a for _, _, boxes, _ in images] or [np.zeros(0)])
    if sizes.size == 0:
        return None
    return plan_scales(sizes, [max(w, h) for w, h, _, _ in images], chip_size, stride)


def _with_classes(cfg):
    """A copy of cfg with dataset.NUM_CLASSES (and a PascalVOC set's CLASSES) taken from the data."""
    cfg = copy.deepcopy(cfg)
    if cfg.dataset.dataset == "PascalVOC":
        names = voc_class_names(cfg.dataset.CLASSES, cfg.dataset.dataset_path, cfg.dataset.image_set)
        set_key(cfg, "dataset.CLASSES", ",".join(names))
        set_key(cfg, "dataset.NUM_CLASSES", len(names) + 1)
    else:
        set_key(cfg, "dataset.NUM_CLASSES",
                load_dataset(cfg, cfg.dataset.image_set, match_num_classes=False).num_classes)
    return cfg


def starting_config(cfg):
    """The config written by --write-config: cfg with the keys derived from dataset.image_set's boxes.

    Returns (config, notes): notes are the figures the scales were derived from.
    """
    cfg = _with_classes(cfg)
    records = load_dataset(cfg, cfg.dataset.image_set).records
    plan = suggested_plan([(r.width, r.height, r.boxes, None) for r in records], cfg.TRAIN.CHIP_SIZE,
                          cfg.network.RPN_FEAT_STRIDE)
    if plan is None:
        raise DatasetError("dataset %s %s has no gt boxes: the box sizes decide the scales"
                           % (cfg.dataset.dataset, cfg.dataset.image_set))
    most = max(len(r.boxes) for r in records)
    derived = {"TRAIN.SCALES": plan.scales, "TRAIN.VALID_RANGES": plan.valid_ranges,
               "TEST.SCALES": plan.scales, "TEST.VALID_RANGES": plan.valid_ranges,
               "network.ANCHOR_SCALES": plan.anchor_scales,
               "network.NUM_ANCHORS": len(plan.anchor_scales) * len(cfg.network.ANCHOR_RATIOS),
               "TEST.TEST_EPOCH": cfg.TRAIN.end_epoch,
               # gt rows per chip: an image's gts, below the rois per chip (more are counted, never dropped silently)
               "dataset.MAX_GTS": min(max(cfg.dataset.MAX_GTS, most), cfg.TRAIN.ROIS_PER_CHIP - 1)}
    if not isinstance(cfg.TEST.BATCH_IMAGES, int):
        derived["TEST.BATCH_IMAGES"] = (1,) * len(plan.scales)
    if 2 * most > 100:  # dense images: keep and count twice the most gts of an image, in hundreds
        derived["TEST.EVAL_MAX_DETS"] = 100 * math.ceil(2 * most / 100)
        derived["TEST.MAX_PER_IMAGE"] = max(cfg.TEST.MAX_PER_IMAGE, derived["TEST.EVAL_MAX_DETS"])
    else:  # COCO's evaluation, whatever a dense-scene base config said
        derived["TEST.EVAL_MAX_DETS"] = 100
    for key, value in derived.items():
        set_key(cfg, key, value)
    check_values(cfg)
    notes = dict(plan.notes, images=len(records), gts=sum(len(r.boxes) for r in records), most_gts_per_image=most)
    return cfg, notes


def _changed(tree, defaults):
    """The keys of a config dict whose value differs from the defaults' (private '_' keys left out)."""
    out = {}
    for key, value in tree.items():
        if key.startswith("_"):
            continue
        if isinstance(value, dict):
            sub = _changed(value, defaults.get(key, {}))
            if sub:
                out[key] = sub
        elif value != defaults.get(key):
            out[key] = value
    return out


def config_yaml(cfg, notes, base):
    """YAML text of cfg's keys that differ from the defaults, under a header saying where the values come from."""
    import yaml
    header = ["Starting config written by scripts/chip_stats.py --write-config from %s (other values: %s)."
              % (cfg.dataset.image_set, base or "the defaults"),
              "%d images, %d gt boxes (at most %d in one image); box sqrt(area) p2 %.1f px, max %.1f px; median image "
              "long side %.0f px." % (notes["images"], notes["gts"], notes["most_gts_per_image"],
                                      notes["box_sqrt_area_p2"], notes["box_sqrt_area_max"],
                                      notes["median_long_side"]),
              "TRAIN.SCALES: factors (finest first), the last the long side in px (the whole image in one %d px chip,"
              " factor %.3f on the median image);" % (cfg.TRAIN.CHIP_SIZE, notes["whole_image_factor"]),
              "each factor maps one window of box sizes %s px to %.0f-%.0f px in the chip (the paper's"
              % (notes["windows"], *notes["band_chip_px"]),
              "middle band, scaled with the chip); VALID_RANGES (original px) are the windows widened to overlap.",
              "TEST uses the same scales (the factor form: every image sees its training factors) and ranges;",
              "ANCHOR_SCALES are the paper's scaled with the chip; TEST_EPOCH is the last epoch (TRAIN.end_epoch).",
              "Check it with: python scripts/chip_stats.py --cfg <this file>."]
    body = yaml.safe_dump(_changed(cfg.to_dict(), default_config().to_dict()), sort_keys=False,
                          default_flow_style=None, width=118)
    lines = textwrap.wrap(" ".join(header), width=116)
    return "".join("# %s\n" % line for line in lines) + body


def format_table(r):
    """The figures as a printable table."""
    rows = [("dataset", r["dataset"]), ("images / gts", "%d / %d" % (r["images"], r["gts"])),
            ("scales / valid ranges", "%s / %s" % (r["scales"], r["valid_ranges"])),
            ("chip size / stride", "%d / %d" % (r["chip_size"], r["stride"])),
            ("positive chips / image", "%.2f  (per scale: %s)" % (
                r["positive_per_image"], ", ".join("%.2f" % x for x in r["positive_per_image_by_scale"]))),
            ("negative chips / image", "%.2f candidates (per scale: %s), %.2f sampled per epoch  [%s]" % (
                r["negative_candidates_per_image"],
                ", ".join("%.2f" % x for x in r["negative_candidates_per_image_by_scale"]),
                r["negative_sampled_per_image"], r["negatives"])),
            ("Mpx / image: chips", "%.3f" % r["chip_megapixels_per_image"]),
            ("Mpx / image: single scale 800x1333", "%.3f  (chips = %.2fx)" % (
                r["single_scale_megapixels_per_image"], r["chips_vs_single_scale"])),
            ("Mpx / image: full pyramid", "%.3f  (chips = %.2fx)" % (
                r["pyramid_megapixels_per_image"], r["chips_vs_pyramid"]))]
    rows += [("gts never valid: " + reason, str(n)) for reason, n in r["gts_uncovered"].items()]
    rows.append(("box sqrt area px (p5..p95)", ", ".join(
        "p%d %.0f" % (int(p), v) for p, v in r["box_sqrt_area_percentiles"].items())))
    rows.append(("suggested scales / valid ranges", "%s / %s  (as --write-config)" % (
        r["suggested_scales"], r["suggested_valid_ranges"])))
    for label, cov in r["range_coverage"].items():
        rows.append(("gts selected (%s ranges)" % label, "per scale %s, at no scale %.1f%%" % (
            ", ".join("%.1f%%" % (100 * x) for x in cov["per_scale"]), 100 * cov["no_scale"])))
    for i, share in enumerate(r["range_coverage"].get("current", ([], 0))["per_scale"]):
        if share < 0.01:
            rows.append(("warning", "scale %d selects %.1f%% of the gts: lower its range or drop the scale"
                         % (i, 100 * share)))
    width = max(len(k) for k, _ in rows)
    return "\n".join("%-*s  %s" % (width, k, v) for k, v in rows)


def main(argv=None):
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-set", default=None, help="image set (default: dataset.image_set)")
    parser.add_argument("--max-images", type=int, default=0, help="only the first N images (0: all)")
    parser.add_argument("--json", default=None, help="also write the figures to this json file")
    parser.add_argument("--synthetic-proposals", type=int, default=0,
                        help="N seeded synthetic proposals per image for the negative chips (0: the proposals file)")
    parser.add_argument("--write-config", default=None, metavar="FILE",
                        help="write a starting config for this dataset to FILE (scales, ranges, anchors, classes)")
    args = add_config_args(parser, DEFAULT_CFG).parse_args(argv)
    cfg = config_from_args(args)
    try:
        if args.write_config:
            cfg, notes = starting_config(cfg)
        result = collect(cfg, args.image_set or cfg.dataset.image_set, args.max_images, args.synthetic_proposals)
    except (DatasetError, ConfigError, ValueError) as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    if args.write_config:
        atomic_write_bytes(args.write_config, config_yaml(cfg, notes, args.cfg).encode())
        print("wrote %s (its chips below)" % args.write_config)
    print(format_table(result))
    if args.json:
        atomic_write_json(args.json, result)
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
