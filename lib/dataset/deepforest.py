"""Real aerial tree crowns: the 4 annotated images shipped in the deepforest wheel (MIT), in COCO layout.

Only the wheel's data files are read (`deepforest/data/<stem>.xml` + the image); deepforest itself is never
installed or imported. One class, "tree" (the XML names Tree, Alive and Dead are all trees). The split is by
image: each split holds one large NEON Yellowstone crop and one 400x400 NEON plot (see SPLITS). Output:

    <out_dir>/annotations/instances_{train,val}.json   <out_dir>/images/{train,val}/<stem>.png   .complete
"""
import glob
import logging
import os
import zipfile

import cv2
import numpy as np

from lib.dataset.coco_json import write_json_atomic
from lib.utils.atomic import atomic_write_bytes
from lib.dataset.errors import DatasetError, ProblemTally
from lib.dataset.pascal_voc import coco_annotations, parse_voc_xml, voc_gts

LOG = logging.getLogger(__name__)
WHEEL_GLOB = "deepforest-2.1.0-*.whl"
MEMBER_DIR = "deepforest/data/"
MARKER = ".complete"
SPLITS = {"train": ("2019_YELL_2_528000_4978000_image_crop2", "SOAP_061"),
          "val": ("2019_YELL_2_541000_4977000_image_crop", "OSBS_029")}
GET_WHEEL = ("run `make setup`, or `.venv/bin/python -m pip download --no-deps deepforest==2.1.0 -d %s`")


def find_wheel(wheel_dir):
    """Path of the deepforest 2.1.0 wheel in `wheel_dir`, or DatasetError saying how to get it."""
    found = sorted(glob.glob(os.path.join(wheel_dir, WHEEL_GLOB)))
    if not found:
        raise DatasetError("deepforest wheel (%s) not found in %s: %s"
                           % (WHEEL_GLOB, wheel_dir, GET_WHEEL % wheel_dir))
    return found[-1]


def _member(archive, name, wheel):
    try:
        return archive.read(MEMBER_DIR + name)
    except KeyError:
        raise DatasetError("deepforest wheel %s: no member %s%s" % (wheel, MEMBER_DIR, name)) from None


def _image_member(archive, stem, xml_filename):
    """Name of the image of `stem` in the wheel: `<stem>.png` if shipped, else the XML's <filename>."""
    names = set(archive.namelist())
    return stem + ".png" if MEMBER_DIR + stem + ".png" in names else xml_filename


def _convert_image(archive, wheel, stem, image_dir, tally):
    """Copy one image out of the wheel; returns (COCO image entry without id, boxes, classes)."""
    xml_name = MEMBER_DIR + stem + ".xml"
    ann = parse_voc_xml("%s:%s" % (wheel, xml_name), text=_member(archive, stem + ".xml", wheel))
    image_name = _image_member(archive, stem, ann.filename)
    data = _member(archive, image_name, wheel)
    image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED)
    if image is None or image.shape[:2] != (ann.height, ann.width):
        raise DatasetError("deepforest wheel %s: image %s is unreadable or not %dx%d as its XML says"
                           % (wheel, image_name, ann.width, ann.height))
    atomic_write_bytes(os.path.join(image_dir, image_name), data)
    boxes, classes, _ = voc_gts(ann, {o.name: 1 for o in ann.objects}, tally)
    return {"file_name": image_name, "width": ann.width, "height": ann.height}, boxes, classes


def convert_deepforest(wheel, out_dir):
    """Write the COCO-layout tree dataset from `wheel` into `out_dir` (the marker last)."""
    try:
        archive = zipfile.ZipFile(wheel)
    except (OSError, zipfile.BadZipFile) as e:
        raise DatasetError("deepforest wheel %s: cannot be opened (%s); %s" % (wheel, e, GET_WHEEL % "<dir>")) \
            from None
    tally = ProblemTally("deepforest")
    with archive:
        for split, stems in SPLITS.items():
            image_dir = os.path.join(out_dir, "images", split)
            os.makedirs(image_dir, exist_ok=True)
            images, anns = [], []
            for image_id, stem in enumerate(stems, start=1):
                entry, boxes, classes = _convert_image(archive, wheel, stem, image_dir, tally)
                images.append(dict(entry, id=image_id))
                anns += coco_annotations(image_id, boxes, classes, len(anns) + 1)
            write_json_atomic({"images": images, "annotations": anns,
                               "categories": [{"id": 1, "name": "tree", "supercategory": "plant"}]},
                              os.path.join(out_dir, "annotations", "instances_%s.json" % split))
    tally.report(LOG)
    write_json_atomic({"wheel": os.path.basename(wheel), "splits": SPLITS}, os.path.join(out_dir, MARKER))


def ensure_deepforest(out_dir, wheel_dir):
    """Convert the wheel's data into `out_dir` unless already done. Returns True if converted."""
    if os.path.isfile(os.path.join(out_dir, MARKER)):
        return False
    convert_deepforest(find_wheel(wheel_dir), out_dir)
    LOG.info("converted the deepforest wheel's tree images into %s", out_dir)
    return True
