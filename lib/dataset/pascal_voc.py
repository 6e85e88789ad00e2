"""Pascal VOC datasets: `<dataset_path>/VOC<year>/{Annotations, ImageSets/Main/<split>.txt, JPEGImages}`.

Difficult objects are excluded and coordinates are shifted to 0-based (-1), as the reference. A COCO-format
json of the gts is written to `<cache_dir>/` so that COCOeval evaluates VOC too (difficult objects become
`iscrowd` ignore regions there, which matches VOC's "difficult are neither TP nor FP"); `voc_eval_gts` reads
the annotation files again for the VOC AP. The class names are the 20 VOC classes unless `dataset.CLASSES`
(`voc_class_names`) names others; objects of other names are dropped, counted and named in one warning.
"""
import logging
import os
import xml.etree.ElementTree as ET
from dataclasses import dataclass, replace
from typing import List

import numpy as np

from lib.dataset.coco_json import write_json_atomic
from lib.dataset.errors import DatasetError, ProblemTally
from lib.dataset.image_io import check_image
from lib.dataset.roidb import Dataset, ImageRecord

LOG = logging.getLogger(__name__)

VOC_CLASSES = ("aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat", "chair", "cow",
               "diningtable", "dog", "horse", "motorbike", "person", "pottedplant", "sheep", "sofa", "train",
               "tvmonitor")


@dataclass
class VocObject:
    """One <object>: lower-cased name, [x1, y1, x2, y2] 0-based inclusive pixels as written minus 1."""
    name: str
    box: List[float]
    difficult: bool


@dataclass
class VocAnnotation:
    """One parsed VOC XML file: image file name, size in px and objects."""
    filename: str
    width: int
    height: int
    objects: List[VocObject]


def _number(node, tag, path):
    """float(text of child `tag`) or DatasetError naming the file."""
    child = node.find(tag) if node is not None else None
    try:
        return float(child.text)
    except (AttributeError, TypeError, ValueError):
        raise DatasetError("annotation file %s: missing or non-numeric <%s>" % (path, tag)) from None


def _parse_object(obj, path):
    name = obj.findtext("name")
    if not name or not name.strip():
        raise DatasetError("annotation file %s: <object> without <name>" % path)
    bndbox = obj.find("bndbox")
    box = [_number(bndbox, tag, path) - 1.0 for tag in ("xmin", "ymin", "xmax", "ymax")]
    difficult = (obj.findtext("difficult") or "0").strip() == "1"
    return VocObject(name=name.strip().lower(), box=box, difficult=difficult)


def parse_voc_xml(path, text=None):
    """Parse a VOC XML annotation file into a VocAnnotation; DatasetError naming the file when malformed.

    text: the file's content when it is not on disk (e.g. read from an archive); `path` then only names it.
    """
    try:
        root = ET.fromstring(text) if text is not None else ET.parse(path).getroot()
    except FileNotFoundError:
        raise DatasetError("annotation file not found: %s" % path) from None
    except ET.ParseError as e:
        raise DatasetError("annotation file %s: malformed XML (%s)" % (path, e)) from None
    size = root.find("size")
    width, height = int(_number(size, "width", path)), int(_number(size, "height", path))
    if width <= 0 or height <= 0:
        raise DatasetError("annotation file %s: image size %dx%d is not positive" % (path, width, height))
    objects = [_parse_object(obj, path) for obj in root.findall("object")]
    return VocAnnotation(filename=root.findtext("filename") or "", width=width, height=height, objects=objects)


def clip_voc_box(box, width, height):
    """Clip a 0-based inclusive box to the image. Returns (box or None, status) like `coco.coco_box`.

    status: "ok", "clipped", "degenerate" (x2 < x1 or y2 < y1 as written) or "outside" (nothing inside).
    """
    x1, y1, x2, y2 = box
    if x2 < x1 or y2 < y1:
        return None, "degenerate"
    clipped = [max(0.0, x1), max(0.0, y1), min(width - 1.0, x2), min(height - 1.0, y2)]
    if clipped[2] < clipped[0] or clipped[3] < clipped[1]:
        return None, "outside"
    return clipped, "ok" if clipped == list(box) else "clipped"


_BOX_PROBLEMS = {"clipped": "clipped {} boxes to the image", "degenerate": "dropped {} zero/negative-area boxes",
                 "outside": "dropped {} boxes outside the image"}


def voc_gts(ann, class_to_id, tally):
    """(boxes, classes, difficult boxes+classes) of one annotation: known classes, clipped, 0-based.

    class_to_id maps a lower-case object name to a contiguous class id 1..K.
    """
    boxes, classes, difficult = [], [], []
    for obj in ann.objects:
        if obj.name not in class_to_id:
            tally.warn("dropped {} boxes of unknown categories")
            continue
        box, status = clip_voc_box(obj.box, ann.width, ann.height)
        if status != "ok":
            tally.warn(_BOX_PROBLEMS[status])
        if box is None:
            continue
        if obj.difficult:
            tally.note("excluded {} difficult objects")
            difficult.append((box, class_to_id[obj.name]))
            continue
        boxes.append(box)
        classes.append(class_to_id[obj.name])
    return boxes, classes, difficult


def coco_annotations(image_id, boxes, classes, first_id, iscrowd=0):
    """COCO annotation dicts for inclusive boxes: bbox [x1, y1, x2 - x1 + 1, y2 - y1 + 1], ids from first_id."""
    anns = []
    for k, (box, cls) in enumerate(zip(boxes, classes)):
        w, h = box[2] - box[0] + 1.0, box[3] - box[1] + 1.0
        anns.append({"id": first_id + k, "image_id": image_id, "category_id": int(cls),
                     "bbox": [float(box[0]), float(box[1]), w, h], "area": w * h, "iscrowd": iscrowd})
    return anns


def _split_ids(voc_dir, split):
    """Image ids listed in ImageSets/Main/<split>.txt."""
    path = os.path.join(voc_dir, "ImageSets", "Main", split + ".txt")
    if not os.path.isfile(path):
        raise DatasetError("image set file not found: %s" % path)
    with open(path) as f:
        return [line.split()[0] for line in f if line.strip()]


def split_image_set(image_set):
    """"2007_trainval" -> ("2007", "trainval"); DatasetError for a name without "<year>_"."""
    year, sep, split = image_set.partition("_")
    if not sep or not year or not split:
        raise DatasetError("VOC image set %r: expected <year>_<split>, e.g. 2007_trainval" % image_set)
    return year, split


def voc_class_names(setting, dataset_path, train_image_set):
    """The object class names (no background) that config key dataset.CLASSES `setting` stands for.

    "" -> the 20 VOC classes; "auto" -> the sorted unique object names (lower-cased) in the annotation files of
    `train_image_set` ("+"-joined sets allowed), so that training and testing agree; else comma-separated names.
    """
    if not setting.strip():
        return list(VOC_CLASSES)
    if setting.strip().lower() == "auto":
        names = set()
        for image_set in train_image_set.split("+"):
            year, split = split_image_set(image_set)
            voc_dir = os.path.join(dataset_path, "VOC" + year)
            for stem in _split_ids(voc_dir, split):
                ann = parse_voc_xml(os.path.join(voc_dir, "Annotations", stem + ".xml"))
                names.update(obj.name for obj in ann.objects)
        if not names:
            raise DatasetError("config key dataset.CLASSES auto: no <object> in the annotation files of %s under %s"
                               % (train_image_set, dataset_path))
        return sorted(names)
    names = [n.strip().lower() for n in setting.split(",")]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if "" in names or duplicates:
        raise DatasetError("config key dataset.CLASSES %r: expected comma-separated distinct class names (or auto)%s"
                           % (setting, "; repeated: " + ", ".join(duplicates) if duplicates else ""))
    return names


def check_num_classes(class_names, num_classes, setting):
    """DatasetError naming both keys when dataset.NUM_CLASSES is not the class count + background."""
    if num_classes != len(class_names) + 1:
        shown = ", ".join(class_names[:8]) + (", ..." if len(class_names) > 8 else "")
        raise DatasetError("config keys dataset.NUM_CLASSES and dataset.CLASSES disagree: NUM_CLASSES is %d but "
                           "CLASSES %r gives %d classes (%s) + background = %d"
                           % (num_classes, setting, len(class_names), shown, len(class_names) + 1))


def _unknown_summary(unknown, first):
    """"'unicorn' x3, 'foo' x1; the first, 'unicorn', in <file>": the commonest five unknown names and the first.

    unknown: {name: count}; first: (name, annotation file) of the first unknown object met.
    """
    names = sorted(unknown, key=lambda n: (-unknown[n], n))
    shown = ", ".join("%r x%d" % (n, unknown[n]) for n in names[:5]) + (", ..." if len(names) > 5 else "")
    return "%s; the first, %r, in %s" % (shown, first[0], first[1])


def load_pascal_voc(dataset_path, image_set, cache_dir, verify_images=False, class_names=VOC_CLASSES):
    """Load one VOC image set such as "2007_trainval" into a Dataset named "voc_2007_trainval".

    Every listed image is kept (also those whose objects are all difficult). The gts, plus difficult objects
    as iscrowd, are written to `<cache_dir>/voc_<year>_<split>_gt.json` (the Dataset's annotation_file).
    class_names: the object classes (contiguous ids 1..K in this order); objects of other names are dropped
    and reported, or a DatasetError when no object of the set has a known name.
    """
    year, split = split_image_set(image_set)
    voc_dir = os.path.join(dataset_path, "VOC" + year)
    name = "voc_%s_%s" % (year, split)
    class_to_id = {c: k + 1 for k, c in enumerate(class_names)}
    tally = ProblemTally(name)
    records, json_images, json_anns = [], [], []
    unknown, first, known_count = {}, None, 0
    for stem in _split_ids(voc_dir, split):
        xml = os.path.join(voc_dir, "Annotations", stem + ".xml")
        ann = parse_voc_xml(xml)
        image = os.path.join(voc_dir, "JPEGImages", stem + ".jpg")
        if not os.path.isfile(image):
            raise DatasetError("image file not found: %s" % image)
        if verify_images:
            check_image(image, ann.width, ann.height)
        known = [obj for obj in ann.objects if obj.name in class_to_id]
        known_count += len(known)
        for obj in ann.objects:
            if obj.name not in class_to_id:
                unknown[obj.name] = unknown.get(obj.name, 0) + 1
                first = first or (obj.name, xml)
        boxes, classes, difficult = voc_gts(replace(ann, objects=known), class_to_id, tally)
        records.append(ImageRecord(image=image, width=ann.width, height=ann.height, boxes=boxes,
                                   classes=classes, image_id=stem))
        json_images.append({"id": stem, "file_name": stem + ".jpg", "width": ann.width, "height": ann.height})
        json_anns += coco_annotations(stem, boxes, classes, len(json_anns) + 1)
        json_anns += coco_annotations(stem, [b for b, _ in difficult], [c for _, c in difficult],
                                      len(json_anns) + 1, iscrowd=1)
    if unknown and not known_count:
        raise DatasetError("%s: no object has one of the %d class names of dataset.CLASSES (%s); found %s"
                           % (name, len(class_names), ", ".join(class_names[:5]) + ", ..." * (len(class_names) > 5),
                              _unknown_summary(unknown, first)))
    if unknown:  # one counted warning; braces escaped for the tally's str.format
        summary = _unknown_summary(unknown, first).replace("{", "{{").replace("}", "}}")
        tally.warn("dropped {} boxes of unknown categories (%s; dataset.CLASSES sets the class names)" % summary,
                   sum(unknown.values()))
    tally.report(LOG)
    categories = [{"id": k + 1, "name": c, "supercategory": "voc"} for k, c in enumerate(class_names)]
    json_file = os.path.join(cache_dir, name + "_gt.json")
    write_json_atomic({"images": json_images, "annotations": json_anns, "categories": categories}, json_file)
    return Dataset(name=name, records=records, class_names=["__background__"] + list(class_names),
                   category_ids=[None] + list(range(1, len(class_names) + 1)), annotation_file=json_file,
                   load_summary=tally.summary())


def voc_eval_gts(records, class_names):
    """The gts of the VOC AP, read again from the annotation files as the original's pascal_voc_eval.py does:
    coordinates as written (1-based, int(float(text))), not clipped, difficult ones flagged, file order.

    records: VOC records (image `<VOC dir>/JPEGImages/<image_id>.jpg`); class_names: with "__background__" first.
    Returns {class id: (images (G,) int record index, boxes (G, 4) float, difficult (G,) bool)} for 1..K.
    """
    class_to_id = {c: k for k, c in enumerate(class_names) if k}
    rows = {k: ([], [], []) for k in class_to_id.values()}
    for index, record in enumerate(records):
        voc_dir = os.path.dirname(os.path.dirname(record.image))
        for obj in parse_voc_xml(os.path.join(voc_dir, "Annotations", "%s.xml" % record.image_id)).objects:
            k = class_to_id.get(obj.name)
            if k is not None:
                rows[k][0].append(index)
                rows[k][1].append([float(int(v + 1.0)) for v in obj.box])
                rows[k][2].append(obj.difficult)
    return {k: (np.array(im, dtype=np.int64), np.array(b, dtype=np.float64).reshape(-1, 4), np.array(d, dtype=bool))
            for k, (im, b, d) in rows.items()}
