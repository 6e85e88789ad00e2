"""Summary statistics of a loaded Dataset (sizes of images and boxes, class counts), for scripts and tests."""
import numpy as np

from lib.geometry.boxes import box_areas

PERCENTILES = (5, 25, 50, 75, 95)


def dataset_stats(dataset):
    """Dict: images, boxes, boxes per image (mean/min/max), image sides (min/max px),
    box sqrt-area percentiles (px, +1 convention) at PERCENTILES, and per-class box counts by name."""
    counts = np.array([len(r.boxes) for r in dataset.records], dtype=np.int64)
    boxes = np.concatenate([r.boxes for r in dataset.records] or [np.zeros((0, 4), np.float32)])
    classes = np.concatenate([r.classes for r in dataset.records] or [np.zeros(0, np.int32)])
    sides = np.array([[r.width, r.height] for r in dataset.records]).reshape(-1, 2)
    sqrt_area = np.sqrt(box_areas(boxes)) if len(boxes) else np.zeros(0)
    if not len(counts):
        counts, sides = np.zeros(1, np.int64), np.zeros((1, 2), np.int64)
    return {
        "images": len(dataset.records),
        "boxes": int(counts.sum()),
        "boxes_per_image": (float(counts.mean()), int(counts.min()), int(counts.max())),
        "image_sides": (int(sides.min()), int(sides.max())),
        "sqrt_area_percentiles": dict(zip(PERCENTILES, np.percentile(sqrt_area, PERCENTILES).tolist()))
        if len(sqrt_area) else {},
        "per_class": {name: int((classes == k).sum()) for k, name in enumerate(dataset.class_names) if k},
    }


def format_stats(name, stats):
    """Human-readable lines of `dataset_stats` output."""
    mean, lo, hi = stats["boxes_per_image"]
    pct = ", ".join("p%d %.1f" % (p, v) for p, v in stats["sqrt_area_percentiles"].items())
    return "\n".join([
        "%s: %d images (sides %d-%d px), %d boxes, %.2f boxes/image (min %d, max %d)"
        % (name, stats["images"], stats["image_sides"][0], stats["image_sides"][1], stats["boxes"], mean, lo, hi),
        "  box sqrt(area) px: %s" % (pct or "no boxes"),
        "  per class: %s" % ", ".join("%s %d" % kv for kv in stats["per_class"].items()),
    ])
