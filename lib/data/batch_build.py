"""One batch of the loader, built from its (record, chip, seed) items in any process."""
import dataclasses

import numpy as np

from lib.data.batchify import batch_layout, batchify
from lib.data.chip_loader import chip_canvas, load_chip


def batch_items(records, epoch_chips, batch_index):
    """[(record, chip, chip seed)] of batch `batch_index`; records lose their proposals (not needed here)."""
    size = epoch_chips.batch_size
    items = []
    for position in range(batch_index * size, (batch_index + 1) * size):
        image_index, chip = epoch_chips.entries[position]
        record = records[image_index]
        if record.proposals is not None:
            record = dataclasses.replace(record, proposals=None, proposal_scores=None)
        items.append((record, chip, epoch_chips.chip_seed(position)))
    return items


def batch_canvas(items, cfg):
    """The canvas side shared by the chips of `items` (from batch_items)."""
    canvases = {chip_canvas(chip, cfg) for _, chip, _ in items}
    if len(canvases) != 1:
        raise ValueError("a batch mixes canvas sizes %s" % sorted(canvases))
    return canvases.pop()


def batch_layout_of(items, cfg):
    """The batch_layout of the batch `items` (its size and canvas)."""
    return batch_layout(cfg, len(items), batch_canvas(items, cfg))


def build_batch(items, cfg, out=None, report=None):
    """(batch dict, number of gts truncated from gt_boxes) of `items` from batch_items.

    out: arrays to write into (name -> (B, ...)), as from batch_views; new arrays when None.
    report: called with (chip number k, number of chips, record) before chip k is built (a worker's status).
    """
    chips, truncated = [], 0
    for k, (record, chip, seed) in enumerate(items):
        if report is not None:
            report(k, len(items), record)
        chip_dict, n = load_chip(record, chip, cfg, np.random.default_rng(seed))
        chips.append(chip_dict)
        truncated += n
    return batchify(chips, out), truncated
