"""The embedded "shapes" dataset: a seeded generator of a small multi-scale detection problem in COCO format.

5 classes (disc, square, triangle, star, ring; each its own shape, colour family and texture) on cluttered
backgrounds, images 800-2000 px a side, object sizes log-uniform from 8 px to 60 % of the shorter image side,
2-15 objects per image plus 1-6 unannotated look-alike distractors. Each annotated object's `segmentation`
is a COCO RLE of exactly its visible pixels (what later objects and distractors leave of it), its `bbox` is
the extent of that same mask (inclusive pixels, so bbox == pycocotools.mask.toBbox of the RLE) and its
`area` its pixel count. Layout written under `out_dir`:

    annotations/instances_<split>.json   images/<split>/<split>_<index:06d>.jpg   .complete (written last)

Image i of a split is drawn from `np.random.default_rng([seed, split code, i])`, so the same spec gives
byte-identical json and identical images whatever the number of workers.
"""
import json
import logging
import multiprocessing
import os
import time
from dataclasses import asdict, dataclass
from functools import partial
from typing import Tuple

import cv2
import numpy as np
from pycocotools import mask as mask_api
from tqdm import tqdm

from lib.dataset.coco_json import write_json_atomic
from lib.utils.atomic import atomic_write_bytes
from lib.dataset.shapes_draw import (CLASS_TEXTURES, CLASSES, DISTRACTOR_SHAPES, TEXTURES, background,
                                     class_colour, foreign_colour, shape_mask, texture_patch)

LOG = logging.getLogger(__name__)
MARKER = ".complete"
SPLITS = ("train", "val")
# Version of the written layout, kept in the marker: a dataset of another version is regenerated (same images
# and boxes). 2: annotations carry `segmentation` (version 1 had boxes only).
FORMAT = 2


@dataclass(frozen=True)
class ShapesSpec:
    """Generator parameters. Sizes in px; `max_object_frac` is relative to the image's shorter side."""
    num_train: int = 400
    num_val: int = 100
    min_side: int = 800
    max_side: int = 2000
    min_object: float = 8.0
    max_object_frac: float = 0.6
    objects: Tuple[int, int] = (2, 15)
    distractors: Tuple[int, int] = (1, 6)
    max_overlap: float = 0.2
    seed: int = 2018
    jpeg_quality: int = 90

    def count(self, split):
        return {"train": self.num_train, "val": self.num_val}[split]


@dataclass
class _Item:
    """One thing to draw: object of class id `cls` (1..5) or distractor (cls 0), at x, y with side `size` px."""
    cls: int
    size: int
    x: int = 0
    y: int = 0


def _draw_items(spec, width, height, rng):
    """Objects and distractors with log-uniform sizes (px), largest first."""
    hi = max(spec.min_object, spec.max_object_frac * min(width, height))
    n_obj = int(rng.integers(spec.objects[0], spec.objects[1] + 1))
    n_dis = int(rng.integers(spec.distractors[0], spec.distractors[1] + 1))
    classes = list(rng.integers(1, len(CLASSES) + 1, n_obj)) + [0] * n_dis
    sizes = np.exp(rng.uniform(np.log(spec.min_object), np.log(hi), len(classes)))
    items = [_Item(int(c), int(round(s))) for c, s in zip(classes, sizes)]
    return sorted(items, key=lambda it: -it.size)


def _overlap_ok(item, placed, max_overlap):
    """True when the square of `item` covers at most `max_overlap` of the smaller square of each placed item."""
    for p in placed:
        iw = min(item.x + item.size, p.x + p.size) - max(item.x, p.x)
        ih = min(item.y + item.size, p.y + p.size) - max(item.y, p.y)
        if iw > 0 and ih > 0 and iw * ih > max_overlap * min(item.size, p.size) ** 2:
            return False
    return True


def _place(items, width, height, spec, rng, tries=30):
    """Random non-overlapping (up to spec.max_overlap) positions inside the image; unplaceable items dropped."""
    placed = []
    for item in items:
        for _ in range(tries):
            item.x = int(rng.integers(0, width - item.size + 1))
            item.y = int(rng.integers(0, height - item.size + 1))
            if _overlap_ok(item, placed, spec.max_overlap):
                placed.append(item)
                break
    return placed


def _paint(img, ids, item, label, rng):
    """Draw one item into img (H, W, 3) uint8 and write `label` into the instance map ids (H, W) int16."""
    if item.cls:
        name = CLASSES[item.cls - 1]
        kind, colour, texture = name, class_colour(name, rng), CLASS_TEXTURES[name]
    elif rng.random() < 0.5:  # a class shape in a colour of no class
        kind, colour, texture = CLASSES[rng.integers(len(CLASSES))], foreign_colour(rng), TEXTURES[rng.integers(4)]
    else:  # a foreign shape in a class colour
        kind = DISTRACTOR_SHAPES[rng.integers(len(DISTRACTOR_SHAPES))]
        colour, texture = class_colour(CLASSES[rng.integers(len(CLASSES))], rng), TEXTURES[rng.integers(4)]
    mask = shape_mask(kind, item.size, rng).astype(bool)
    patch = texture_patch(texture, item.size, colour, rng)
    window = np.s_[item.y:item.y + item.size, item.x:item.x + item.size]
    img[window][mask] = np.clip(patch[mask], 0, 255).astype(np.uint8)
    ids[window][mask] = label


def _visible_box(ids, item, label):
    """(x1, y1, x2, y2) inclusive extents and pixel count of `label` in the item's window, or None if hidden."""
    sub = ids[item.y:item.y + item.size, item.x:item.x + item.size] == label
    rows, cols = np.flatnonzero(sub.any(axis=1)), np.flatnonzero(sub.any(axis=0))
    if not len(rows):
        return None
    return (item.x + int(cols[0]), item.y + int(rows[0]), item.x + int(cols[-1]), item.y + int(rows[-1])), \
        int(sub.sum())


def _visible_rle(ids, item, label):
    """COCO RLE {"size": [H, W], "counts": str} of the pixels of `label` in the item's window of `ids`."""
    mask = np.zeros(ids.shape, np.uint8, order="F")
    window = np.s_[item.y:item.y + item.size, item.x:item.x + item.size]
    mask[window] = ids[window] == label
    rle = mask_api.encode(mask)
    return {"size": [int(v) for v in rle["size"]], "counts": rle["counts"].decode("ascii")}


def render_image(spec, split, index):
    """Draw image `index` of `split`: ((H, W, 3) uint8 BGR, [(class id, (x1, y1, x2, y2), area px, RLE)]).

    The RLE is the object's visible mask (see `_visible_rle`); box and area are its extent and pixel count.
    """
    rng = np.random.default_rng([spec.seed, SPLITS.index(split), index])
    width, height = (int(v) for v in rng.integers(spec.min_side, spec.max_side + 1, 2))
    img = background(height, width, rng)
    items = _place(_draw_items(spec, width, height, rng), width, height, spec, rng)
    ids = np.zeros((height, width), np.int16)
    for label, item in enumerate(items, start=1):
        _paint(img, ids, item, label, rng)
    gts = []
    for label, item in enumerate(items, start=1):
        vis = _visible_box(ids, item, label) if item.cls else None
        if vis is not None:
            gts.append((item.cls, vis[0], vis[1], _visible_rle(ids, item, label)))
    return img, gts


def _write_image(spec, split, out_dir, index):
    """Render and atomically write one JPEG; returns its COCO image entry (without id) and gts."""
    img, gts = render_image(spec, split, index)
    name = "%s_%06d.jpg" % (split, index)
    path = os.path.join(out_dir, "images", split, name)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, spec.jpeg_quality])
    atomic_write_bytes(path, buf.tobytes())
    return {"file_name": name, "width": img.shape[1], "height": img.shape[0]}, gts


def _coco_json(entries):
    """COCO json dict from [(image entry, gts)] in image order; ids 1..N for images and annotations."""
    images, anns = [], []
    for image_id, (entry, gts) in enumerate(entries, start=1):
        images.append(dict(entry, id=image_id))
        for cls, (x1, y1, x2, y2), area, rle in gts:
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cls, "iscrowd": 0,
                         "bbox": [x1, y1, x2 - x1 + 1, y2 - y1 + 1], "area": area, "segmentation": rle})
    categories = [{"id": k + 1, "name": n, "supercategory": "shape"} for k, n in enumerate(CLASSES)]
    return {"images": images, "annotations": anns, "categories": categories,
            "info": {"description": "SNIPER embedded shapes dataset (synthetic)"}}


def generate_split(out_dir, split, spec, workers=2):
    """Write the images and `annotations/instances_<split>.json` of one split; returns the json path."""
    os.makedirs(os.path.join(out_dir, "images", split), exist_ok=True)
    job = partial(_write_image, spec, split, out_dir)
    indices = range(spec.count(split))
    bar = dict(total=len(indices), desc="shapes %s" % split, unit="img", leave=False)
    if workers > 1:
        with multiprocessing.get_context("fork").Pool(workers) as pool:
            entries = list(tqdm(pool.imap(job, indices, chunksize=4), **bar))
    else:
        entries = [job(i) for i in tqdm(indices, **bar)]
    path = os.path.join(out_dir, "annotations", "instances_%s.json" % split)
    write_json_atomic(_coco_json(entries), path)
    return path


def _marker_json(spec):
    """The marker's content: the spec's fields and the layout FORMAT."""
    return dict(json.loads(json.dumps(asdict(spec))), format=FORMAT)


def is_complete(out_dir, spec=None):
    """True when `out_dir` holds a finished dataset of the current FORMAT (and of `spec`, when given)."""
    marker = os.path.join(out_dir, MARKER)
    if not os.path.isfile(marker):
        return False
    with open(marker) as f:
        written = json.load(f)
    if spec is None:
        return isinstance(written, dict) and written.get("format") == FORMAT
    return written == _marker_json(spec)


def generate_shapes(out_dir, spec=ShapesSpec(), workers=2):
    """Generate both splits into `out_dir`, then write the completion marker; returns seconds taken."""
    start = time.time()
    marker = os.path.join(out_dir, MARKER)
    if os.path.exists(marker):
        os.remove(marker)
    for split in SPLITS:
        generate_split(out_dir, split, spec, workers)
    write_json_atomic(_marker_json(spec), marker)
    seconds = time.time() - start
    LOG.info("generated shapes dataset in %s (%d train / %d val images) in %.1f s",
             out_dir, spec.num_train, spec.num_val, seconds)
    return seconds


def ensure_shapes(out_dir, spec=None, workers=2):
    """Generate the dataset unless it is complete (with `spec`, when given; of the current FORMAT in any case).
    Returns True if generated."""
    if is_complete(out_dir, spec):
        return False
    generate_shapes(out_dir, spec or ShapesSpec(), workers)
    return True
