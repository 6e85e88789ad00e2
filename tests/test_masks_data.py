"""Instance masks in the records: COCO polygons, RLE (compressed and uncompressed) and crowd regions read by
the COCO loader, box-only datasets (VOC, json without segmentation) refused by a mask configuration."""
import logging

import numpy as np
import pytest
from pycocotools import mask as mask_api
from pycocotools.coco import COCO

from dataset_helpers import coco_json, dataset_cfg, write_coco_set, write_voc
from lib.dataset import DatasetError, load_dataset
from lib.dataset.roidb import ImageRecord, flip_record
from lib.dataset.segms import flip_segm, read_segmentation, rle_runs

W, H = 60, 50


def _compressed(mask):
    rle = mask_api.encode(np.asfortranarray(mask.astype(np.uint8)))
    return {"size": rle["size"], "counts": rle["counts"].decode("ascii")}


def _uncompressed(mask):
    """The crowd format: counts as a list of run lengths, column-major, starting with zeros."""
    flat = mask.astype(np.uint8).ravel(order="F")
    changes = np.flatnonzero(np.diff(np.concatenate([[0], flat, [1 - flat[-1]]])))
    return {"size": list(mask.shape), "counts": np.diff(np.concatenate([[0], changes])).tolist()}


def _blob(x0, y0, x1, y1):
    mask = np.zeros((H, W), np.uint8)
    mask[y0:y1, x0:x1] = 1
    return mask


POLYGON = [[5, 5, 25, 5, 25, 20, 5, 20], [30, 30, 34, 30]]  # the second (2 points) is dropped, as the original


def _mask_json():
    anns = [
        (1, 1, [5, 5, 20, 15], {"segmentation": POLYGON}),
        (1, 2, [30, 10, 10, 8], {"segmentation": _compressed(_blob(30, 10, 40, 18))}),
        (1, 1, [2, 30, 20, 10], {"segmentation": _uncompressed(_blob(2, 30, 22, 40))}),
        (1, 2, [40, 30, 15, 15], {"segmentation": _uncompressed(_blob(40, 30, 55, 45)), "iscrowd": 1}),
        (1, 1, [45, 2, 0, 5], {"segmentation": _compressed(_blob(45, 2, 46, 7))}),  # zero width: dropped
        (2, 2, [1, 1, 10, 10], {}),  # no segmentation: kept with an empty mask
    ]
    return coco_json([(1, "a.jpg", W, H), (2, "b.jpg", W, H)], anns)


def _decoded(segm):
    if isinstance(segm, dict):
        return mask_api.decode(segm)
    if not segm:
        return np.zeros((H, W), np.uint8)
    rles = mask_api.frPyObjects([p.tolist() for p in segm], H, W)
    return mask_api.decode(mask_api.merge(rles))


def test_coco_loader_reads_polygons_rle_and_uncompressed_rle(tmp_path, caplog):
    path = write_coco_set(tmp_path, "train", _mask_json())
    with caplog.at_level(logging.WARNING):
        ds = load_dataset(dataset_cfg("coco", tmp_path, tmp_path, 3), "train", with_masks=True)
    assert ds.has_masks
    a, b = ds.records
    assert len(a.segms) == len(a.boxes) == 3 and len(b.segms) == len(b.boxes) == 1
    assert len(a.segms[0]) == 1 and a.segms[0][0].dtype == np.float32  # the 2-point polygon dropped
    assert isinstance(a.segms[1], dict) and isinstance(a.segms[1]["counts"], bytes)
    # pycocotools' own reading of the json (COCO.annToMask) is the reference for every kept annotation
    coco = COCO(path)
    for segm, ann_id in zip(a.segms, (1, 2, 3)):
        ann = coco.anns[ann_id]
        if ann_id == 1:
            ann = dict(ann, segmentation=POLYGON[:1])
        np.testing.assert_array_equal(_decoded(segm), coco.annToMask(ann))
    assert b.segms == [[]]
    assert "kept 1 boxes without a polygon or RLE (their masks are empty)" in caplog.text
    assert "dropped 1 crowd boxes" in ds.load_summary


def test_box_only_datasets_carry_no_masks_and_a_mask_config_says_so(tmp_path):
    write_coco_set(tmp_path / "boxes", "train", coco_json([(1, "a.jpg", W, H)], [(1, 1, [5, 5, 20, 15], {})]))
    cfg = dataset_cfg("coco", tmp_path / "boxes", tmp_path, 3)
    ds = load_dataset(cfg, "train")
    assert not ds.has_masks and ds.records[0].segms is None
    with pytest.raises(DatasetError) as err:
        load_dataset(cfg, "train", with_masks=True)
    message = str(err.value)
    assert "\n" not in message and "COCO_train" in message and "instances_train.json" in message
    assert "no instance masks" in message
    write_voc(tmp_path / "VOCdevkit", "2007", "trainval", {"000005": (64, 48, [("chair", (11, 21, 30, 40), 0)])})
    voc = dataset_cfg("PascalVOC", tmp_path / "VOCdevkit", tmp_path, 21)
    assert load_dataset(voc, "2007_trainval").records[0].segms is None
    with pytest.raises(DatasetError, match=r"^dataset voc_2007_trainval \(.*\) has no instance masks"):
        load_dataset(voc, "2007_trainval", with_masks=True)


def test_mixed_sets_name_the_one_without_masks(tmp_path):
    write_coco_set(tmp_path, "masks", _mask_json())
    write_coco_set(tmp_path, "boxes", coco_json([(3, "c.jpg", W, H)], [(3, 1, [5, 5, 20, 15], {})]))
    cfg = dataset_cfg("coco", tmp_path, tmp_path, 3)
    assert load_dataset(cfg, "masks+boxes").records[0].segms is not None
    with pytest.raises(DatasetError, match="dataset COCO_boxes "):
        load_dataset(cfg, "masks+boxes", with_masks=True)


@pytest.mark.parametrize("segmentation, message", [
    ([[1, 2, 3, 4, 5]], "odd number"),
    ([[1, 2, float("nan"), 4, 5, 6]], "non-finite"),
    ({"size": [W, H], "counts": "abc"}, r"RLE size \[60, 50\] differs"),
    ({"counts": "abc"}, "neither a polygon list nor an RLE"),
    ("polygon", "neither a polygon list nor an RLE"),
])
def test_bad_segmentation_names_file_and_annotation(tmp_path, segmentation, message):
    write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", W, H)], [(1, 1, [5, 5, 20, 15],
                                                                        {"segmentation": segmentation})]))
    with pytest.raises(DatasetError, match=r"instances_train\.json: annotation id 1 \(image id 1\): bad "
                                           r"segmentation: .*" + message):
        load_dataset(dataset_cfg("coco", tmp_path, tmp_path, 3), "train")


def test_read_segmentation_formats():
    mask = _blob(3, 4, 9, 7)
    compressed = read_segmentation(_compressed(mask), H, W)
    uncompressed = read_segmentation(_uncompressed(mask), H, W)
    assert compressed == uncompressed and compressed["size"] == [H, W]
    np.testing.assert_array_equal(mask_api.decode(compressed), mask)
    assert read_segmentation([], H, W) == []
    assert read_segmentation([[1, 2, 3, 4]], H, W) == []  # fewer than 3 points: not a polygon


def test_flipped_record_mirrors_rle_and_polygons():
    mask = _blob(3, 4, 9, 7)
    mask[4, 3] = 0
    record = ImageRecord(image="a.jpg", width=W, height=H, boxes=[[3, 4, 8, 6], [5, 5, 24, 19]], classes=[1, 2],
                         segms=[mask_api.encode(np.asfortranarray(mask)), [np.array(POLYGON[0], np.float32)]])
    flipped = flip_record(record)
    np.testing.assert_array_equal(mask_api.decode(flipped.segms[0]), mask[:, ::-1])
    # polygon x -> W - x - 1 = 59 - x (the original's lib/dataset/imdb.py:221-224)
    np.testing.assert_array_equal(flipped.segms[1][0], [54, 5, 34, 5, 34, 20, 54, 20])
    np.testing.assert_array_equal(flipped.boxes, [[51, 4, 56, 6], [35, 5, 54, 19]])
    back = flip_record(flipped)
    assert back.segms[0] == record.segms[0] and not back.flipped
    with pytest.raises(ValueError, match="2 boxes but 1 segmentations"):
        ImageRecord(image="a.jpg", width=W, height=H, boxes=[[3, 4, 8, 6], [5, 5, 24, 19]], classes=[1, 2],
                    segms=[[]])


def test_rle_flip_and_runs_match_pycocotools_on_random_masks():
    """The RLE is mirrored through its runs (never decoded); pycocotools' encode of the mirrored pixels is the
    reference, counts string included. Masks empty, full, touching the borders, random."""
    rng = np.random.default_rng(3)
    for trial in range(200):
        height, width = (int(v) for v in rng.integers(1, 40, 2))
        mask = (rng.random((height, width)) < rng.random()).astype(np.uint8)
        if trial % 10 == 0:
            mask[:] = trial % 20 == 0
        rle = mask_api.encode(np.asfortranarray(mask))
        starts, ends = rle_runs(rle)
        flat = np.zeros(height * width, np.uint8)
        for start, end in zip(starts, ends):
            flat[start:end] = 1
        np.testing.assert_array_equal(flat, mask.ravel(order="F"))
        flipped = flip_segm(rle, width)
        assert flipped["counts"] == mask_api.encode(np.asfortranarray(mask[:, ::-1]))["counts"]
        assert flipped["size"] == [height, width]
