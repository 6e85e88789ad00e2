"""Download COCO images and annotations into data/coco, the layout the coco dataset loader reads.

    python scripts/download_coco.py [NAME ...] [--dest DIR] [--force] [--keep-archive]

Default: what the paper configs use, train2014 + val2014 (training) and test2015 with the test-dev2015 image
list (testing): data/coco/images/{train2014,val2014,test2015}/ and data/coco/annotations/*.json. About 13 + 6 +
12 GB of images. The original had no COCO script (its README points to cocodataset.org); the URLs below are
cocodataset.org's own.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from lib.utils.download import Item, main  # noqa: E402

SITE = "http://images.cocodataset.org/"


def images(year_set):
    return Item(name=year_set, url=SITE + "zips/%s.zip" % year_set, archive="%s.zip" % year_set,
                dest="images", expect=(year_set,))


def annotations(name, *jsons):
    return Item(name=name, url=SITE + "annotations/%s.zip" % name, archive="%s.zip" % name, dest=".",
                expect=tuple("annotations/%s.json" % j for j in jsons))


ITEMS = {
    "train2014": images("train2014"),
    "val2014": images("val2014"),
    "test2015": images("test2015"),
    "annotations_trainval2014": annotations("annotations_trainval2014", "instances_train2014",
                                            "instances_val2014"),
    "image_info_test2015": annotations("image_info_test2015", "image_info_test2015", "image_info_test-dev2015"),
    "train2017": images("train2017"),
    "val2017": images("val2017"),
    "annotations_trainval2017": annotations("annotations_trainval2017", "instances_train2017", "instances_val2017"),
}
DEFAULTS = ["annotations_trainval2014", "image_info_test2015", "val2014", "test2015", "train2014"]

if __name__ == "__main__":
    main(ITEMS, DEFAULTS, __doc__, base=os.path.join("data", "coco"))
