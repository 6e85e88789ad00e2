"""COCO-format datasets through pycocotools, with the original's box conversion (lib/dataset/coco.py there: crowds
dropped, x2 = x1 + max(0, w - 1) clipped to the image; kept as float32, not floored: README "Deviations").

Instance masks: when any non-crowd annotation of the json has a `segmentation`, every record carries one segm
per kept box (lib/dataset/segms.py; a box without one gets an empty mask); else the records' segms are None
(boxes only). Crowd annotations are dropped with their masks, as the original's loader only reads non-crowd
ones (lib/dataset/coco.py:178-182 there).

Layout: `<dataset_path>/annotations/instances_<set>.json` (or `image_info_<set>.json` for test sets without
annotations) and images under `<dataset_path>/images/<set dir>/<file_name>`.
"""
import contextlib
import io
import logging
import math
import os

from pycocotools.coco import COCO

from lib.dataset.coco_json import read_json
from lib.dataset.errors import DatasetError, ProblemTally
from lib.dataset.image_io import check_image
from lib.dataset.roidb import Dataset, ImageRecord
from lib.dataset.segms import read_segmentation

LOG = logging.getLogger(__name__)

# Image folders of the COCO sets whose images live in another set's folder (the reference's `data_name`).
SET_DIRS = {"minival": "val2014", "minival2014": "val2014", "valminusminival": "val2014",
            "valminusminival2014": "val2014", "test-dev2015": "test2015"}


def coco_box(bbox, area, width, height):
    """The reference's conversion of a COCO [x, y, w, h] box in a `width` x `height` px image.

    Returns (box, status): box = [x1, y1, x2, y2] inclusive pixels (None when dropped) and status one of
    "ok", "clipped", "degenerate" (w, h or area <= 0) or "outside" (nothing left inside the image).
    x1 = max(0, x), x2 = min(W - 1, x1 + max(0, w - 1)), likewise for y; kept if x2 >= x1 and y2 >= y1.
    """
    x, y, w, h = bbox
    if w <= 0 or h <= 0 or area <= 0:
        return None, "degenerate"
    x1, y1 = max(0.0, x), max(0.0, y)
    x2 = min(width - 1.0, x1 + max(0.0, w - 1.0))
    y2 = min(height - 1.0, y1 + max(0.0, h - 1.0))
    if x2 < x1 or y2 < y1:
        return None, "outside"
    clipped = x < 0 or y < 0 or x + max(0.0, w - 1.0) > width - 1 or y + max(0.0, h - 1.0) > height - 1
    return [x1, y1, x2, y2], "clipped" if clipped else "ok"


_BOX_PROBLEMS = {"clipped": "clipped {} boxes to the image", "degenerate": "dropped {} zero/negative-area boxes",
                 "outside": "dropped {} boxes outside the image"}


def _categories(data, path):
    """(class_names, category_ids, {category id: contiguous id}) from the json's categories, sorted by id."""
    cats = data.get("categories")
    if not isinstance(cats, list) or not cats:
        raise DatasetError("annotation file %s: no 'categories' list" % path)
    try:
        by_id = {c["id"]: c["name"] for c in cats}
        ids = sorted(by_id)
    except (KeyError, TypeError) as e:
        raise DatasetError("annotation file %s: malformed categories (%r)" % (path, e)) from None
    if len(by_id) != len(cats):
        raise DatasetError("annotation file %s: duplicate category ids" % path)
    return (["__background__"] + [by_id[i] for i in ids], [None] + ids,
            {cat_id: k + 1 for k, cat_id in enumerate(ids)})


def _check_entries(data, path):
    """Check the json has an 'images' list whose entries (and annotations) carry the fields we read."""
    if not isinstance(data, dict) or not isinstance(data.get("images"), list):
        raise DatasetError("annotation file %s: not a COCO json (no 'images' list)" % path)
    for im in data["images"]:
        missing = [k for k in ("id", "file_name", "width", "height") if not isinstance(im, dict) or k not in im]
        if missing:
            raise DatasetError("annotation file %s: image entry %r lacks %s" % (path, im, ", ".join(missing)))
        if not all(isinstance(im[k], int) and im[k] > 0 for k in ("width", "height")):
            raise DatasetError("annotation file %s: image id %r has no positive integer width/height"
                               % (path, im["id"]))
    if len({im["id"] for im in data["images"]}) != len(data["images"]):
        raise DatasetError("annotation file %s: duplicate image ids" % path)
    anns = data.get("annotations", [])
    if not isinstance(anns, list):
        raise DatasetError("annotation file %s: 'annotations' is not a list" % path)
    for ann in anns:
        ok = isinstance(ann, dict) and all(k in ann for k in ("image_id", "category_id", "bbox"))
        bbox = ann["bbox"] if ok else None
        numbers = list(bbox) + [ann.get("area", 1)] if isinstance(bbox, list) and len(bbox) == 4 else []
        if not numbers or not all(isinstance(v, (int, float)) and math.isfinite(v) for v in numbers):
            raise DatasetError("annotation file %s: malformed annotation %r (needs image_id, category_id and "
                               "bbox [x, y, w, h] of 4 finite numbers, numeric area)" % (path, ann))


def _coco_api(data):
    """A pycocotools COCO index over already-parsed json (its progress prints silenced)."""
    coco = COCO()
    coco.dataset = data
    with contextlib.redirect_stdout(io.StringIO()):
        coco.createIndex()
    return coco


def _count_orphans(data, tally):
    """Count annotations pointing at an image id absent from 'images' (they are never loaded)."""
    image_ids = {im["id"] for im in data["images"]}
    orphans = sum(ann["image_id"] not in image_ids for ann in data.get("annotations", []))
    if orphans:
        tally.warn("dropped {} boxes of unknown image ids", orphans)


def _has_segmentations(data):
    """True when a non-crowd annotation of the parsed json has a non-empty `segmentation`."""
    return any(ann.get("segmentation") and not ann.get("iscrowd", 0) for ann in data.get("annotations", []))


def _segm(ann, img, json_file, tally):
    """The segm of a kept annotation ([] when it has none); DatasetError naming the file when malformed."""
    try:
        segm = read_segmentation(ann.get("segmentation", []), img["height"], img["width"])
    except ValueError as e:
        raise DatasetError("annotation file %s: annotation id %r (image id %r): bad segmentation: %s"
                           % (json_file, ann.get("id"), img["id"], e)) from None
    if isinstance(segm, list) and not segm:
        tally.warn("kept {} boxes without a polygon or RLE (their masks are empty)")
    return segm


def _record(coco, img, image_dir, cat_to_class, tally, segm_file=None):
    """The ImageRecord of one json image entry: its non-crowd, known-class boxes converted and clipped.

    segm_file: the json's path when its masks are read (see the module docstring), else None.
    """
    width, height = int(img["width"]), int(img["height"])
    boxes, classes, segms = [], [], []
    for ann in coco.imgToAnns.get(img["id"], []):
        if ann.get("iscrowd", 0):
            tally.note("dropped {} crowd boxes")
            continue
        if ann["category_id"] not in cat_to_class:
            tally.warn("dropped {} boxes of unknown category ids")
            continue
        bbox = ann["bbox"]
        box, status = coco_box(bbox, ann.get("area", bbox[2] * bbox[3]), width, height)
        if status != "ok":
            tally.warn(_BOX_PROBLEMS[status])
        if box is not None:
            boxes.append(box)
            classes.append(cat_to_class[ann["category_id"]])
            if segm_file:
                segms.append(_segm(ann, img, segm_file, tally))
    return ImageRecord(image=os.path.join(image_dir, img["file_name"]), width=width, height=height,
                       boxes=boxes, classes=classes, image_id=img["id"], segms=segms if segm_file else None)


def _check_files(records, json_file, verify_images):
    """Every image file must exist (and, with `verify_images`, decode at the annotated size)."""
    for r in records:
        if not os.path.isfile(r.image):
            raise DatasetError("image file not found: %s (image id %r of %s)" % (r.image, r.image_id, json_file))
        if verify_images:
            check_image(r.image, r.width, r.height)


def load_coco_json(json_file, image_dir, name, verify_images=False, has_annotations=True):
    """Load any COCO-format json into a Dataset (every image kept, also those without boxes).

    json_file: the COCO json; image_dir: folder of its `file_name`s; name: the dataset's name.
    Classes are the json's categories in sorted category-id order, as contiguous ids 1..K.
    has_annotations: False for image-info jsons of test sets (annotation_file is then None).
    """
    data = read_json(json_file)
    _check_entries(data, json_file)
    class_names, category_ids, cat_to_class = _categories(data, json_file)
    tally = ProblemTally(name)
    _count_orphans(data, tally)
    coco = _coco_api(data)
    segm_file = json_file if _has_segmentations(data) else None
    records = [_record(coco, coco.imgs[i], image_dir, cat_to_class, tally, segm_file) for i in coco.getImgIds()]
    _check_files(records, json_file, verify_images)
    tally.report(LOG)
    return Dataset(name=name, records=records, class_names=class_names, category_ids=category_ids,
                   annotation_file=json_file if has_annotations else None, load_summary=tally.summary())


def coco_set_files(dataset_path, image_set):
    """(json path, image folder, has_annotations) of one set in the COCO layout."""
    ann_dir = os.path.join(dataset_path, "annotations")
    image_dir = os.path.join(dataset_path, "images", SET_DIRS.get(image_set, image_set))
    instances = os.path.join(ann_dir, "instances_%s.json" % image_set)
    if os.path.isfile(instances):
        return instances, image_dir, True
    info = os.path.join(ann_dir, "image_info_%s.json" % image_set)
    if os.path.isfile(info):
        return info, image_dir, False
    raise DatasetError("annotation file not found for image set %r: %s (nor %s)" % (image_set, instances, info))


def load_coco_set(dataset_path, image_set, name, verify_images=False):
    """One image set (no `+`) of a dataset in the COCO layout."""
    json_file, image_dir, has_annotations = coco_set_files(dataset_path, image_set)
    return load_coco_json(json_file, image_dir, name, verify_images, has_annotations)
