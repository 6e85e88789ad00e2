"""Download the released SNIPER detectors into output/, where the paper configs' main_test.py and demo.py look.

    python scripts/download_sniper_detectors.py [--dest DIR] [--force] [--keep-archive] [--url MIRROR]

The original's scripts/download_sniper_autofocus_detectors.sh fetched sniper_models.tar.gz from the URL below
and unpacked it into the repository root (SNIPER ResNet-101 and MobileNetV2 on COCO, ResNet-101 on PASCAL VOC,
and AutoFocus). The ResNet-101 COCO model lands at
output/sniper_res101_bn/sniper_res101_e2e/train2014_val2014/SNIPER-0007.params, the file the original's demo.py
loads with its defaults. The other paths are inferred from the configs and could not be checked here (no
internet). The original's demo hard-coded COCO's class names; a `classes.json` is written beside each known
released checkpoint so that demo.py and the Detector label its classes.
"""
import logging
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.utils.atomic import atomic_write_json  # noqa: E402
from lib.utils.download import Item, main  # noqa: E402

log = logging.getLogger("download_sniper_detectors")
COCO_MODELS = ("output/sniper_res101_bn/sniper_res101_e2e/train2014_val2014/SNIPER-0007.params",
               "output/sniper_mobilenetv2_bn/sniper_mobilenetv2_e2e/train2014_val2014/SNIPER-0007.params")
VOC_MODELS = ("output/sniper_res101_bn/sniper_res101_e2e_pascal_voc/2007_trainval_2012_trainval/SNIPER-0007.params",)
# COCO's 80 category ids (the 2014/2017 instances jsons skip 12, 26, 29, 30, 45, 66, 68, 69, 71 and 83).
COCO_IDS = [i for i in range(1, 91) if i not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]


def coco_classes():
    from gluoncv.data import COCODetection  # its CLASSES are COCO's names in category-id order
    assert len(COCODetection.CLASSES) == len(COCO_IDS)
    return ["__background__"] + list(COCODetection.CLASSES), [None] + COCO_IDS


def voc_classes():
    from lib.dataset.pascal_voc import VOC_CLASSES
    return ["__background__"] + list(VOC_CLASSES), [None] + list(range(1, len(VOC_CLASSES) + 1))


def write_class_names(item, dest):
    """classes.json beside each released checkpoint that has none (the format training writes)."""
    from lib.train.checkpoint import CLASSES_FILE
    for models, classes in ((COCO_MODELS, coco_classes), (VOC_MODELS, voc_classes)):
        for model in models:
            path = os.path.join(dest, os.path.dirname(model), CLASSES_FILE)
            if os.path.exists(os.path.join(dest, model)) and not os.path.exists(path):
                names, ids = classes()
                atomic_write_json(path, {"class_names": names, "category_ids": ids}, indent=1)
                log.info("wrote %s", path)


ITEMS = {
    "detectors": Item(name="detectors", url="https://bit.ly/3j6mAXJ", archive="sniper_models.tar.gz", dest=".",
                      expect=COCO_MODELS[:1], after=write_class_names,
                      note="run `python demo.py` (ResNet-101) or `python demo.py --cfg "
                           "configs/faster/sniper_mobilenetv2_e2e.yml`"),
}

if __name__ == "__main__":
    main(ITEMS, ["detectors"], __doc__, base=".")
