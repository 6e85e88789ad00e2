"""Chip statistics of a dataset: chips per image, pixels vs single-scale and full-pyramid training, gts never
covered (and why), and valid ranges suggested from the dataset's sizes.

    python scripts/chip_stats.py --cfg configs/quickstart/shapes_cpu.yml [--json out.json] [--max-images N]
        [--image-set SET] [--synthetic-proposals N] [--set KEY VALUE ...]

One epoch's chips are mined with the config's TRAIN.SCALES, VALID_RANGES, CHIP_SIZE,
ASSIGN_LOWER_BOUND_ALL_SCALES and a stride drawn from RNG_SEED. Negative chips need proposals: with
TRAIN.USE_NEG_CHIPS they are read from <proposal_path>/<dataset name>_rpn.pkl when it exists;
`--synthetic-proposals N` draws N seeded ones per image instead (half jittered gts, half clutter; before an RPN
exists). Flipped copies are left out (same statistics).
"""
import argparse
import logging
import os
import sys

import numpy as np
from tqdm import tqdm

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.chips import draw_stride  # noqa: E402
from lib.chips.stats import (box_size_percentiles, dataset_chip_stats, range_coverage,  # noqa: E402
                             suggest_valid_ranges)
from lib.chips.synthetic import synthetic_proposals  # noqa: E402
from lib.config import add_config_args, config_from_args  # noqa: E402
from lib.dataset import DatasetError, load_dataset  # noqa: E402
from lib.dataset.proposals import load_proposals, proposal_file  # noqa: E402
from lib.utils.atomic import atomic_write_json  # noqa: E402

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
    suggested = suggest_valid_ranges(images, train.SCALES) if images else []
    coverage = {label: range_coverage(images, train.SCALES, ranges, train.CHIP_SIZE, stride)
                for label, ranges in (("current", train.VALID_RANGES), ("suggested", suggested)) if ranges}
    return {"dataset": name, "scales": list(train.SCALES), "valid_ranges": [list(v) for v in train.VALID_RANGES],
            "chip_size": train.CHIP_SIZE, "stride": stride, "negatives": note, **stats,
            "box_sqrt_area_percentiles": box_size_percentiles(images),
            "suggested_valid_ranges": [list(v) for v in suggested],
            "range_coverage": {k: {"per_scale": v[0], "no_scale": v[1]} for k, v in coverage.items()}}


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
    rows.append(("suggested valid ranges", str(r["suggested_valid_ranges"])))
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
    args = add_config_args(parser, DEFAULT_CFG).parse_args(argv)
    cfg = config_from_args(args)
    try:
        result = collect(cfg, args.image_set or cfg.dataset.image_set, args.max_images, args.synthetic_proposals)
    except (DatasetError, ValueError) as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    print(format_table(result))
    if args.json:
        atomic_write_json(args.json, result)
        print("wrote %s" % args.json)
    return 0


if __name__ == "__main__":
    sys.exit(main())
