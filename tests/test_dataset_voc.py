"""Pascal VOC loader: difficult excluded, -1 shift, 20 classes or dataset.CLASSES, unknown names reported,
COCO json for COCOeval, the VOC AP's gts, `+` sets."""
import contextlib
import io
import json
import logging
import os

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from dataset_helpers import dataset_cfg, write_voc
from lib.dataset import DatasetError, load_dataset
from lib.dataset.pascal_voc import VOC_CLASSES, load_pascal_voc, voc_eval_gts

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


# ---- class names (dataset.CLASSES) and the VOC AP's gts --------------------------------------------------

CUSTOM = {"a": (64, 48, [("Kayak", (1, 1, 20, 20), 0), ("buoy", (30, 30, 40, 40), 0), ("gull", (5, 5, 9, 9), 1)]),
          "b": (64, 48, [("buoy", (2, 2, 12, 12), 0)])}


def _voc_cfg(tmp_path, classes, num_classes, image_set="2007_train"):
    cfg = dataset_cfg("PascalVOC", tmp_path / "VOCdevkit", tmp_path, num_classes)
    cfg.dataset.CLASSES = classes
    cfg.dataset.image_set = image_set
    return cfg


def test_voc_classes_from_the_config_list(tmp_path):
    write_voc(tmp_path / "VOCdevkit", "2007", "train", CUSTOM)
    ds = load_dataset(_voc_cfg(tmp_path, "kayak, buoy,GULL", 4), "2007_train")
    assert ds.class_names == ["__background__", "kayak", "buoy", "gull"]
    assert ds.records[0].classes.tolist() == [1, 2] and ds.records[1].classes.tolist() == [2]  # gull: difficult
    with open(ds.annotation_file) as f:
        assert [c["name"] for c in json.load(f)["categories"]] == ["kayak", "buoy", "gull"]


def test_voc_classes_auto_are_the_sorted_names_of_the_training_set(tmp_path):
    write_voc(tmp_path / "VOCdevkit", "2007", "train", CUSTOM)
    write_voc(tmp_path / "VOCdevkit", "2007", "val", {"c": (64, 48, [("buoy", (2, 2, 12, 12), 0)])})
    ds = load_dataset(_voc_cfg(tmp_path, "auto", 4), "2007_val")  # the test set has buoys only
    assert ds.class_names == ["__background__", "buoy", "gull", "kayak"]
    assert ds.records[0].classes.tolist() == [1]


@pytest.mark.parametrize("classes, num_classes, shown", [
    ("", 4, "gives 20 classes (aeroplane, bicycle"),
    ("auto", 21, "gives 3 classes (buoy, gull, kayak) + background = 4"),
    ("buoy", 3, "gives 1 classes (buoy) + background = 2")])
def test_num_classes_must_agree_with_the_class_list(tmp_path, classes, num_classes, shown):
    write_voc(tmp_path / "VOCdevkit", "2007", "train", CUSTOM)
    with pytest.raises(DatasetError) as err:
        load_dataset(_voc_cfg(tmp_path, classes, num_classes), "2007_train")
    message = str(err.value)
    assert "\n" not in message and "dataset.NUM_CLASSES" in message and "dataset.CLASSES" in message
    assert "NUM_CLASSES is %d" % num_classes in message and shown in message


def test_bad_class_lists_and_classes_on_another_dataset(tmp_path):
    write_voc(tmp_path / "VOCdevkit", "2007", "train", CUSTOM)
    with pytest.raises(DatasetError, match=r"dataset.CLASSES 'buoy,,kayak': expected comma-separated distinct"):
        load_dataset(_voc_cfg(tmp_path, "buoy,,kayak", 3), "2007_train")
    with pytest.raises(DatasetError, match=r"repeated: buoy"):
        load_dataset(_voc_cfg(tmp_path, "buoy,Buoy", 3), "2007_train")
    cfg = dataset_cfg("coco", tmp_path, tmp_path, 3)
    cfg.dataset.CLASSES = "buoy,kayak"
    with pytest.raises(DatasetError, match=r"dataset.CLASSES is read by the PascalVOC loader only"):
        load_dataset(cfg, "train")


def test_unknown_names_one_counted_warning_with_file_and_name(tmp_path, caplog):
    write_voc(tmp_path / "VOCdevkit", "2007", "train", CUSTOM)
    caplog.set_level(logging.WARNING, logger="lib.dataset")
    ds = load_dataset(_voc_cfg(tmp_path, "buoy", 2), "2007_train")
    assert [r.classes.tolist() for r in ds.records] == [[1], [1]]
    (warning,) = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert "dropped 2 boxes of unknown categories ('gull' x1, 'kayak' x1; the first, 'kayak', in " in warning
    assert os.path.join("VOC2007", "Annotations", "a.xml") in warning and "dataset.CLASSES" in warning


def test_no_known_class_at_all_is_an_error_naming_file_and_name(tmp_path):
    write_voc(tmp_path / "VOCdevkit", "2007", "train", CUSTOM)  # none of the 20 VOC classes
    with pytest.raises(DatasetError) as err:
        load_dataset(_voc_cfg(tmp_path, "", 21), "2007_train")
    message = str(err.value)
    assert message.startswith("voc_2007_train: no object has one of the 20 class names of dataset.CLASSES")
    assert "'buoy' x2" in message and "the first, 'kayak', in " in message and "a.xml" in message


def test_eval_gts_are_the_annotation_files_as_written(tmp_path):
    images = {"a": (64, 48, [("cat", (1, 2, 70, 40), 0), ("dog", (3, 4, 9, 9), 0), ("cat", (5, 6, 7, 8), 1),
                             ("unicorn", (1, 1, 5, 5), 0)]), "b": (64, 48, [("cat", (10, 10, 20, 20), 0)])}
    write_voc(tmp_path, "2007", "test", images)
    ds = load_pascal_voc(str(tmp_path), "2007_test", str(tmp_path / "cache"))
    gts = voc_eval_gts(ds.records, ds.class_names)
    cat, dog = VOC_CLASSES.index("cat") + 1, VOC_CLASSES.index("dog") + 1
    images_of, boxes, difficult = gts[cat]
    assert images_of.tolist() == [0, 0, 1] and difficult.tolist() == [False, True, False]
    # 1-based and not clipped (x2 = 70 > width 64), in file order: the original's parse_voc_rec
    assert boxes.tolist() == [[1, 2, 70, 40], [5, 6, 7, 8], [10, 10, 20, 20]]
    assert gts[dog][1].tolist() == [[3, 4, 9, 9]] and len(gts[1][0]) == 0
