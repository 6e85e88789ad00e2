"""Masks at test time (lib/inference/masks.py): the scale each box's mask is computed at, pasting a 28 x 28 grid
into the image, RLE in the COCO results json (pycocotools decodes it back) and COCOeval's segm table."""
import json

import numpy as np
import pytest
from pycocotools import mask as mask_api

from lib.inference.coco_results import write_coco_results
from lib.inference.evaluate import coco_evaluate
from lib.inference.masks import encode_mask, mask_scale_indices, paste_mask


def test_mask_scale_is_the_finest_valid_scale():
    # ranges (sqrt area, original px): scale 0 (-1, 90], scale 1 (32, 180], scale 2 (75, inf). Sides 20 -> only
    # scale 0; 50 -> 0 and 1 -> 0; 100 -> 1 and 2 -> 1; 300 -> 2; a 10 x 10 box with ranges all above it -> the
    # last scale.
    ranges = ((-1, 90), (32, 180), (75, -1))
    boxes = np.array([[0, 0, 20, 20], [0, 0, 50, 50], [0, 0, 100, 100], [0, 0, 300, 300]], np.float32)
    np.testing.assert_array_equal(mask_scale_indices(boxes, ranges), [0, 0, 1, 2])
    assert mask_scale_indices(np.array([[0, 0, 10, 10]], np.float32), ((50, 90), (90, 200)))[0] == 1
    assert mask_scale_indices(np.zeros((0, 4), np.float32), ranges).shape == (0,)


def test_paste_a_full_grid_fills_the_box():
    # box (10, 20, 30, 40): the grid spans [10, 30) x [20, 40): columns 10..29, rows 20..39
    mask = paste_mask(np.ones((28, 28), np.float32), [10, 20, 30, 40], 50, 60)
    expected = np.zeros((50, 60), np.uint8)
    expected[20:40, 10:30] = 1
    np.testing.assert_array_equal(mask, expected)


def test_paste_a_half_grid_by_hand():
    # left 14 of 28 columns at 1 on a box of width 28 from x1 = 4: pixel j reads cell (j + 0.5 - 4) - 0.5 =
    # j - 4; cells 0..13 are 1 -> pixels 4..17; at the boundary, pixel 18 reads cell 14 (0). A box of width 14
    # (x1 = 0, x2 = 14) reads cell (j + 0.5) * 2 - 0.5 = 2j + 0.5: pixels 0..6 read cells 0.5 .. 12.5 (1), pixel 7
    # reads 14.5 (0).
    probs = np.zeros((28, 28), np.float32)
    probs[:, :14] = 1
    mask = paste_mask(probs, [4, 0, 32, 28], 28, 40)
    np.testing.assert_array_equal(np.flatnonzero(mask[5]), np.arange(4, 18))
    mask = paste_mask(probs, [0, 0, 14, 14], 20, 20)
    np.testing.assert_array_equal(np.flatnonzero(mask[3]), np.arange(0, 7))
    assert not mask[14:].any()  # below the box


def test_paste_clips_to_the_image():
    mask = paste_mask(np.ones((28, 28), np.float32), [-5.5, 90, 10, 130], 100, 20)
    assert mask.shape == (100, 20)
    assert mask[90:, :10].all() and not mask[:90].any() and not mask[:, 10:].any()


class _Dataset:
    name, class_names, category_ids = "toy", ["__background__", "a", "b"], [None, 7, 9]

    def __init__(self):
        self.records = [type("R", (), {"image_id": 11, "image": "x.png"})()]


def test_results_json_masks_decode_back(tmp_path):
    rng = np.random.default_rng(1)
    masks = [(rng.random((30, 40)) > 0.6).astype(np.uint8) for _ in range(3)]
    dets = [np.zeros((0, 5), np.float32), np.array([[1, 2, 10, 12, 0.9], [3, 3, 5, 5, 0.5]], np.float32),
            np.array([[0, 0, 39, 29, 0.7]], np.float32)]
    rles = [[], [encode_mask(masks[0]), encode_mask(masks[1])], [encode_mask(masks[2])]]
    path = tmp_path / "results.json"
    write_coco_results(str(path), [dets], _Dataset(), [rles])
    entries = json.loads(path.read_text())
    assert [e["category_id"] for e in entries] == [7, 7, 9]
    for entry, mask in zip(entries, masks):
        decoded = mask_api.decode(entry["segmentation"])  # str counts, as COCO.annToMask reads a results file
        np.testing.assert_array_equal(decoded, mask)


def _toy_coco(tmp_path):
    """Two 40 x 40 images with one polygon gt each (a square and a triangle)."""
    anns = [{"id": 1, "image_id": 1, "category_id": 3, "bbox": [5, 5, 20, 20], "area": 400, "iscrowd": 0,
             "segmentation": [[5, 5, 25, 5, 25, 25, 5, 25]]},
            {"id": 2, "image_id": 2, "category_id": 3, "bbox": [0, 0, 30, 30], "area": 450, "iscrowd": 0,
             "segmentation": [[0, 0, 30, 0, 0, 30]]}]
    data = {"images": [{"id": i, "width": 40, "height": 40, "file_name": "%d.png" % i} for i in (1, 2)],
            "annotations": anns, "categories": [{"id": 3, "name": "shape"}]}
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(data))
    return str(path), anns


def test_segm_evaluation_scores_masks_not_boxes(tmp_path):
    path, anns = _toy_coco(tmp_path)
    exact = [mask_api.merge(mask_api.frPyObjects(a["segmentation"], 40, 40)) for a in anns]
    results = []
    for ann, rle in zip(anns, exact):
        rle = dict(rle, counts=rle["counts"].decode("ascii"))
        results.append({"image_id": ann["image_id"], "category_id": 3, "bbox": ann["bbox"], "score": 0.9,
                        "segmentation": rle})
    names, ids = ["__background__", "shape"], [None, 3]
    assert coco_evaluate(results, path, names, ids, iou_type="segm")["metrics"]["AP"] == pytest.approx(1.0)
    # the triangle's mask replaced by its box: the box AP stays 1, the mask IoU is 450 / 900 (< 0.5) -> AP 0.5
    box = np.zeros((40, 40), np.uint8)
    box[0:30, 0:30] = 1
    results[1]["segmentation"] = encode_mask(box)
    assert coco_evaluate(results, path, names, ids, iou_type="bbox")["metrics"]["AP"] == pytest.approx(1.0)
    segm = coco_evaluate(results, path, names, ids, iou_type="segm")
    assert segm["metrics"]["AP"] == pytest.approx(0.5, abs=0.01) and segm["iou_type"] == "segm"


def test_export_includes_the_mask_branch(tmp_path):
    """Detector.export writes the mask predictor too; the imported symbol gives the predictor's probabilities."""
    import mxnet as mx
    from lib.config import load_config
    from lib.inference.detector import Detector
    from lib.model.params import initialize_sniper
    from lib.model.sniper import build_sniper
    cfg = load_config("configs/quickstart/shapes_mask_cpu.yml")
    net = build_sniper(cfg, train=False)
    initialize_sniper(net)
    net.mask_head.mask_out.weight.set_data(mx.nd.random.normal(0, 1, net.mask_head.mask_out.weight.shape))
    params = str(tmp_path / "SNIPER-0001.params")
    net.save_parameters(params)
    detector = Detector(cfg, params)
    files = detector.export(str(tmp_path / "exported"))
    assert files[2:] == [str(tmp_path / "exported-mask-symbol.json"), str(tmp_path / "exported-mask-0000.params")]
    imported = mx.gluon.SymbolBlock.imports(files[2], ["data0", "data1", "data2"], files[3])
    data = mx.nd.random.normal(shape=(1, 3, 96, 128))
    boxes, classes = mx.nd.array([[[10, 10, 60, 50], [0, 0, 90, 90]]]), mx.nd.array([[1, 4]])
    expected = detector.pipeline.mask_predictor()(data, boxes, classes).asnumpy()
    assert expected.shape == (1, 2, 28, 28) and expected.std() > 0
    np.testing.assert_allclose(imported(data, boxes, classes).asnumpy(), expected, rtol=1e-4, atol=1e-5)
