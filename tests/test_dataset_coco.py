"""COCO-format loader: classes, the reference's box conversion, set folders, `+` merging, load_dataset."""
import json
import os

import numpy as np
import pytest

from dataset_helpers import coco_json, dataset_cfg, write_coco_set
from lib.dataset import DatasetError, load_dataset
from lib.dataset.coco import coco_box, load_coco_set


def _basic(root):
    data = coco_json(
        images=[(10, "a.jpg", 100, 80), (11, "b.jpg", 50, 40)],
        annotations=[(10, 7, (10, 20, 30, 40), {}),
                     (10, 3, (1.5, 2.5, 3.2, 4.0), {}),
                     (10, 7, (0, 0, 50, 50), {"iscrowd": 1})],
        categories=((7, "zebra"), (3, "ant"), (5, "bee")))
    return write_coco_set(root, "train", data)


def test_classes_sorted_by_category_id_and_boxes_inclusive(tmp_path):
    json_file = _basic(tmp_path)
    ds = load_coco_set(str(tmp_path), "train", "COCO_train")
    assert ds.class_names == ["__background__", "ant", "bee", "zebra"]
    assert ds.category_ids == [None, 3, 5, 7]
    assert ds.annotation_file == json_file
    a, b = ds.records
    assert a.image == os.path.join(str(tmp_path), "images", "train", "a.jpg")
    assert (a.width, a.height, a.image_id) == (100, 80, 10)
    # crowd box dropped; x2 = x1 + w - 1; fractional coordinates kept (no uint16 floor), float32
    assert a.boxes.dtype == np.float32
    np.testing.assert_allclose(a.boxes, [[10, 20, 39, 59], [1.5, 2.5, 3.7, 5.5]], atol=1e-6)
    np.testing.assert_array_equal(a.classes, [3, 1])
    assert len(b.boxes) == 0  # image without annotations kept


@pytest.mark.parametrize("bbox, area, expected, status", [
    ((10, 20, 30, 40), 1200, [10, 20, 39, 59], "ok"),
    ((-5, -3, 20, 10), 200, [0, 0, 19, 9], "clipped"),        # reference: x2 = x1 + w - 1 after x1 = max(0, x)
    ((90, 70, 30, 30), 900, [90, 70, 99, 79], "clipped"),     # x2 = min(W - 1, ...)
    ((10, 10, 0.5, 0.5), 0.25, [10, 10, 10, 10], "ok"),       # sub-pixel box: max(0, w - 1) = 0
    ((120, 10, 5, 5), 25, None, "outside"),                    # x1 = 120 > W - 1
    ((10, 10, 5, 5), 0, None, "degenerate"),                   # area 0
    ((10, 10, -4, 5), 20, None, "degenerate"),                 # negative width
])
def test_coco_box_matches_reference(bbox, area, expected, status):
    box, got = coco_box(bbox, area, width=100, height=80)
    assert got == status
    assert box == (None if expected is None else pytest.approx(expected))


def test_set_folder_mapping_and_image_info_sets(tmp_path):
    data = coco_json([(1, "x.jpg", 30, 20)], [(1, 1, (1, 1, 5, 5), {})])
    write_coco_set(tmp_path, "minival2014", data, image_dir="val2014")
    info = coco_json([(2, "y.jpg", 30, 20)], [])
    del info["annotations"]
    write_coco_set(tmp_path, "test-dev2015", info, image_dir="test2015", kind="image_info")
    mini = load_coco_set(str(tmp_path), "minival2014", "COCO_minival2014")
    assert mini.records[0].image.endswith(os.path.join("images", "val2014", "x.jpg"))
    test = load_coco_set(str(tmp_path), "test-dev2015", "COCO_test-dev2015")
    assert test.annotation_file is None
    assert test.records[0].image.endswith(os.path.join("images", "test2015", "y.jpg"))
    assert len(test.records[0].boxes) == 0


def test_no_cap_on_gts_per_image(tmp_path):
    anns = [(1, 1, (i % 50 * 4, i // 50 * 4, 3, 3), {}) for i in range(250)]
    write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", 200, 40)], anns))
    assert len(load_coco_set(str(tmp_path), "train", "t").records[0].boxes) == 250


def _two_sets(root):
    write_coco_set(root, "train2014", coco_json([(1, "a.jpg", 40, 30)], [(1, 1, (1, 2, 3, 4), {})]))
    write_coco_set(root, "val2014", coco_json([(2, "b.jpg", 40, 30)], [(2, 2, (5, 6, 7, 8), {})]))


def test_load_dataset_merges_plus_joined_sets(tmp_path):
    _two_sets(tmp_path / "coco")
    cfg = dataset_cfg("coco", tmp_path / "coco", tmp_path, num_classes=3)
    ds = load_dataset(cfg, "train2014+val2014")
    assert ds.name == "COCO_train2014+COCO_val2014"
    assert [r.image_id for r in ds.records] == [1, 2]
    assert [r.image.split(os.sep)[-2] for r in ds.records] == ["train2014", "val2014"]
    with open(ds.annotation_file) as f:
        merged = json.load(f)
    assert [im["id"] for im in merged["images"]] == [1, 2]
    assert [a["id"] for a in merged["annotations"]] == [1, 2]
    assert os.path.dirname(ds.annotation_file) == os.path.join(str(tmp_path), "cache")


def test_load_dataset_checks_num_classes_and_kind(tmp_path):
    _two_sets(tmp_path / "coco")
    with pytest.raises(DatasetError, match="dataset.NUM_CLASSES is 81"):
        load_dataset(dataset_cfg("coco", tmp_path / "coco", tmp_path, 81), "train2014")
    with pytest.raises(DatasetError, match="unknown dataset 'imagenet'"):
        load_dataset(dataset_cfg("imagenet", tmp_path / "coco", tmp_path, 3), "train2014")


def test_plus_joined_sets_with_different_classes_are_refused(tmp_path):
    # both sets have two classes (NUM_CLASSES 3 fits each), but not the same ones
    write_coco_set(tmp_path, "a", coco_json([(1, "a.jpg", 40, 30)], [(1, 1, (1, 2, 9, 9), {})]))
    write_coco_set(tmp_path, "b", coco_json([(2, "b.jpg", 40, 30)], [(2, 1, (1, 2, 9, 9), {})],
                                            categories=((1, "cat"), (2, "bird"))))
    cfg = dataset_cfg("coco", tmp_path, tmp_path, 3)
    cfg.dataset.image_set = "a+b"
    cfg.TRAIN.FLIP, cfg.TRAIN.USE_NEG_CHIPS = False, False
    with pytest.raises(DatasetError, match="cannot join COCO_a and COCO_b: their classes differ"):
        load_dataset(cfg, "a+b")
    from lib.train.records import training_records  # the trainer loads each set on its own: same check
    with pytest.raises(DatasetError, match=r"cannot join COCO_a and COCO_b: .*cat, dog vs cat, bird"):
        training_records(cfg)
    write_coco_set(tmp_path, "c", coco_json([(3, "c.jpg", 40, 30)], [(3, 2, (1, 2, 9, 9), {})]))
    cfg.dataset.image_set = "a+c"  # the same classes: joined
    assert len(training_records(cfg)[0]) == 2


def test_merge_rejects_colliding_image_ids(tmp_path):
    write_coco_set(tmp_path, "a", coco_json([(1, "a.jpg", 40, 30)], []))
    write_coco_set(tmp_path, "b", coco_json([(1, "b.jpg", 40, 30)], []))
    with pytest.raises(DatasetError, match="image ids also used"):
        load_dataset(dataset_cfg("coco", tmp_path, tmp_path, 3), "a+b")
