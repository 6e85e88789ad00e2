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


def synthetic_proposals(rng, gts, n, width, height):
    """(n, 4) float32: half jittered copies of the gts (an RPN fires around objects), half random boxes."""
    gts = np.asarray(gts, dtype=np.float64).reshape(-1, 4)
    n_jit = n // 2 if len(gts) else 0
    base = gts[rng.integers(0, len(gts), n_jit)] if n_jit else np.zeros((0, 4))
    wh = np.concatenate([base[:, 2:] - base[:, :2]] * 2, axis=1)
    jittered = base + rng.normal(0, 0.15, (n_jit, 4)) * wh
    boxes = np.concatenate([jittered, random_boxes(rng, n - n_jit, width, height)], axis=0)
    boxes[:, 0::2] = np.clip(boxes[:, 0::2], 0, width - 1)
    boxes[:, 1::2] = np.clip(boxes[:, 1::2], 0, height - 1)
    boxes[:, 2:] = np.maximum(boxes[:, 2:], boxes[:, :2])
    return boxes.astype(np.float32)
