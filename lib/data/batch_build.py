"""One batch of the loader, built from its (record, chip, seed) items in any process."""
import dataclasses

import numpy as np

from lib.data.batchify import batch_layout, batchify
from lib.data.chip_loader import load_chip


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


def batch_canvas(items):
    """The canvas side shared by the chips of `items` (from batch_items)."""
    canvases = {chip.canvas for _, chip, _ in items}
    if len(canvases) != 1:
        raise ValueError("a batch mixes canvas sizes %s" % sorted(canvases))
    return canvases.pop()


def batch_layout_of(items, spec):
    """The batch_layout of the batch `items` (its size and canvas); spec: a lib.specs.LoaderSpec."""
    return batch_layout(spec, len(items), batch_canvas(items))


def build_batch(items, spec, *, out=None, report=None):
    """(batch dict, number of gts truncated from gt_boxes) of `items` from batch_items; spec: a LoaderSpec.

    out: arrays to write into (name -> (B, ...)), as from batch_views; new arrays when None.
    report: called with (chip number k, number of chips, record) before chip k is built (a worker's status).
    """
    chips, truncated = [], 0
    for k, (record, chip, seed) in enumerate(items):
        if report is not None:
            report(k, len(items), record)
        chip_dict, n = load_chip(record, chip, spec=spec, rng=np.random.default_rng(seed))
        chips.append(chip_dict)
        truncated += n
    return batchify(chips, out), truncated
