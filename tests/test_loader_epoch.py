"""Epoch building: chips re-mined per epoch, negatives, padding, global shuffle, seeding, pool == serial."""
import numpy as np

from lib.chips.chip import Chip, ImageChips
from lib.data.epoch import build_epoch, pad_and_shuffle
from lib.dataset.roidb import append_flipped
from loader_helpers import paper_cfg, record


def random_records(n, seed=0, with_proposals=False):
    rng = np.random.default_rng(seed)
    records = []
    for i in range(n):
        k = rng.integers(1, 15)
        xy = rng.uniform(0, 500, (k, 2))
        wh = rng.uniform(8, 140, (k, 2))
        boxes = np.clip(np.concatenate([xy, xy + wh], 1), 0, [639, 479, 639, 479])
        rec = record("img%d.jpg" % i, 640, 480, boxes)
        if with_proposals:
            pxy = rng.uniform(0, 560, (300, 2))
            rec.proposals = np.concatenate([pxy, pxy + rng.uniform(10, 80, (300, 2))], 1).astype(np.float32)
        records.append(rec)
    return records


def fake_sampler(width, height, gt_boxes, scales, valid_ranges, chip_size=512, stride=None, proposals=None,
                 rng=None, lower_bound_all_scales=False):
    """One positive chip per gt and three negatives when proposals are given (all at scale 0)."""
    def make(i, negative):
        return Chip(box=np.array([i, 0, i + 100, 100], np.float32), scale=3.0, scale_index=0, size=(512, 512),
                    canvas=512, valid_range=(-1, 80), negative=negative)
    negatives = [make(100 + k, True) for k in range(3)] if proposals is not None else []
    return ImageChips(positive=[make(i, False) for i in range(len(gt_boxes))], negative=negatives)


def keys(epoch_chips):
    return [(i, tuple(c.box), c.scale_index, tuple(c.gt_index), c.negative) for i, c in epoch_chips.entries]


def test_pad_and_shuffle_repeats_first_entries():
    out = pad_and_shuffle(list(range(10)), 4, np.random.default_rng(0))
    assert len(out) == 12 and sorted(out) == sorted(list(range(10)) + [0, 1])
    assert out != sorted(out)
    short = pad_and_shuffle(["a", "b"], 5, np.random.default_rng(0))
    assert sorted(short) == ["a", "a", "a", "b", "b"]


def test_epoch_has_every_chip_once_plus_padding_and_negatives():
    records = random_records(7, with_proposals=True)
    cfg = paper_cfg(BATCH_IMAGES=4, USE_NEG_CHIPS=True, NUM_NEG_CHIPS=2, NUM_PROCESS=0)
    ep = build_epoch(records, cfg, 0, num_devices=2, sample_fn=fake_sampler)
    n_pos = sum(len(r.boxes) for r in records)
    assert ep.num_chips == n_pos + 2 * 7 and ep.num_negative == 14
    assert ep.batch_size == 8 and len(ep.entries) % 8 == 0 and len(ep.entries) - ep.num_chips < 8
    per_image = np.bincount([i for i, _ in ep.entries], minlength=7)
    assert np.all(per_image >= [len(r.boxes) + 2 for r in records])
    cfg.TRAIN.USE_NEG_CHIPS = False
    assert build_epoch(records, cfg, 0, num_devices=2, sample_fn=fake_sampler).num_negative == 0


def test_epoch_is_seeded_and_changes_every_epoch():
    records = random_records(30)
    cfg = paper_cfg(BATCH_IMAGES=4, NUM_PROCESS=0, USE_NEG_CHIPS=False)
    first, again = build_epoch(records, cfg, 3), build_epoch(records, cfg, 3)
    assert keys(first) == keys(again) and first.stride == again.stride
    assert 56 <= first.stride <= 59
    assert keys(build_epoch(records, cfg, 4)) != keys(first)
    cfg.RNG_SEED = 11
    assert keys(build_epoch(records, cfg, 3)) != keys(first)


def test_real_sampler_with_flipped_records_and_negatives():
    records = append_flipped(random_records(6, with_proposals=True))
    cfg = paper_cfg(BATCH_IMAGES=1, NUM_PROCESS=0, USE_NEG_CHIPS=True, NUM_NEG_CHIPS=2)
    ep = build_epoch(records, cfg, 0)
    assert ep.num_chips == len(ep.entries) > 0  # batches of 1: no padding
    assert {i for i, _ in ep.entries} <= set(range(12))
    negatives = np.bincount([i for i, c in ep.entries if c.negative], minlength=12)
    assert negatives.max() <= 2
    for i, c in ep.entries:
        assert np.all(c.gt_index < len(records[i].boxes))


def test_process_pool_gives_the_same_epoch_as_serial():
    records = random_records(240, with_proposals=True)
    cfg = paper_cfg(BATCH_IMAGES=4, NUM_PROCESS=0, USE_NEG_CHIPS=True)
    serial = build_epoch(records, cfg, 1)
    cfg.TRAIN.NUM_PROCESS = 2
    pooled = build_epoch(records, cfg, 1)
    assert keys(serial) == keys(pooled)
    assert serial.num_negative == pooled.num_negative > 0
