"""One training epoch's chip list (the original's `MNIteratorE2E.reset`, lib/iterators/MNIteratorE2E.py, with its
per-epoch draw of at most 2 negative chips per image).

Every epoch re-mines the chips of every record with one stride drawn for the epoch, adds up to
TRAIN.NUM_NEG_CHIPS negatives per image (with TRAIN.USE_NEG_CHIPS), pads the list of (image index, chip)
entries to whole global batches by repeating its first entries, and shuffles it globally. A global shuffle of
(image, chip) pairs replaces the reference's shuffled image-index list plus per-image chip cursors: both put
each chip of the epoch exactly once (plus padding) at a uniformly random position.

Randomness comes only from (RNG_SEED, epoch): the stride and the shuffle from one Generator, and each image's
chips and negatives from its own Generator seeded by (RNG_SEED, epoch, image index), so mining in a process
pool gives the same chips as mining serially.

TRAIN.FULL_IMAGE (the ablation's no-chip baselines) replaces mining by one whole-image chip per image at a
scale drawn per image and epoch; batches then never mix canvas sizes.
"""
import logging
import multiprocessing
from dataclasses import dataclass
from typing import Callable, List, Tuple

import numpy as np
from tqdm import tqdm

from lib.chips import draw_stride, sample_chips, sample_negatives
from lib.chips.full_image import sample_full_image
from lib.config import ConfigError
from lib.dataset.errors import DatasetError
from lib.geometry.boxes import box_areas
from lib.specs.training import ChipSpec

logger = logging.getLogger(__name__)

IMAGE_STREAM, CHIP_STREAM = 0, 1  # seed-sequence tags: per-image mining, per-chip label sampling
POOL_MIN_IMAGES = 200  # below this, mining runs in-process (a pool costs more than it saves)


@dataclass
class EpochChips:
    """The chips of one epoch, in training order.

    entries: (image index into the records, Chip) per slot, padded to a multiple of batch_size and shuffled.
    batch_size: chips per global batch (devices x TRAIN.BATCH_IMAGES).
    seed, epoch: the (RNG_SEED, epoch) every random draw of the epoch derives from.
    stride: the chip stride drawn for the epoch.
    num_chips: chips before padding (num_negative of them negatives).
    """
    entries: List[Tuple[int, object]]
    batch_size: int
    seed: int
    epoch: int
    stride: int
    num_chips: int
    num_negative: int

    @property
    def num_batches(self):
        return len(self.entries) // self.batch_size

    def chip_seed(self, position):
        """The seed of the chip at `position` (its RPN label sampling): [seed, epoch, stream tag, position]."""
        return [self.seed, self.epoch, CHIP_STREAM, position]


@dataclass(frozen=True)
class _MiningJob:
    """What mining one image needs besides the image itself (picklable for the pool): the chip engine's
    functions, the ChipSpec, the epoch's drawn stride, the seed and the epoch."""
    sample_fn: Callable
    negatives_fn: Callable
    chips: ChipSpec
    stride: int
    seed: int
    epoch: int

    def __call__(self, item):
        """(image index, ImageRecord) -> (positive chips, sampled negative chips)."""
        index, record = item
        rng = np.random.default_rng([self.seed, self.epoch, IMAGE_STREAM, index])
        spec = self.chips
        chips = self.sample_fn(record.width, record.height, record.boxes, spec.scales, spec.valid_ranges,
                               chip_size=spec.chip_size, stride=self.stride,
                               proposals=record.proposals if spec.use_negatives else None, rng=rng,
                               lower_bound_all_scales=spec.lower_bound_all_scales)
        negatives = self.negatives_fn(chips, spec.num_negatives, rng) if spec.use_negatives else []
        return list(chips.positive), list(negatives)


def mine_chips(records, job, num_process):
    """Run `job` over every record, in a (forkserver) process pool of `num_process` when there are many records.

    Returns a list over records of (positive chips, sampled negatives), in record order.
    """
    items = list(enumerate(records))
    progress = dict(total=len(items), desc="chips (epoch %d)" % job.epoch, unit="img",
                    disable=len(items) < POOL_MIN_IMAGES, leave=False)
    if num_process > 1 and len(items) >= POOL_MIN_IMAGES:
        with multiprocessing.get_context("forkserver").Pool(num_process) as pool:
            chunk = max(1, min(64, len(items) // (4 * num_process)))
            return list(tqdm(pool.imap(job, items, chunksize=chunk), **progress))
    return [job(item) for item in tqdm(items, **progress)]


def pad_and_shuffle(entries, batch_size, rng):
    """Pad `entries` to a multiple of batch_size by repeating its first entries (cyclically when it is
    shorter than a batch), then permute it with `rng`. Returns a new list."""
    if not entries:
        raise ValueError("the epoch has no chips: no record has a gt box inside a valid range "
                         "(check TRAIN.SCALES / TRAIN.VALID_RANGES and the dataset)")
    padded = -(-len(entries) // batch_size) * batch_size
    order = rng.permutation(np.arange(padded) % len(entries))
    return [entries[i] for i in order]


def pad_and_shuffle_by_canvas(entries, batch_size, rng):
    """pad_and_shuffle with every batch taken from chips of one canvas size (full-image multi-scale training):
    each canvas's entries are padded and shuffled on their own, then the order of the batches is permuted."""
    canvases = sorted({chip.canvas for _, chip in entries})
    if len(canvases) <= 1:
        return pad_and_shuffle(entries, batch_size, rng)
    batches = []
    for canvas in canvases:
        group = pad_and_shuffle([e for e in entries if e[1].canvas == canvas], batch_size, rng)
        batches += [group[k:k + batch_size] for k in range(0, len(group), batch_size)]
    return [entry for b in rng.permutation(len(batches)) for entry in batches[b]]


def full_image_entries(records, *, scales, seed, epoch):
    """[(image index, whole-image Chip)]: each record with gts once, at a scale drawn from its own Generator."""
    return [(i, chip) for i, record in enumerate(records)
            for chip in sample_full_image(record.width, record.height, record.boxes, scales,
                                          np.random.default_rng([seed, epoch, IMAGE_STREAM, i]))]


def no_chips_error(records, cfg):
    """The error of an epoch without chips: the records' gt boxes and their sizes against the scales' ranges
    (DatasetError when there is no gt box at all, ConfigError otherwise)."""
    boxes = np.concatenate([r.boxes for r in records] or [np.zeros((0, 4), np.float32)])
    if not len(boxes):
        return DatasetError("the epoch has no chips: none of the %d training records has a gt box" % len(records))
    sides = np.sqrt(box_areas(boxes))
    return ConfigError("the epoch has no chips: the %d training records have %d gt boxes of sqrt(area) %.1f to %.1f "
                       "px, but no chip holds one inside its scale's valid range; check TRAIN.SCALES %s and "
                       "TRAIN.VALID_RANGES %s" % (len(records), len(boxes), sides.min(), sides.max(),
                                                  tuple(cfg.TRAIN.SCALES), tuple(cfg.TRAIN.VALID_RANGES)))


def build_epoch(records, cfg, epoch, num_devices=1, sample_fn=sample_chips, negatives_fn=sample_negatives):
    """The EpochChips of `epoch` for `records` (which already include flipped copies with TRAIN.FLIP).

    sample_fn, negatives_fn: the chip engine's `sample_chips` and `sample_negatives` (replaceable in tests).
    With TRAIN.FULL_IMAGE every image is one whole-image chip instead (no negatives).
    """
    train, spec = cfg.TRAIN, ChipSpec.from_config(cfg)
    rng = np.random.default_rng([cfg.RNG_SEED, epoch])
    stride = draw_stride(rng)
    if spec.full_image:
        entries, num_negative = full_image_entries(records, scales=spec.scales, seed=cfg.RNG_SEED, epoch=epoch), 0
    else:
        job = _MiningJob(sample_fn=sample_fn, negatives_fn=negatives_fn, chips=spec, stride=stride,
                         seed=cfg.RNG_SEED, epoch=epoch)
        mined = mine_chips(records, job, train.NUM_PROCESS)
        entries = [(i, chip) for i, (positive, negative) in enumerate(mined) for chip in positive + negative]
        num_negative = sum(len(negative) for _, negative in mined)
    if not entries:
        raise no_chips_error(records, cfg)
    batch_size = num_devices * train.BATCH_IMAGES
    epoch_chips = EpochChips(pad_and_shuffle_by_canvas(entries, batch_size, rng), batch_size, cfg.RNG_SEED,
                             epoch, stride, len(entries), num_negative)
    logger.info("epoch %d: %d images, stride %d, %d chips (%d negative), %d batches of %d",
                epoch, len(records), stride, len(entries), num_negative, epoch_chips.num_batches, batch_size)
    return epoch_chips
