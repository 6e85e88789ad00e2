"""COCO results json (fields, ids, xywh, rounding, atomic write) and COCOeval on a tiny gt set."""
import json

import numpy as np
import pytest

from lib.dataset.roidb import Dataset, ImageRecord
from lib.inference.coco_results import coco_results, results_file, write_coco_results
from lib.inference.evaluate import METRIC_NAMES, coco_evaluate, evaluate_detections, format_summary

# Two images, two classes with non-contiguous dataset category ids 7 ("cat") and 3 ("dog").
GT = {1: [(7, [10, 10, 49, 39])], 5: [(3, [0, 0, 99, 99]), (7, [200, 100, 259, 219])]}


def _dataset(tmp_path, annotated=True):
    images = [{"id": i, "width": 400, "height": 300, "file_name": "%d.jpg" % i} for i in GT]
    anns = [{"id": k + 1, "image_id": i, "category_id": c, "bbox": [b[0], b[1], b[2] - b[0] + 1, b[3] - b[1] + 1],
             "area": float((b[2] - b[0] + 1) * (b[3] - b[1] + 1)), "iscrowd": 0}
            for k, (i, c, b) in enumerate((i, c, b) for i in GT for c, b in GT[i])]
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps({"images": images, "annotations": anns,
                                   "categories": [{"id": 7, "name": "cat"}, {"id": 3, "name": "dog"}]}))
    records = [ImageRecord(image="%d.jpg" % i, width=400, height=300, boxes=np.zeros((0, 4)), classes=[],
                           image_id=np.int64(i)) for i in GT]
    return Dataset(name="tiny_val", records=records, class_names=["__background__", "cat", "dog"],
                   category_ids=[None, 7, 3], annotation_file=str(gt_file) if annotated else None)


def _perfect():
    """dets[image][cls] equal to the gts, contiguous 1 = cat (7), 2 = dog (3)."""
    dets = []
    for i in GT:
        per_class = [np.zeros((0, 5), np.float32) for _ in range(3)]
        for c, b in GT[i]:
            cls = 1 if c == 7 else 2
            per_class[cls] = np.vstack([per_class[cls], [b + [0.9]]]).astype(np.float32)
        dets.append(per_class)
    return dets


def test_result_fields_types_and_ids(tmp_path):
    dataset = _dataset(tmp_path)
    dets = _perfect()
    dets[0][1] = np.array([[10.04, 10.06, 49.5, 39.0, 0.123456789]], np.float32)
    results = coco_results(dets, dataset)
    assert len(results) == 3
    first = results[0]
    assert set(first) == {"image_id", "category_id", "bbox", "score"}
    assert type(first["image_id"]) is int and first["image_id"] == 1 and first["category_id"] == 7
    assert first["bbox"] == [10.0, 10.1, 40.5, 29.9]  # w = x2 - x1 + 1 = 40.46, h = 29.94, 1 decimal
    assert first["score"] == 0.12345679
    assert [(r["image_id"], r["category_id"]) for r in results[1:]] == [(5, 7), (5, 3)]
    path = tmp_path / "results" / "detections_tiny_val_results.json"
    assert results_file(str(tmp_path / "results"), "tiny_val") == str(path)
    write_coco_results(str(path), dets, dataset)
    assert json.loads(path.read_text()) == results
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary left behind


def test_result_errors_name_the_problem(tmp_path):
    dataset = _dataset(tmp_path)
    with pytest.raises(ValueError, match="2 images but detections for 1"):
        coco_results(_perfect()[:1], dataset)
    dataset.records[1].image_id = None
    with pytest.raises(ValueError, match="image_id of image 1"):
        coco_results(_perfect(), dataset)


def test_cocoeval_perfect_detections(tmp_path):
    dataset = _dataset(tmp_path)
    evaluation = coco_evaluate(coco_results(_perfect(), dataset), dataset.annotation_file, dataset.class_names,
                               dataset.category_ids)
    m = evaluation["metrics"]
    assert list(m) == list(METRIC_NAMES)
    assert m["AP"] == pytest.approx(1.0) and m["AP50"] == pytest.approx(1.0) and m["AR100"] == pytest.approx(1.0)
    assert m["APs"] == -1.0  # no small gt (all areas > 32^2)
    assert evaluation["per_class_ap"] == pytest.approx({"cat": 1.0, "dog": 1.0})
    assert "AP50" in format_summary(evaluation) and "dog" in format_summary(evaluation)


def test_cocoeval_one_class_missed(tmp_path):
    dataset = _dataset(tmp_path)
    dets = _perfect()
    dets[1][2] = np.zeros((0, 5), np.float32)  # the dog is not found
    evaluation = coco_evaluate(coco_results(dets, dataset), dataset.annotation_file, dataset.class_names,
                               dataset.category_ids)
    assert evaluation["per_class_ap"] == pytest.approx({"cat": 1.0, "dog": 0.0})
    assert evaluation["metrics"]["AP"] == pytest.approx(0.5)


def test_empty_detections_evaluate_to_zero(tmp_path):
    dataset = _dataset(tmp_path)
    empty = [[np.zeros((0, 5), np.float32) for _ in range(3)] for _ in GT]
    evaluation = evaluate_detections(empty, dataset, str(tmp_path / "results"), "tiny_val")
    assert evaluation["metrics"]["AP"] == 0.0 and evaluation["metrics"]["AR100"] == 0.0
    assert evaluation["metrics"]["APs"] == -1.0
    assert json.loads((tmp_path / "results" / "detections_tiny_val_results.json").read_text()) == []


def test_evaluate_detections_saves_metrics(tmp_path):
    dataset = _dataset(tmp_path)
    evaluation = evaluate_detections(_perfect(), dataset, str(tmp_path / "results"), "tiny_val")
    saved = json.loads((tmp_path / "results" / "detections_tiny_val_metrics.json").read_text())
    assert saved == evaluation and saved["metrics"]["AP"] == pytest.approx(1.0)


def test_no_annotations_only_writes_json(tmp_path, caplog):
    dataset = _dataset(tmp_path, annotated=False)
    with caplog.at_level("INFO"):
        assert evaluate_detections(_perfect(), dataset, str(tmp_path / "out"), "test-dev") is None
    path = tmp_path / "out" / "detections_test-dev_results.json"
    assert len(json.loads(path.read_text())) == 3
    assert str(path) in caplog.text
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == [path.name]


def test_unknown_image_id_is_a_clear_error(tmp_path):
    dataset = _dataset(tmp_path)
    dataset.records[0].image_id = 99
    with pytest.raises(ValueError, match="not in the annotation file, e.g. 99"):
        coco_evaluate(coco_results(_perfect(), dataset), dataset.annotation_file, dataset.class_names,
                      dataset.category_ids)
