"""COCOeval's last maxDets is TEST.EVAL_MAX_DETS (new): COCO's 100 by default, paper configs included (they cap the
tester at 200 but their numbers are COCO's maxDets 100); a dense scene raises it. COCO's defaults give
pycocotools' own numbers."""
import contextlib
import io
import json
import os

import numpy as np
import pytest
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lib.config import ConfigError, load_config
from lib.dataset.roidb import Dataset, ImageRecord
from lib.inference.coco_results import coco_results
from lib.inference.evaluate import (METRIC_NAMES, coco_evaluate, evaluate_detections, format_summary, max_dets_for,
                                    summary_stats)
from train_helpers import ROOT

N_TREES = 150  # one dense image: 150 gt boxes of 20 x 20 px (COCO "small": area 400 < 32^2) on a 15 x 10 grid


def _grid_boxes():
    return [[30.0 * (k % 15), 30.0 * (k // 15), 30.0 * (k % 15) + 19, 30.0 * (k // 15) + 19] for k in range(N_TREES)]


def _dense_dataset(tmp_path):
    anns = [{"id": k + 1, "image_id": 1, "category_id": 1, "bbox": [b[0], b[1], 20, 20], "area": 400.0,
             "iscrowd": 0} for k, b in enumerate(_grid_boxes())]
    gt_file = tmp_path / "gt.json"
    gt_file.write_text(json.dumps({"images": [{"id": 1, "width": 460, "height": 310, "file_name": "1.png"}],
                                   "annotations": anns, "categories": [{"id": 1, "name": "tree"}]}))
    records = [ImageRecord(image="1.png", width=460, height=310, boxes=np.zeros((0, 4)), classes=[], image_id=1)]
    return Dataset(name="dense_val", records=records, class_names=["__background__", "tree"], category_ids=[None, 1],
                   annotation_file=str(gt_file))


def _exact_detections():
    """Every gt found exactly, scores 0.99, 0.989, ... (distinct, descending): dets[image][cls]."""
    rows = [box + [0.99 - 0.001 * k] for k, box in enumerate(_grid_boxes())]
    return [[np.zeros((0, 5), np.float32), np.array(rows, np.float32)]]


def test_max_dets_key_default_paper_configs_and_bad_values():
    assert max_dets_for(100) == (1, 10, 100) and max_dets_for(300) == (1, 10, 300)
    paper = load_config(os.path.join(ROOT, "configs/faster/sniper_res101_e2e.yml"))
    assert paper.TEST.MAX_PER_IMAGE == 200 and paper.TEST.EVAL_MAX_DETS == 100  # the paper's evaluation
    assert load_config(None, ["TEST.EVAL_MAX_DETS", "400"]).TEST.EVAL_MAX_DETS == 400
    with pytest.raises(ConfigError, match="TEST.EVAL_MAX_DETS"):
        load_config(None, ["TEST.EVAL_MAX_DETS", "10"])
    with pytest.raises(ValueError, match="above 10"):
        max_dets_for(5)


def test_default_max_dets_cap_recall_of_a_dense_image_at_100(tmp_path):
    dataset = _dense_dataset(tmp_path)
    evaluation = coco_evaluate(coco_results(_exact_detections(), dataset), dataset.annotation_file,
                               dataset.class_names, dataset.category_ids, max_dets=max_dets_for(100))
    m = evaluation["metrics"]
    assert list(m) == list(METRIC_NAMES) and evaluation["max_dets"] == [1, 10, 100]
    # By hand: the 100 best detections are 100 true positives of 150 gts at every IoU threshold: recall 2/3.
    assert m["AR1"] == pytest.approx(1 / 150) and m["AR10"] == pytest.approx(10 / 150)
    assert m["AR100"] == pytest.approx(100 / 150)
    # Precision 1 up to recall 2/3, nothing beyond: 67 of COCO's 101 recall points (0, 0.01, ..., 0.66).
    assert m["AP"] == pytest.approx(67 / 101) and m["AP50"] == pytest.approx(67 / 101)
    assert m["APs"] == pytest.approx(67 / 101) and m["APm"] == -1.0 and m["APl"] == -1.0


def test_eval_max_dets_300_counts_every_detection(tmp_path):
    dataset = _dense_dataset(tmp_path)
    evaluation = evaluate_detections(_exact_detections(), dataset, str(tmp_path / "results"), "dense_val",
                                     eval_max_dets=300)
    m = evaluation["metrics"]
    assert evaluation["max_dets"] == [1, 10, 300]
    assert list(m) == ["AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR300", "ARs", "ARm", "ARl"]
    assert m["AR300"] == pytest.approx(1.0) and m["AP"] == pytest.approx(1.0) and m["ARs"] == pytest.approx(1.0)
    assert m["AR10"] == pytest.approx(10 / 150)
    assert evaluation["per_class_ap"] == pytest.approx({"tree": 1.0})
    saved = json.loads((tmp_path / "results" / "detections_dense_val_metrics.json").read_text())
    assert saved == evaluation
    table = format_summary(evaluation)
    assert "maxDets 1, 10, 300" in table and "AR300" in table and "maxDets=300" in table and "AR100" not in table


def _noisy_case(tmp_path):
    """Three images, two classes, jittered boxes, false positives, a crowd-free gt set of mixed sizes."""
    rng = np.random.RandomState(0)
    images, anns, results = [], [], []
    for image_id in (1, 2, 3):
        images.append({"id": image_id, "width": 640, "height": 480, "file_name": "%d.jpg" % image_id})
        for _ in range(rng.randint(5, 30)):
            w, h = rng.uniform(8, 200, 2)
            x, y = rng.uniform(0, 640 - w), rng.uniform(0, 480 - h)
            cat = int(rng.randint(1, 3))
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": cat, "bbox": [x, y, w, h],
                         "area": float(w * h), "iscrowd": 0})
            for _ in range(rng.randint(0, 3)):  # 0-2 jittered detections per gt
                jitter = rng.normal(0, 0.1 * min(w, h), 4)
                results.append({"image_id": image_id, "category_id": cat, "score": float(rng.uniform()),
                                "bbox": [x + jitter[0], y + jitter[1], max(1.0, w + jitter[2]),
                                         max(1.0, h + jitter[3])]})
        for _ in range(rng.randint(0, 20)):  # false positives
            results.append({"image_id": image_id, "category_id": int(rng.randint(1, 3)),
                            "score": float(rng.uniform()), "bbox": list(rng.uniform(0, 300, 2)) + [40.0, 40.0]})
    path = tmp_path / "noisy.json"
    path.write_text(json.dumps({"images": images, "annotations": anns,
                                "categories": [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]}))
    return str(path), results


def test_default_max_dets_give_pycocotools_summarize_numbers(tmp_path):
    """The oracle is pycocotools' own COCOeval.summarize() with its default params."""
    path, results = _noisy_case(tmp_path)
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(path)
        reference = COCOeval(gt, gt.loadRes(results), "bbox")
        reference.evaluate()
        reference.accumulate()
        reference.summarize()
    assert summary_stats(reference) == pytest.approx(list(reference.stats), abs=0)
    ours = coco_evaluate(results, path, ["__background__", "a", "b"], [None, 1, 2], max_dets=max_dets_for(100))
    assert list(ours["metrics"].values()) == pytest.approx(list(reference.stats), abs=0)
    assert 0 < ours["metrics"]["AP"] < 1  # a case where the numbers mean something
