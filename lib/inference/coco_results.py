"""Final detections -> COCO results json (as the original's lib/dataset/coco.py, `_write_coco_results`).

File: `<output_path>/<config name>/<image set>/results/detections_<image set>_results.json` (the caller builds
the folder; `results_file` gives the name). Entries {"image_id", "category_id", "bbox": [x, y, w, h], "score"}
with w = x2 - x1 + 1, h = y2 - y1 + 1 (inclusive pixels), bbox rounded to 1 decimal, score to 8 decimals, as
the original. With masks (lib/inference/masks.py), each entry also has "segmentation": the COCO RLE of its mask
({"size": [h, w], "counts": str}). Written atomically, compact, with sorted keys.
"""
import logging
import os

import numpy as np

from lib.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)


def results_file(results_dir, image_set):
    """`<results_dir>/detections_<image_set>_results.json`."""
    return os.path.join(results_dir, "detections_%s_results.json" % image_set)


def _json_id(value, what):
    """numpy ints -> int, so the id survives json; None is a loader bug worth a clear message."""
    if value is None:
        raise ValueError("%s is None: the dataset loader must set it for COCO results" % what)
    return int(value) if isinstance(value, (int, np.integer)) else value


def _entries(dets, image_id, category_id, rles=None):
    """(n, 5) detections of one (image, class) (and their n RLE masks) -> n result dicts."""
    dets = np.asarray(dets, dtype=np.float32)
    xywh = np.stack([dets[:, 0], dets[:, 1], dets[:, 2] - dets[:, 0] + 1, dets[:, 3] - dets[:, 1] + 1], axis=1)
    entries = [{"image_id": image_id, "category_id": category_id,
                "bbox": [round(float(v), 1) for v in box], "score": round(float(score), 8)}
               for box, score in zip(xywh, dets[:, 4])]
    for entry, rle in zip(entries, rles or ()):
        entry["segmentation"] = rle
    return entries


def coco_results(detections, dataset, masks=None):
    """All detections (dets[image][cls] (n, 5), images in dataset.records order) -> list of result dicts.

    masks: masks[image][cls], a list of RLE dicts per detection row, or None (boxes only).
    image_id is the record's image_id, category_id the dataset's category id of the class
    (dataset.category_ids[cls]).
    """
    if len(detections) != len(dataset.records):
        raise ValueError("dataset %s: %d images but detections for %d" % (dataset.name, len(dataset.records),
                                                                         len(detections)))
    category_ids = [None] + [_json_id(c, "category id of class %d (%s)" % (k + 1, dataset.class_names[k + 1]))
                             for k, c in enumerate(dataset.category_ids[1:])]
    results = []
    for index, (record, image_dets) in enumerate(zip(dataset.records, detections)):
        if len(image_dets) != len(category_ids):
            raise ValueError("dataset %s: %d category ids but image %d has detections of %d classes"
                             % (dataset.name, len(category_ids), index, len(image_dets)))
        image_id = _json_id(record.image_id, "image_id of image %d (%s)" % (index, record.image))
        for cls in range(1, len(image_dets)):
            if len(image_dets[cls]):
                rles = None if masks is None else masks[index][cls]
                results += _entries(image_dets[cls], image_id, category_ids[cls], rles)
    return results


def write_coco_results(path, detections, dataset, masks=None):
    """Write the COCO results json of `detections` (and `masks`) to `path` atomically. Returns the result dicts."""
    results = coco_results(detections, dataset, masks)
    atomic_write_json(path, results, sort_keys=True)
    log.info("wrote %d detections of %d images to %s", len(results), len(detections), path)
    return results
