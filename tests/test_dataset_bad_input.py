"""Bad input: each case is either repaired and counted in one warning line, or one DatasetError naming the file."""
import logging
import os

import cv2
import numpy as np
import pytest

from dataset_helpers import coco_json, voc_xml, write_coco_set, write_voc
from lib.dataset.coco import load_coco_set
from lib.dataset.errors import DatasetError
from lib.dataset.image_io import read_image
from lib.dataset.pascal_voc import load_pascal_voc


def _warnings(caplog):
    return [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]


# ---- images -------------------------------------------------------------------------------------------------

def test_missing_image_file_is_an_error_naming_it(tmp_path):
    write_coco_set(tmp_path, "train", coco_json([(1, "gone.jpg", 20, 20)], []), make_images=False)
    with pytest.raises(DatasetError, match=r"image file not found: .*gone\.jpg"):
        load_coco_set(str(tmp_path), "train", "t")


@pytest.mark.parametrize("content", [b"", b"this is not a jpeg at all" * 10])
def test_corrupt_image_detected_by_verify_and_reader(tmp_path, content):
    write_coco_set(tmp_path, "train", coco_json([(1, "bad.jpg", 20, 20)], []))
    bad = tmp_path / "images" / "train" / "bad.jpg"
    bad.write_bytes(content)
    assert len(load_coco_set(str(tmp_path), "train", "t").records) == 1  # existence only by default
    with pytest.raises(DatasetError, match=r"bad\.jpg: cannot be decoded"):
        load_coco_set(str(tmp_path), "train", "t", verify_images=True)
    with pytest.raises(DatasetError, match=r"bad\.jpg"):
        read_image(str(bad))


def test_verify_images_checks_the_annotated_size(tmp_path):
    write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", 20, 10)], []))
    cv2.imwrite(str(tmp_path / "images" / "train" / "a.jpg"), np.zeros((11, 20, 3), np.uint8))
    with pytest.raises(DatasetError, match=r"a\.jpg: size 20x11 differs from the annotation's 20x10"):
        load_coco_set(str(tmp_path), "train", "t", verify_images=True)


def test_read_image_converts_gray_rgba_and_16_bit(tmp_path):
    gray = np.arange(12, dtype=np.uint8).reshape(3, 4) * 20
    rgba = np.dstack([np.full((3, 4), v, np.uint8) for v in (10, 20, 30, 0)])
    deep = np.full((3, 4, 3), 65535, np.uint16)
    deep[0, 0] = (0, 257, 32896)
    for name, image in (("g.png", gray), ("a.png", rgba), ("d.png", deep), ("d1.png", deep[:, :, 0])):
        cv2.imwrite(str(tmp_path / name), image)
    out = {n: read_image(str(tmp_path / n)) for n in ("g.png", "a.png", "d.png", "d1.png")}
    for image in out.values():
        assert image.shape == (3, 4, 3) and image.dtype == np.uint8
    np.testing.assert_array_equal(out["g.png"], np.dstack([gray] * 3))
    np.testing.assert_array_equal(out["a.png"][1, 1], [10, 20, 30])
    np.testing.assert_array_equal(out["d.png"][0, 0], [0, 1, 128])
    assert out["d.png"][1, 1].tolist() == [255, 255, 255]
    assert out["d1.png"][0, 0].tolist() == [0, 0, 0]


def test_gray_image_passes_verification(tmp_path):
    write_coco_set(tmp_path, "train", coco_json([(1, "g.png", 8, 6)], []), make_images=False)
    os.makedirs(tmp_path / "images" / "train")
    cv2.imwrite(str(tmp_path / "images" / "train" / "g.png"), np.zeros((6, 8), np.uint8))
    assert load_coco_set(str(tmp_path), "train", "t", verify_images=True).records[0].width == 8


def test_read_image_missing_file(tmp_path):
    with pytest.raises(DatasetError, match=r"image file not found: .*nope\.png"):
        read_image(str(tmp_path / "nope.png"))


# ---- COCO boxes and categories ----------------------------------------------------------------------------

def test_coco_box_problems_counted_in_one_warning(tmp_path, caplog):
    anns = [(1, 1, (5, 5, 10, 10), {}),              # fine
            (1, 1, (-3, 2, 10, 10), {}),             # clipped (x < 0)
            (1, 2, (25, 2, 10, 10), {}),             # clipped (beyond right edge)
            (1, 1, (40, 2, 5, 5), {}),               # outside: dropped
            (1, 1, (2, 2, 0, 4), {"area": 0}),       # zero area: dropped
            (1, 2, (2, 2, -5, 4), {}),               # negative size: dropped
            (1, 9, (2, 2, 4, 4), {}),                # unknown category id: dropped
            (77, 1, (2, 2, 4, 4), {}),               # unknown image id: never loaded
            (1, 1, (0, 0, 30, 20), {"iscrowd": 1})]  # crowd: dropped as the reference (info, not warning)
    write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", 30, 20)], anns))
    caplog.set_level(logging.INFO, logger="lib.dataset")
    ds = load_coco_set(str(tmp_path), "train", "tiny_train")
    np.testing.assert_allclose(ds.records[0].boxes, [[5, 5, 14, 14], [0, 2, 9, 11], [25, 2, 29, 11]])
    (warning,) = _warnings(caplog)
    assert warning.startswith("tiny_train: ")
    for part in ("clipped 2 boxes", "dropped 1 boxes outside the image", "dropped 2 zero/negative-area boxes",
                 "dropped 1 boxes of unknown category ids", "dropped 1 boxes of unknown image ids"):
        assert part in warning
    assert any("dropped 1 crowd boxes" in r.getMessage() for r in caplog.records if r.levelno == logging.INFO)


def test_clean_dataset_logs_no_warning(tmp_path, caplog):
    write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", 30, 20)], [(1, 1, (1, 1, 5, 5), {})]))
    caplog.set_level(logging.INFO, logger="lib.dataset")
    load_coco_set(str(tmp_path), "train", "t")
    assert _warnings(caplog) == []


# ---- malformed json ---------------------------------------------------------------------------------------

def _write_raw(tmp_path, text):
    path = tmp_path / "annotations" / "instances_train.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return str(path)


GOOD_IMAGE = '{"id": 1, "file_name": "a.jpg", "width": 10, "height": 10}'
CATS = '"categories": [{"id": 1, "name": "x"}]'


@pytest.mark.parametrize("text, message", [
    ('{"images": [', "malformed json"),
    ('[1, 2]', "not a COCO json"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "height": 5}], %s}' % CATS, "lacks width"),
    ('{"images": [{"id": 1, "file_name": "a.jpg", "width": "10", "height": 5}], %s}' % CATS, "positive integer"),
    ('{"images": [%s, %s], %s}' % (GOOD_IMAGE, GOOD_IMAGE, CATS), "duplicate image ids"),
    ('{"images": [%s], "annotations": [{"image_id": 1, "category_id": 1}], %s}' % (GOOD_IMAGE, CATS),
     "malformed annotation"),
    ('{"images": [%s], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, 2, 3]}], %s}'
     % (GOOD_IMAGE, CATS), "malformed annotation"),
    ('{"images": [%s], "annotations": [{"image_id": 1, "category_id": 1, "bbox": [1, NaN, 3, 4]}], %s}'
     % (GOOD_IMAGE, CATS), "malformed annotation"),
    ('{"images": [%s]}' % GOOD_IMAGE, "no 'categories' list"),
    ('{"images": [%s], "categories": [{"id": 1}]}' % GOOD_IMAGE, "malformed categories"),
])
def test_malformed_coco_json_names_the_file(tmp_path, text, message):
    path = _write_raw(tmp_path, text)
    with pytest.raises(DatasetError) as err:
        load_coco_set(str(tmp_path), "train", "t")
    assert path in str(err.value) and message in str(err.value)


def test_missing_annotation_file(tmp_path):
    with pytest.raises(DatasetError, match=r"annotation file not found for image set 'train'"):
        load_coco_set(str(tmp_path), "train", "t")


# ---- VOC --------------------------------------------------------------------------------------------------

def test_voc_box_problems_counted_in_one_warning(tmp_path, caplog):
    objects = [("cat", (1, 1, 10, 10), 0), ("cat", (0, 5, 70, 10), 0), ("cat", (80, 5, 90, 10), 0),
               ("cat", (10, 10, 5, 20), 0), ("unicorn", (1, 1, 5, 5), 0), ("dog", (2, 2, 6, 6), 1)]
    write_voc(tmp_path, "2007", "train", {"a": (64, 48, objects), "b": (64, 48, [])})
    caplog.set_level(logging.INFO, logger="lib.dataset")
    ds = load_pascal_voc(str(tmp_path), "2007_train", str(tmp_path / "cache"))
    np.testing.assert_array_equal(ds.records[0].boxes, [[0, 0, 9, 9], [0, 4, 63, 9]])
    assert len(ds.records[1].boxes) == 0
    (warning,) = _warnings(caplog)
    for part in ("clipped 1 boxes", "dropped 1 boxes outside the image", "dropped 1 zero/negative-area boxes",
                 "dropped 1 boxes of unknown categories"):
        assert part in warning


@pytest.mark.parametrize("xml, message", [
    ("<annotation><size><width>5", "malformed XML"),
    ("<annotation><filename>a.jpg</filename></annotation>", "missing or non-numeric <width>"),
    (voc_xml("a.jpg", 64, 48, [("cat", (1, "one", 5, 5), 0)]), "missing or non-numeric <ymin>"),
    (voc_xml("a.jpg", 64, 48, [("", (1, 1, 5, 5), 0)]), "<object> without <name>"),
    (voc_xml("a.jpg", 0, 48, []), "not positive"),
])
def test_malformed_voc_xml_names_the_file(tmp_path, xml, message):
    write_voc(tmp_path, "2007", "train", {"a": xml})
    with pytest.raises(DatasetError) as err:
        load_pascal_voc(str(tmp_path), "2007_train", str(tmp_path / "cache"))
    assert os.path.join("Annotations", "a.xml") in str(err.value) and message in str(err.value)


def test_voc_missing_files_and_bad_set_name(tmp_path):
    voc = write_voc(tmp_path, "2007", "train", {"a": (64, 48, [])})
    with pytest.raises(DatasetError, match=r"image set file not found: .*val\.txt"):
        load_pascal_voc(str(tmp_path), "2007_val", str(tmp_path / "cache"))
    with pytest.raises(DatasetError, match=r"expected <year>_<split>"):
        load_pascal_voc(str(tmp_path), "trainval", str(tmp_path / "cache"))
    os.remove(os.path.join(voc, "JPEGImages", "a.jpg"))
    with pytest.raises(DatasetError, match=r"image file not found: .*a\.jpg"):
        load_pascal_voc(str(tmp_path), "2007_train", str(tmp_path / "cache"))
    os.remove(os.path.join(voc, "Annotations", "a.xml"))
    with pytest.raises(DatasetError, match=r"annotation file not found: .*a\.xml"):
        load_pascal_voc(str(tmp_path), "2007_train", str(tmp_path / "cache"))
