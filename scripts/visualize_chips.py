"""The paper's Figures 1 and 2 for one image: the image with its gts and the chips of every scale, then each
chip as the network sees it, with the gts valid in it in green, the invalid ones in red, and for negative
chips the proposals that placed them in yellow.

    python scripts/visualize_chips.py --cfg configs/quickstart/shapes_cpu.yml --image ID|PATH --out chips.png
        [--image-set SET] [--synthetic-proposals N] [--max-chips 24] [--set KEY VALUE ...]

ID is the dataset's image id (or the record's position, "#12"); PATH an image file of the set. Proposals come
from <proposal_path>/<dataset name>_rpn.pkl with TRAIN.USE_NEG_CHIPS; `--synthetic-proposals N` draws N seeded
random proposals instead (labelled as such), to show negative chips before an RPN exists.
"""
import argparse
import os
import sys

import matplotlib
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.chips import draw_stride, sample_chips  # noqa: E402
from lib.chips.synthetic import synthetic_proposals  # noqa: E402
from lib.config import add_config_args, config_from_args  # noqa: E402
from lib.data.chip_loader import boxes_in_chip, crop_chip_image  # noqa: E402
from lib.data.image import read_record_image  # noqa: E402
from lib.dataset import DatasetError, load_dataset  # noqa: E402
from lib.dataset.proposals import load_proposals, proposal_file  # noqa: E402

DEFAULT_CFG = "configs/quickstart/shapes_cpu.yml"
SCALE_COLOURS = ("#1f77b4", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2")
NEGATIVE_COLOUR = "#17becf"


def find_record(dataset, key):
    """The record whose image id is `key`, whose position is `#key`, or whose file is `key`."""
    for record in dataset.records:
        if str(record.image_id) == key:
            return record
    if key.startswith("#") and key[1:].isdigit() and int(key[1:]) < len(dataset.records):
        return dataset.records[int(key[1:])]
    real = os.path.realpath(key)
    for record in dataset.records:
        if os.path.realpath(record.image) == real or os.path.basename(record.image) == key:
            return record
    some = ", ".join(str(r.image_id) for r in dataset.records[:5])
    raise DatasetError("image %r is not in %s (ids like %s, or #index, or an image file of the set)"
                       % (key, dataset.name, some))


def chip_pixels(image, chip, chip_size, means_bgr):
    """What the network sees, back as displayable RGB uint8 (C, C, 3)."""
    canvas = crop_chip_image(image, chip, chip_size, means_bgr).transpose(1, 2, 0)
    return np.clip(canvas + np.asarray(means_bgr[::-1], np.float32), 0, 255).astype(np.uint8)


def _boxes(ax, boxes, colour, width, style="-"):
    for x1, y1, x2, y2 in np.asarray(boxes).reshape(-1, 4):
        ax.add_patch(Rectangle((x1, y1), x2 - x1 + 1, y2 - y1 + 1, fill=False, ec=colour, lw=width, ls=style))


def draw_overview(ax, image, record, chips):
    """Figure 1: the image, its gts (white) and every chip outlined in its scale's colour (negatives dashed)."""
    ax.imshow(image[:, :, ::-1])
    _boxes(ax, record.boxes, "white", 1.0)
    for chip in chips.positive:
        _boxes(ax, chip.box, SCALE_COLOURS[chip.scale_index % len(SCALE_COLOURS)], 2.0)
    for chip in chips.negative:
        _boxes(ax, chip.box, NEGATIVE_COLOUR, 2.0, "--")
    factors = {c.scale_index: c.scale for c in chips.positive}
    legend = ["scale %d (x%.3g): %d chips" % (i, s, sum(c.scale_index == i for c in chips.positive))
              for i, s in sorted(factors.items())]
    ax.set_title("%s  %dx%d  %d gts | %s | negative (dashed): %d" % (
        os.path.basename(record.image), record.width, record.height, len(record.boxes), "; ".join(legend),
        len(chips.negative)), fontsize=9)
    ax.axis("off")


def draw_chip(ax, image, record, chip, chip_size, means_bgr):
    """Figure 2: one chip resampled, valid gts green, invalid red, placing proposals yellow (negatives)."""
    ax.imshow(chip_pixels(image, chip, chip_size, means_bgr))
    moved, kept = boxes_in_chip(record.boxes, chip, chip_size)
    valid = np.isin(kept, chip.gt_index)
    _boxes(ax, moved[~valid], "red", 1.2)
    _boxes(ax, moved[valid], "lime", 1.5)
    if chip.negative and record.proposals is not None:
        _boxes(ax, boxes_in_chip(record.proposals[chip.proposal_index], chip, chip_size)[0], "yellow", 0.6)
    colour = NEGATIVE_COLOUR if chip.negative else SCALE_COLOURS[chip.scale_index % len(SCALE_COLOURS)]
    ax.set_title("%s s%d x%.3g %dx%d, %d valid / %d in chip%s" % (
        "NEG" if chip.negative else "pos", chip.scale_index, chip.scale, chip.size[1], chip.size[0],
        int(valid.sum()), len(kept), ", %d props" % len(chip.proposal_index) if chip.negative else ""),
        fontsize=7, color=colour)
    ax.axis("off")


def render(cfg, record, chips, image, out, max_chips):
    """The whole figure to `out` (png)."""
    shown = (chips.positive + chips.negative)[:max_chips]
    cols = min(6, max(len(shown), 1))
    rows = -(-len(shown) // cols)
    fig = plt.figure(figsize=(3 * cols, 7 + 3 * rows))
    grid = fig.add_gridspec(1 + rows, cols, height_ratios=[7] + [3] * rows)
    draw_overview(fig.add_subplot(grid[0, :]), image, record, chips)
    means = cfg.network.PIXEL_MEANS
    for k, chip in enumerate(shown):
        draw_chip(fig.add_subplot(grid[1 + k // cols, k % cols]), image, record, chip, cfg.TRAIN.CHIP_SIZE, means)
    fig.tight_layout()
    fig.savefig(out, dpi=80)
    plt.close(fig)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image", required=True, help="image id, #index or image file of the set")
    parser.add_argument("--out", required=True, help="output .png")
    parser.add_argument("--image-set", default=None, help="image set (default: dataset.image_set)")
    parser.add_argument("--synthetic-proposals", type=int, default=0, help="N random proposals (demo)")
    parser.add_argument("--max-chips", type=int, default=24, help="chips shown resampled (default 24)")
    args = add_config_args(parser, DEFAULT_CFG).parse_args(argv)
    cfg = config_from_args(args)
    rng = np.random.default_rng(cfg.RNG_SEED)
    try:
        dataset = load_dataset(cfg, args.image_set or cfg.dataset.image_set)
        path = proposal_file(cfg.proposal_path, dataset.name)
        if cfg.TRAIN.USE_NEG_CHIPS and os.path.isfile(path) and not args.synthetic_proposals:
            load_proposals(path, dataset.records)
        record = find_record(dataset, args.image)
        if args.synthetic_proposals:
            record.proposals = synthetic_proposals(rng, record.boxes, args.synthetic_proposals, record.width,
                                                   record.height)
        image = read_record_image(record)
    except DatasetError as err:
        print("error: %s" % err, file=sys.stderr)
        return 2
    chips = sample_chips(record.width, record.height, record.boxes, cfg.TRAIN.SCALES, cfg.TRAIN.VALID_RANGES,
                         cfg.TRAIN.CHIP_SIZE, draw_stride(rng), record.proposals, rng,
                         lower_bound_all_scales=cfg.TRAIN.ASSIGN_LOWER_BOUND_ALL_SCALES)
    render(cfg, record, chips, image, args.out, args.max_chips)
    print("%s: %d positive chips, %d negative chips%s -> %s" % (
        record.image, len(chips.positive), len(chips.negative),
        " (synthetic proposals)" if args.synthetic_proposals else "", args.out))
    return 0


if __name__ == "__main__":
    sys.exit(main())
