"""Tiny on-disk datasets for the dataset tests: a COCO layout and a VOC folder written into tmp_path."""
import json
import os

import cv2
import numpy as np

from lib.config import default_config


def write_jpeg(path, width, height, value=128):
    """A flat grey width x height JPEG at `path` (folders created); returns the path as str."""
    os.makedirs(os.path.dirname(str(path)), exist_ok=True)
    cv2.imwrite(str(path), np.full((height, width, 3), value, np.uint8))
    return str(path)


def coco_json(images, annotations, categories=((1, "cat"), (2, "dog"))):
    """A COCO dict. images: [(id, file_name, w, h)]; annotations: [(image_id, category_id, bbox, extra dict)]."""
    return {
        "images": [{"id": i, "file_name": f, "width": w, "height": h} for i, f, w, h in images],
        "annotations": [dict({"id": k + 1, "image_id": i, "category_id": c, "bbox": list(b),
                              "area": float(b[2] * b[3]), "iscrowd": 0}, **extra)
                        for k, (i, c, b, extra) in enumerate(annotations)],
        "categories": [{"id": c, "name": n} for c, n in categories],
    }


def write_coco_set(root, image_set, data, image_dir=None, kind="instances", make_images=True):
    """Write `data` as <root>/annotations/<kind>_<set>.json and its images under <root>/images/<image_dir>."""
    path = os.path.join(str(root), "annotations", "%s_%s.json" % (kind, image_set))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump(data, f)
    if make_images:
        for im in data["images"]:
            write_jpeg(os.path.join(str(root), "images", image_dir or image_set, im["file_name"]),
                       im["width"], im["height"])
    return path


def voc_xml(filename, width, height, objects):
    """VOC XML text. objects: [(name, (xmin, ymin, xmax, ymax) 1-based, difficult)]."""
    objs = "".join(
        "<object><name>%s</name><difficult>%d</difficult><bndbox><xmin>%s</xmin><ymin>%s</ymin>"
        "<xmax>%s</xmax><ymax>%s</ymax></bndbox></object>" % ((name, int(diff)) + tuple(box))
        for name, box, diff in objects)
    return ("<annotation><filename>%s</filename><size><width>%d</width><height>%d</height><depth>3</depth>"
            "</size>%s</annotation>" % (filename, width, height, objs))


def write_voc(root, year, split, images):
    """A VOC<year> folder. images: {stem: (width, height, objects)} (objects as in voc_xml) or {stem: xml str}."""
    voc = os.path.join(str(root), "VOC" + year)
    for sub in ("Annotations", "JPEGImages", os.path.join("ImageSets", "Main")):
        os.makedirs(os.path.join(voc, sub), exist_ok=True)
    with open(os.path.join(voc, "ImageSets", "Main", split + ".txt"), "w") as f:
        f.write("".join(stem + "\n" for stem in images))
    for stem, spec in images.items():
        xml = spec if isinstance(spec, str) else voc_xml(stem + ".jpg", *spec)
        with open(os.path.join(voc, "Annotations", stem + ".xml"), "w") as f:
            f.write(xml)
        size = (64, 48) if isinstance(spec, str) else spec[:2]
        write_jpeg(os.path.join(voc, "JPEGImages", stem + ".jpg"), *size)
    return voc


def dataset_cfg(kind, dataset_path, root_path, num_classes):
    """Default config pointed at a test dataset."""
    cfg = default_config()
    cfg.dataset.dataset = kind
    cfg.dataset.dataset_path = str(dataset_path)
    cfg.dataset.root_path = str(root_path)
    cfg.dataset.NUM_CLASSES = num_classes
    return cfg
