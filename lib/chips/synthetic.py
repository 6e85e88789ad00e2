"""Synthetic boxes and proposals (seeded) for the chip benchmark and for chip pictures without an RPN."""
import numpy as np


def random_boxes(rng, n, width, height, lo=6.0, hi=400.0):
    """(n, 4) float64 integer-valued boxes of log-uniform sqrt area in [lo, hi] px, aspect 0.5..2, in the image."""
    side = np.exp(rng.uniform(np.log(lo), np.log(hi), n))
    ratio = np.exp(rng.uniform(np.log(0.5), np.log(2.0), n))
    w = np.minimum(side * np.sqrt(ratio), width - 1)
    h = np.minimum(side / np.sqrt(ratio), height - 1)
    x1 = rng.uniform(0, width - w)
    y1 = rng.uniform(0, height - h)
    return np.floor(np.stack([x1, y1, x1 + w, y1 + h], axis=1))


def clustered_boxes(rng, n, width, height, n_clusters=10, spread=0.05):
    """(n, 4) random boxes (as `random_boxes`) centred near `n_clusters` random points (spread x long side):
    the clutter an RPN fires on away from the objects."""
    boxes = random_boxes(rng, n, width, height)
    centres = rng.uniform(0, [width, height], (n_clusters, 2))[rng.integers(0, n_clusters, n)]
    centres += rng.normal(0, spread * max(width, height), (n, 2))
    half = (boxes[:, 2:] - boxes[:, :2]) / 2
    return np.floor(np.concatenate([centres - half, centres + half], axis=1))


def synthetic_proposals(rng, gts, n, width, height):
    """(n, 4) float32 in the image: half jittered copies of the gts (an RPN fires around objects), half
    clustered clutter (`clustered_boxes`)."""
    gts = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    n_jit = n // 2 if len(gts) else 0
    base = gts[rng.integers(0, len(gts), n_jit)] if n_jit else np.zeros((0, 4))
    wh = np.concatenate([base[:, 2:] - base[:, :2]] * 2, axis=1)
    jittered = base + rng.normal(0, 0.15, (n_jit, 4)) * wh
    boxes = np.concatenate([jittered, clustered_boxes(rng, n - n_jit, width, height)], axis=0)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height - 1)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return boxes.astype(np.float32)
