"""Loader throughput: chips per second in-process and with worker processes.

COCO-sized synthetic images (640 x 480 JPEGs, 1-40 gts each) at the paper's scales (3.0, 1.667, 512 px),
512 px chips, full RPN targets with 21 anchors.

    .venv/bin/python scripts/bench_loader.py [--images 60] [--batches 40] [--batch-images 4] [--workers 2]
"""
import argparse
import dataclasses
import logging
import os
import sys
import tempfile
import time

import cv2
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.config import default_config  # noqa: E402
from lib.data.epoch import build_epoch  # noqa: E402
from lib.data.loader import ChipLoader  # noqa: E402
from lib.dataset.roidb import ImageRecord  # noqa: E402
from lib.utils.atomic import atomic_write_json  # noqa: E402


def paper_config(batch_images):
    cfg = default_config()
    cfg.network.ANCHOR_SCALES = (2, 4, 7, 10, 13, 16, 24)
    cfg.TRAIN.update(SCALES=(3.0, 1.667, 512.0), VALID_RANGES=((-1, 80), (32, 150), (120, -1)), CHIP_SIZE=512,
                     RPN_POSITIVE_OVERLAP=0.5, RPN_NEGATIVE_OVERLAP=0.4, BATCH_IMAGES=batch_images,
                     USE_NEG_CHIPS=False, NUM_PROCESS=0)
    return cfg


def synthetic_records(directory, count, rng):
    """`count` 640 x 480 JPEGs with 1-40 filled boxes over noise, and their records."""
    records = []
    for i in range(count):
        image = rng.integers(0, 256, (480, 640, 3), dtype=np.uint8)
        k = int(rng.integers(1, 41))
        sizes = np.exp(rng.uniform(np.log(8), np.log(400), (k, 1))) * rng.uniform(0.6, 1.6, (k, 2))
        xy = rng.uniform(0, 1, (k, 2)) * (np.array([640, 480]) - sizes).clip(1)
        boxes = np.floor(np.clip(np.concatenate([xy, xy + sizes], 1), 0, [639, 479, 639, 479]))
        for x1, y1, x2, y2 in boxes.astype(int):
            image[y1:y2 + 1, x1:x2 + 1] = rng.integers(0, 256, 3)
        path = os.path.join(directory, "%06d.jpg" % i)
        cv2.imwrite(path, image)
        records.append(ImageRecord(path, 640, 480, boxes, rng.integers(1, 81, k)))
    return records


def process_cpu_seconds(pid):
    """CPU time (user + sys) used so far by process `pid`, from /proc."""
    with open("/proc/%d/stat" % pid) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(records, cfg, epoch_chips, workers):
    """(chips per wall second, chips per CPU second of the main process and the workers, chips)."""
    cfg.TRAIN.NUM_PROCESS = workers
    loader = ChipLoader(records, cfg, epoch_chips)
    start, start_cpu = time.perf_counter(), process_cpu_seconds(os.getpid())
    count, cpu = 0, 0.0
    for done, batch in enumerate(loader, 1):
        count += len(batch["data"])
        if done == len(loader):  # the workers still exist until the loop asks for more
            cpu = sum(process_cpu_seconds(pid) for pid in loader.worker_pids)
    wall = time.perf_counter() - start
    cpu += process_cpu_seconds(os.getpid()) - start_cpu
    return count / wall, count / cpu, count


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=60)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--batch-images", type=int, default=4)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--json", default=None, help="also write the figures to this json file")
    args = parser.parse_args()
    figures = {}
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    cv2.setNumThreads(1)  # one core per worker, in-process too
    cfg = paper_config(args.batch_images)
    with tempfile.TemporaryDirectory() as directory:
        records = synthetic_records(directory, args.images, np.random.default_rng(0))
        epoch_chips = build_epoch(records, cfg, 0)
        entries = epoch_chips.entries[:args.batches * epoch_chips.batch_size]
        epoch_chips = dataclasses.replace(epoch_chips, entries=entries)
        scales = np.bincount([c.scale_index for _, c in entries], minlength=3)
        print("chips per scale (3.0, 1.667, 512 px): %s" % scales.tolist())
        print("(chips per CPU second counts the main process and the workers; it does not depend on what else "
              "runs on the machine, chips/s does)")
        warm_up = dataclasses.replace(epoch_chips, entries=entries[:epoch_chips.batch_size])
        throughput(records, cfg, warm_up, args.workers)  # starts the forkserver once, as a trainer would
        for workers in (0, args.workers):
            rate, per_cpu, count = throughput(records, cfg, epoch_chips, workers)
            label = "1 worker (in-process)" if workers == 0 else "%d workers" % workers
            figures["workers_%d" % workers] = {"chips_per_s": rate, "chips_per_cpu_s": per_cpu}
            print("%-22s %7.1f chips/s  %7.1f chips per CPU second  (%d chips)" % (label, rate, per_cpu, count))

    if args.json:
        atomic_write_json(args.json, figures, indent=1)


if __name__ == "__main__":
    main()
