"""Shared fixtures of the loader tests: configs, synthetic images and hand-made chips."""
import os

import cv2
import numpy as np

from lib.chips.chip import Chip
from lib.config import default_config
from lib.dataset.roidb import ImageRecord

RED_BGR = (0, 0, 255)


PAPER_VALID_RANGES = ((-1, 80), (32, 150), (120, -1))


def paper_cfg(**train):
    """The paper's loader settings: 512 chips, 21 anchors, RPN overlaps 0.5 / 0.4, COCO scales."""
    cfg = default_config()
    cfg.network.ANCHOR_SCALES = (2, 4, 7, 10, 13, 16, 24)
    cfg.TRAIN.RPN_POSITIVE_OVERLAP = 0.5
    cfg.TRAIN.RPN_NEGATIVE_OVERLAP = 0.4
    cfg.TRAIN.SCALES = (3.0, 1.667, 512.0)
    cfg.TRAIN.VALID_RANGES = PAPER_VALID_RANGES
    for key, value in train.items():
        cfg.TRAIN[key] = value
    return cfg


def write_image(path, width, height, rects=(), color=RED_BGR):
    """A black PNG image with filled rectangles at inclusive boxes `rects`; returns the path."""
    image = np.zeros((height, width, 3), dtype=np.uint8)
    for x1, y1, x2, y2 in rects:
        image[int(y1):int(y2) + 1, int(x1):int(x2) + 1] = color
    cv2.imwrite(str(path), image)
    return str(path)


def record(path, width, height, boxes, classes=None, flipped=False):
    boxes = np.asarray(boxes, dtype=np.float32).reshape(-1, 4)
    classes = np.arange(1, len(boxes) + 1) if classes is None else classes
    return ImageRecord(image=str(path), width=width, height=height, boxes=boxes, classes=classes,
                       flipped=flipped)


def chip(x1, y1, scale, chip_size=512, scale_index=0, gt_index=(), size=None):
    """A chip whose C x C window starts at (x1, y1) in original px, with the paper's valid range of its scale."""
    side = (chip_size - 1) / scale
    return Chip(box=np.array([x1, y1, x1 + side, y1 + side], dtype=np.float32), scale=scale,
                scale_index=scale_index, size=size or (chip_size, chip_size), canvas=chip_size,
                valid_range=PAPER_VALID_RANGES[scale_index], gt_index=np.asarray(gt_index, dtype=np.int64))


def small_setup(tmp_path, num_batches=6, batch_size=2, missing=None, chip_size=128):
    """Records of three 200 x 150 images with two gts each and an EpochChips of hand-made chips (chip k uses
    image k % 3; image `missing` is not written). Returns (records, cfg with NUM_PROCESS 0, EpochChips)."""
    from lib.data.epoch import EpochChips
    records = []
    for k in range(3):
        gts = [[20 + 10 * k, 30, 60 + 10 * k, 70], [70, 20 + 5 * k, 110, 90]]
        name = os.path.join(str(tmp_path), "img%d.png" % k)
        path = name if k == missing else write_image(name, 200, 150, gts)
        records.append(record(path, 200, 150, gts))
    entries = [(k % 3, chip(5.0 * (k % 4), 3.0 * (k % 5), 1.0, chip_size=chip_size, gt_index=[k % 2]))
               for k in range(num_batches * batch_size)]
    cfg = paper_cfg(CHIP_SIZE=chip_size, NUM_PROCESS=0, RPN_BATCH_SIZE=32)
    return records, cfg, EpochChips(entries, batch_size, seed=5, epoch=2, stride=56, num_chips=len(entries),
                                    num_negative=0)


def run_loader_then_sleep(folder, workers=2):
    """A process to kill: iterate one batch per worker of a `workers`-worker loader (so every worker has started),
    print its pid and the workers' pids as one json line, then sleep holding the iteration open."""
    import json
    import time
    from lib.data.loader import ChipLoader
    os.makedirs(folder, exist_ok=True)
    records, cfg, epoch_chips = small_setup(folder, num_batches=40)
    cfg.TRAIN.NUM_PROCESS = workers
    loader = ChipLoader(records, cfg, epoch_chips)
    iterator = iter(loader)
    for _ in range(workers):
        next(iterator)
    print(json.dumps({"pid": os.getpid(), "workers": loader.worker_pids}), flush=True)
    time.sleep(600)


def slow_sampler(width, height, boxes, scales, valid_ranges, **kwargs):
    """A chip sampler that takes 50 ms per image and finds no chips (keeps a mining pool busy)."""
    import time
    from lib.chips import ImageChips
    time.sleep(0.05)
    return ImageChips(positive=[], negative=[])


def run_mining_then_sleep(workers=2, images=400):
    """A process to kill: mine chips of `images` records in a pool of `workers` processes (20 s of work),
    printing a line when mining starts."""
    from lib.data.epoch import _MiningJob, mine_chips
    from lib.chips import sample_negatives
    records = [record("x.png", 100, 100, [[1, 1, 50, 50]]) for _ in range(images)]
    from lib.specs.training import ChipSpec
    job = _MiningJob(sample_fn=slow_sampler, negatives_fn=sample_negatives,
                     chips=ChipSpec(chip_size=64, scales=(1.0,), valid_ranges=((-1, -1),)), stride=32, seed=0, epoch=0)
    print("mining", flush=True)
    mine_chips(records, job, workers)


def load_chip_cfg(record, chip, cfg, rng):
    """load_chip with the LoaderSpec of `cfg`."""
    from lib.data.chip_loader import load_chip
    from lib.specs.training import LoaderSpec
    return load_chip(record, chip, spec=LoaderSpec.from_config(cfg), rng=rng)
