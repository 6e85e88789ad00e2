"""Pascal VOC loader: difficult excluded, -1 shift, 20 classes, COCO json for COCOeval, `+` sets."""
import contextlib
import io
import json
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from dataset_helpers import dataset_cfg, write_voc
from lib.dataset import load_dataset
from lib.dataset.pascal_voc import VOC_CLASSES, load_pascal_voc

IMAGES = {
    "000005": (64, 48, [("chair", (11, 21, 30, 40), 0), ("Person", (1, 1, 64, 48), 0),
                        ("dog", (5, 5, 9, 9), 1)]),
    "000007": (32, 32, []),
}


def test_voc_boxes_classes_and_difficult(tmp_path):
    write_voc(tmp_path, "2007", "trainval", IMAGES)
    ds = load_pascal_voc(str(tmp_path), "2007_trainval", str(tmp_path / "cache"))
    assert ds.name == "voc_2007_trainval"
    assert ds.class_names == ["__background__"] + list(VOC_CLASSES) and ds.num_classes == 21
    a, b = ds.records
    assert a.image_id == "000005" and a.image.endswith(os.path.join("VOC2007", "JPEGImages", "000005.jpg"))
    np.testing.assert_array_equal(a.boxes, [[10, 20, 29, 39], [0, 0, 63, 47]])  # 0-based, difficult dog dropped
    np.testing.assert_array_equal(a.classes, [VOC_CLASSES.index("chair") + 1, VOC_CLASSES.index("person") + 1])
    assert len(b.boxes) == 0


def test_voc_coco_json_evaluates_gts_perfectly(tmp_path):
    write_voc(tmp_path, "2007", "test", IMAGES)
    ds = load_pascal_voc(str(tmp_path), "2007_test", str(tmp_path / "cache"))
    assert ds.annotation_file == os.path.join(str(tmp_path), "cache", "voc_2007_test_gt.json")
    with open(ds.annotation_file) as f:
        data = json.load(f)
    crowd = [a for a in data["annotations"] if a["iscrowd"]]
    assert len(crowd) == 1 and crowd[0]["bbox"] == [4.0, 4.0, 5.0, 5.0]  # difficult -> ignore region
    assert not [p for p in os.listdir(tmp_path / "cache") if ".tmp" in p]
    dets = [{"image_id": r.image_id, "category_id": ds.category_ids[c],
             "bbox": [float(b[0]), float(b[1]), float(b[2] - b[0] + 1), float(b[3] - b[1] + 1)], "score": 0.9}
            for r in ds.records for b, c in zip(r.boxes, r.classes)]
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(ds.annotation_file)
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    assert abs(ev.stats[1] - 1.0) < 1e-6  # AP at IoU 0.5


def test_load_dataset_voc_plus_sets(tmp_path):
    write_voc(tmp_path / "VOCdevkit", "2007", "trainval", IMAGES)
    write_voc(tmp_path / "VOCdevkit", "2012", "trainval", {"2008_000001": (40, 40, [("cat", (2, 2, 20, 20), 0)])})
    cfg = dataset_cfg("PascalVOC", tmp_path / "VOCdevkit", tmp_path, 21)
    ds = load_dataset(cfg, "2007_trainval+2012_trainval")
    assert [r.image_id for r in ds.records] == ["000005", "000007", "2008_000001"]
    with open(ds.annotation_file) as f:
        assert len(json.load(f)["images"]) == 3
