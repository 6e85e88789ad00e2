"""Detections in the Pascal VOC results format: the files that the VOC devkit and evaluation server read.

One file per class, `<results_dir>/VOC<year>/Main/comp4_det_<split>_<class>.txt` (the original's
`get_result_file_template`, lib/dataset/pascal_voc.py), one line per detection, images in the set's order:
"<image id> <score> <x1> <y1> <x2> <y2>", score with 3 decimals, box with 1, in the 1-based pixels of the VOC
annotations (the 0-based box + 1), as the original's `write_pascal_results`. The original's VOC AP reads these
files back, so it sees scores rounded to 3 decimals; `parse_lines` gives the evaluation the same values.
"""
import os

import numpy as np

from lib.dataset.pascal_voc import split_image_set
from lib.utils.atomic import atomic_write


def results_template(results_dir, image_set):
    """Path with "{}" for the class name. A "+"-joined set joins its years and splits: VOC2007+2012, test+val."""
    parts = [split_image_set(s) for s in image_set.split("+")]
    year = "+".join(dict.fromkeys(y for y, _ in parts))
    split = "+".join(dict.fromkeys(s for _, s in parts))
    return os.path.join(results_dir, "VOC" + year, "Main", "comp4_det_" + split + "_{}.txt")


def class_lines(detections, image_ids, cls):
    """Result lines of class `cls`. detections: dets[image][cls] (n, 5) 0-based x1 y1 x2 y2 score."""
    lines = []
    for image_id, image_dets in zip(image_ids, detections):
        for x1, y1, x2, y2, score in np.asarray(image_dets[cls], dtype=np.float64).reshape(-1, 5).tolist():
            lines.append("%s %.3f %.1f %.1f %.1f %.1f" % (image_id, score, x1 + 1, y1 + 1, x2 + 1, y2 + 1))
    return lines


def parse_lines(lines, image_index):
    """Result lines -> (images (D,) int, scores (D,), boxes (D, 4) 1-based); image_index: {image id: index}."""
    tokens = " ".join(lines).split()
    if len(tokens) != 6 * len(lines):
        raise ValueError("VOC result lines must have 6 fields: image id, score, x1, y1, x2, y2")
    images = np.array([image_index[t] for t in tokens[0::6]], dtype=np.int64)
    values = np.array([tokens[k::6] for k in range(1, 6)], dtype=np.float64).T.reshape(-1, 5)
    return images, values[:, 0], values[:, 1:]


def write_lines(path, lines):
    """Write result lines to `path` atomically (folders created)."""
    def write(tmp):
        with open(tmp, "w") as f:
            f.write("".join(line + "\n" for line in lines))
    return atomic_write(path, write)
