"""VOC AP (lib/inference/voc_eval.py) on tiny cases computed by hand, with the original's rules
(lib/dataset/pascal_voc_eval.py: `voc_eval` matching, `voc_ap` 11-point and area), the VOC results files, the
VOC table beside the COCO one, and main_test end to end on a VOC-layout copy of the tiny shapes data."""
import json
import logging
import os

import numpy as np
import pytest

from dataset_helpers import write_voc
from lib.dataset.pascal_voc import VOC_CLASSES, load_pascal_voc
from lib.inference.evaluate import evaluate_detections
from lib.inference.voc_eval import class_ap, voc_ap
from lib.inference.voc_results import class_lines, parse_lines, results_template

# Three non-difficult gts (npos = 3) and one difficult gt; 1-based inclusive 10 x 10 boxes (area 100).
GTS = (np.array([0, 0, 0, 1]),
       np.array([[1, 1, 10, 10], [21, 1, 30, 10], [41, 1, 50, 10], [1, 1, 10, 10]], dtype=float),
       np.array([False, False, True, False]))


def _dets(rows):
    """rows: (image, score, x1, y1, x2, y2) -> (images, scores, boxes)."""
    rows = np.array(rows, dtype=float).reshape(-1, 6)
    return rows[:, 0].astype(int), rows[:, 1], rows[:, 2:]


def test_three_gts_five_detections_one_difficult_both_modes():
    dets = _dets([
        (0, 0.9, 1, 1, 10, 10),   # gt 0, IoU 1: TP
        (0, 0.8, 2, 1, 10, 10),   # best gt 0 (IoU 90/100), already taken: FP
        (0, 0.7, 41, 1, 50, 10),  # the difficult gt: neither TP nor FP
        (1, 0.5, 6, 1, 15, 10),   # gt 3: intersection 5 x 10 = 50, union 150, IoU 1/3: FP
        (0, 0.6, 21, 1, 30, 10),  # gt 1, IoU 1: TP (ranked before the 0.5 one)
    ])
    npos, ap = class_ap(dets, GTS, iou_thresholds=(0.5,))
    assert npos == 3
    # score order: TP, FP, (difficult), TP, FP -> cumulative tp 1 1 1 2 2, fp 0 1 1 1 2
    # recall 1/3 1/3 1/3 2/3 2/3, precision 1 1/2 1/2 2/3 1/2 (the difficult one repeats the previous point)
    # 11-point: t = 0, .1, .2, .3 -> max precision at recall >= t = 1; t = .4, .5, .6 -> 2/3; t >= .7 -> 0
    #   AP = (4 * 1 + 3 * 2/3) / 11 = 6/11
    # area: envelope 1 up to recall 1/3, 2/3 up to 2/3, then 0: AP = 1/3 * 1 + 1/3 * 2/3 = 5/9
    np.testing.assert_allclose(ap, [[6 / 11, 5 / 9]])


def test_iou_must_exceed_the_threshold():
    gts = (np.array([0]), np.array([[1, 1, 10, 10]], dtype=float), np.array([False]))
    half = _dets([(0, 0.9, 1, 1, 10, 5)])  # 10 x 5 inside the 10 x 10 gt: IoU 50 / 100 = 0.5 exactly
    # the original tests `ovmax > ovthresh`: at 0.5 it is a FP (AP 0), at 0.49 a TP (AP 1)
    np.testing.assert_allclose(class_ap(half, gts, iou_thresholds=(0.5, 0.49))[1], [[0, 0], [1, 1]])


def test_detection_on_a_difficult_gt_first_costs_nothing():
    gts = (np.array([0, 0]), np.array([[1, 1, 10, 10], [21, 1, 30, 10]], dtype=float), np.array([True, False]))
    dets = _dets([(0, 0.9, 1, 1, 10, 10), (0, 0.8, 21, 1, 30, 10)])
    # tp 0 1, fp 0 0: precision 0/eps = 0 then 1, recall 0 then 1 -> 11-point: 1 at every t; area: 1 * 1
    np.testing.assert_allclose(class_ap(dets, gts)[1], [[1, 1]])


def test_eleven_points_are_the_originals_float_steps():
    # 10 gts in 10 images, 3 found with precision 1: recall 0.1 0.2 0.3. The original's points are
    # np.arange(0., 1.1, 0.1), whose 4th is 0.30000000000000004 > 3/10, so only t = 0, .1, .2 count: AP = 3/11
    # (4/11 with exact tenths). Area: 0.3 * 1.
    gts = (np.arange(10), np.tile([[1.0, 1, 10, 10]], (10, 1)), np.zeros(10, bool))
    dets = _dets([(i, 0.9 - 0.1 * i, 1, 1, 10, 10) for i in range(3)])
    np.testing.assert_allclose(class_ap(dets, gts)[1], [[3 / 11, 0.3]])


def test_no_detection_and_no_gt():
    gts = (np.array([0]), np.array([[1, 1, 10, 10]], dtype=float), np.array([False]))
    np.testing.assert_allclose(class_ap(_dets([]), gts)[1], [[0, 0]])
    npos, ap = class_ap(_dets([(0, 0.9, 1, 1, 10, 10)]), (np.array([0]), GTS[1][:1], np.array([True])))
    assert npos == 0 and np.isnan(ap).all()


def _random_case(rng, num_images=8, num_classes=3):
    """Per image: float gts (some difficult) and detections (jittered gts and random boxes, scores in (0, 1))."""
    images = []
    for _ in range(num_images):
        n = rng.integers(0, 6)
        xy = rng.uniform(0, 200, (n, 2))
        gts, gt_labels = np.hstack([xy, xy + rng.uniform(10, 80, (n, 2))]), rng.integers(0, num_classes, n)
        near = rng.integers(0, n, 2 * n) if n else np.zeros(0, int)  # duplicates of a gt give false positives
        xy = rng.uniform(0, 200, (3, 2))
        dets = np.vstack([gts[near] + rng.normal(0, 5, (len(near), 4)),
                          np.hstack([xy, xy + rng.uniform(10, 80, (3, 2))])])
        labels = np.concatenate([gt_labels[near], rng.integers(0, num_classes, 3)])
        images.append((gts, gt_labels, rng.uniform(size=n) < 0.2, dets, labels, rng.uniform(size=len(dets))))
    return images


def test_agrees_with_gluoncv_voc_metrics_on_random_cases():
    # gluoncv's VOCMApMetric / VOC07MApMetric are an independent implementation of the same VOC AP (+1 on x2, y2,
    # difficult ignored); they differ only on exact ties (IoU == threshold, equal scores), which continuous
    # random boxes and scores avoid
    from gluoncv.utils.metrics.voc_detection import VOC07MApMetric, VOCMApMetric
    rng = np.random.default_rng(0)
    for case in range(3):
        images = _random_case(rng)
        ours = []
        for cls in range(3):
            dets = [(i, score, box) for i, (_, _, _, boxes, labels, scores) in enumerate(images)
                    for box, label, score in zip(boxes, labels, scores) if label == cls]
            gts = [(i, box, diff) for i, (boxes, labels, difficult, *_) in enumerate(images)
                   for box, label, diff in zip(boxes, labels, difficult) if label == cls]
            det_arrays = (np.array([d[0] for d in dets], int), np.array([d[1] for d in dets]),
                          np.array([d[2] for d in dets]).reshape(-1, 4))
            gt_arrays = (np.array([g[0] for g in gts], int), np.array([g[1] for g in gts]).reshape(-1, 4),
                         np.array([g[2] for g in gts], bool))
            ours.append(class_ap(det_arrays, gt_arrays, iou_thresholds=(0.5, 0.7))[1])
        for t, thresh in enumerate((0.5, 0.7)):
            for m, kind in enumerate((VOC07MApMetric, VOCMApMetric)):
                metric = kind(iou_thresh=thresh, class_names=["a", "b", "c"])
                for gts, gt_labels, difficult, boxes, labels, scores in images:
                    order = np.argsort(-scores)  # gluoncv matches an image's detections in the given order
                    metric.update(boxes[None, order], labels[None, order], scores[None, order], gts[None],
                                  gt_labels[None], difficult[None].astype(float))
                names, values = metric.get()  # per class, then the mAP
                assert names[:3] == ["a", "b", "c"]
                np.testing.assert_allclose([o[t, m] for o in ours], values[:3], atol=1e-12,
                                           err_msg="case %d, IoU %.1f, %s" % (case, thresh, kind.__name__))


def test_voc_ap_on_given_curves():
    # recall .5 .5 1, precision 1 .5 2/3. 11-point: t <= .5 (6 points) -> 1, t in .6 .. 1 (5 points) -> 2/3
    # -> (6 + 10/3) / 11 = 28/33. area: envelope 1 up to .5, 2/3 up to 1 -> .5 + 1/3 = 5/6
    recall, precision = [0.5, 0.5, 1.0], [1.0, 0.5, 2 / 3]
    assert voc_ap(recall, precision, "11point") == pytest.approx(28 / 33)
    assert voc_ap(recall, precision, "area") == pytest.approx(5 / 6)
    with pytest.raises(ValueError, match="AP mode 'coco'"):
        voc_ap(recall, precision, "coco")


def test_results_lines_are_one_based_rounded_and_parse_back(tmp_path):
    dets = [[None, np.array([[0, 9, 99.96, 49.04, 0.123456]], np.float32)], [None, np.zeros((0, 5), np.float32)]]
    lines = class_lines(dets, ["000005", "000007"], 1)
    assert lines == ["000005 0.123 1.0 10.0 101.0 50.0"]  # the original's '{:s} {:.3f} {:.1f} ...' of box + 1
    images, scores, boxes = parse_lines(lines, {"000005": 0, "000007": 1})
    assert images.tolist() == [0] and scores.tolist() == [0.123] and boxes.tolist() == [[1, 10, 101, 50]]
    template = results_template(str(tmp_path), "2007_test")
    assert template == str(tmp_path / "VOC2007" / "Main" / "comp4_det_test_{}.txt")
    assert results_template("r", "2007_test+2012_val").endswith("VOC2007+2012/Main/comp4_det_test+val_{}.txt")


# ---- evaluate_detections on a VOC-layout set (no model) ----------------------------------------------------

def _voc_dataset(tmp_path):
    """The GTS case as VOC files (image a: cats 1, 2 and the difficult one; image b: cat 3) plus one dog in b."""
    cats = [("cat", (1, 1, 10, 10), 0), ("cat", (21, 1, 30, 10), 0), ("cat", (41, 1, 50, 10), 1)]
    write_voc(tmp_path, "2007", "test", {"a": (64, 48, cats),
                                         "b": (64, 48, [("cat", (1, 1, 10, 10), 0), ("dog", (31, 31, 40, 40), 0)])})
    return load_pascal_voc(str(tmp_path), "2007_test", str(tmp_path / "cache"))


def _detections(dataset):
    """The first test's five cat detections (0-based: the 1-based boxes - 1) and one exact dog."""
    cat, dog = VOC_CLASSES.index("cat") + 1, VOC_CLASSES.index("dog") + 1
    dets = [[np.zeros((0, 5), np.float32) for _ in dataset.class_names] for _ in dataset.records]
    dets[0][cat] = np.array([[0, 0, 9, 9, 0.9], [1, 0, 9, 9, 0.8], [40, 0, 49, 9, 0.7], [20, 0, 29, 9, 0.6]],
                            np.float32)
    dets[1][cat] = np.array([[5, 0, 14, 9, 0.5]], np.float32)
    dets[1][dog] = np.array([[30, 30, 39, 39, 0.95]], np.float32)
    return dets


def test_evaluate_detections_voc_table_metrics_and_results_files(tmp_path, caplog):
    dataset = _voc_dataset(tmp_path / "VOCdevkit")
    caplog.set_level(logging.INFO, logger="lib.inference")
    results_dir = tmp_path / "results"
    evaluation = evaluate_detections(_detections(dataset), dataset, str(results_dir), "2007_test", voc=True)
    voc = evaluation["voc"]
    assert voc["metric"] == "AP50_11point"  # VOC2007: the original reports the 11-point metric
    assert voc["num_gts"]["cat"] == 3 and voc["num_gts"]["dog"] == 1 and voc["num_gts"]["person"] == 0
    assert voc["per_class_ap"]["cat"] == pytest.approx(
        {"AP50_11point": 6 / 11, "AP50_area": 5 / 9, "AP70_11point": 6 / 11, "AP70_area": 5 / 9})
    assert voc["per_class_ap"]["person"]["AP50_area"] == -1.0  # no gt: left out of the mean
    # mAP over cat and dog (dog found exactly: AP 1)
    assert voc["mAP"] == pytest.approx({"AP50_11point": (6 / 11 + 1) / 2, "AP50_area": (5 / 9 + 1) / 2,
                                        "AP70_11point": (6 / 11 + 1) / 2, "AP70_area": (5 / 9 + 1) / 2})
    assert 0 <= evaluation["metrics"]["AP50"] <= 1  # the COCO table is still there
    with open(results_dir / "detections_2007_test_metrics.json") as f:
        assert json.load(f)["voc"] == voc
    main = results_dir / "VOC2007" / "Main"
    assert sorted(os.listdir(main)) == sorted("comp4_det_test_%s.txt" % c for c in VOC_CLASSES)
    assert (main / "comp4_det_test_dog.txt").read_text() == "b 0.950 31.0 31.0 40.0 40.0\n"
    assert (main / "comp4_det_test_cat.txt").read_text().splitlines()[:2] == ["a 0.900 1.0 1.0 10.0 10.0",
                                                                              "a 0.800 2.0 1.0 10.0 10.0"]
    assert (main / "comp4_det_test_person.txt").read_text() == ""
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "COCO bbox AP (pycocotools COCOeval, maxDets 1, 10, 100)" in text and "VOC AP (pascal_voc_eval rules" in text
    assert "AP50_11point*" in text and "AP50_area " in text


def test_evaluate_detections_without_voc_has_no_voc_key(tmp_path):
    dataset = _voc_dataset(tmp_path / "VOCdevkit")
    evaluation = evaluate_detections(_detections(dataset), dataset, str(tmp_path / "results"), "2007_test")
    assert "voc" not in evaluation and not (tmp_path / "results" / "VOC2007").exists()


def test_voc2012_sets_report_the_area_metric(tmp_path):
    write_voc(tmp_path / "VOCdevkit", "2012", "val", {"x": (64, 48, [("dog", (31, 31, 40, 40), 0)])})
    dataset = load_pascal_voc(str(tmp_path / "VOCdevkit"), "2012_val", str(tmp_path / "cache"))
    dets = [[np.zeros((0, 5), np.float32) for _ in dataset.class_names]]
    evaluation = evaluate_detections(dets, dataset, str(tmp_path / "results"), "2012_val", voc=True)
    assert evaluation["voc"]["metric"] == "AP50_area" and evaluation["voc"]["mAP"]["AP50_area"] == 0.0


# ---- main_test end to end on a VOC-layout set with its own class names ---------------------------------------

def _shapes_as_voc(shapes_dir, voc_root):
    """Write the tiny shapes train / val splits as VOC2007 train / val (1-based boxes; the first val object
    difficult). Returns {split: [(stem, [(name, 1-based box, difficult)])]}."""
    import cv2
    written = {}
    for split in ("train", "val"):
        with open(os.path.join(shapes_dir, "annotations", "instances_%s.json" % split)) as f:
            data = json.load(f)
        names = {c["id"]: c["name"] for c in data["categories"]}
        images = {}
        for im in data["images"]:
            objects = [(names[a["category_id"]], (a["bbox"][0] + 1, a["bbox"][1] + 1, a["bbox"][0] + a["bbox"][2],
                                                  a["bbox"][1] + a["bbox"][3]), 0)
                       for a in data["annotations"] if a["image_id"] == im["id"]]
            images[os.path.splitext(im["file_name"])[0]] = (im["width"], im["height"], objects)
        if split == "val":
            stem = next(iter(images))
            name, box, _ = images[stem][2][0]
            images[stem][2][0] = (name, box, 1)
        voc = write_voc(voc_root, "2007", split, images)
        for stem, im in zip(images, data["images"]):
            image = cv2.imread(os.path.join(shapes_dir, "images", split, im["file_name"]))
            cv2.imwrite(os.path.join(voc, "JPEGImages", stem + ".jpg"), image)
        written[split] = [(stem, spec[2]) for stem, spec in images.items()]
    return written


@pytest.mark.slow
def test_main_test_on_a_voc_layout_set_prints_and_saves_both_tables(tmp_path, caplog):
    import main_test
    from train_helpers import tiny_dataset, train_tiny
    written = _shapes_as_voc(tiny_dataset(tmp_path / "shapes"), tmp_path / "VOCdevkit")
    words = ["dataset.dataset", "PascalVOC", "dataset.dataset_path", str(tmp_path / "VOCdevkit"),
             "dataset.root_path", str(tmp_path / "data"), "dataset.image_set", "2007_train",
             "dataset.test_image_set", "2007_val", "dataset.CLASSES", "auto"]
    cfg = train_tiny(str(tmp_path / "VOCdevkit"), tmp_path / "out", *words)
    caplog.set_level(logging.INFO)
    evaluation = main_test.run(cfg)
    names = sorted({name for _, objects in written["train"] for name, _, _ in objects})
    results_dir = tmp_path / "out" / "shapes_cpu" / "2007_train" / "results"
    with open(results_dir / "detections_2007_val_metrics.json") as f:
        saved = json.load(f)
    assert saved == evaluation and set(saved["metrics"]) >= {"AP", "AP50"}
    voc = saved["voc"]
    assert list(voc["per_class_ap"]) == names and voc["metric"] == "AP50_11point"
    val_objects = [obj for _, objects in written["val"] for obj in objects]
    for name in names:  # gts counted without the difficult one
        assert voc["num_gts"][name] == sum(1 for n, _, d in val_objects if n == name and not d)
    counted = [ap["AP50_area"] for name, ap in voc["per_class_ap"].items() if voc["num_gts"][name]]
    assert all(0 <= ap <= 1 for ap in counted) and voc["mAP"]["AP50_area"] == pytest.approx(np.mean(counted))
    # each class file holds that class's detections of the COCO json in the same order (images, then the
    # detections of an image), + 1 pixel, score to 3 decimals
    with open(results_dir / "detections_2007_val_results.json") as f:
        coco = json.load(f)
    assert coco, "the tiny model produced no detection at all"
    for k, name in enumerate(names, start=1):
        lines = (results_dir / "VOC2007" / "Main" / ("comp4_det_val_%s.txt" % name)).read_text().splitlines()
        entries = [e for e in coco if e["category_id"] == k]
        assert len(lines) == len(entries)
        for line, e in zip(lines, entries):
            stem, score, x1, y1, x2, y2 = line.split()
            x, y, w, h = e["bbox"]
            assert stem == e["image_id"] and abs(float(score) - e["score"]) <= 5e-4
            np.testing.assert_allclose([float(v) for v in (x1, y1, x2, y2)], [x + 1, y + 1, x + w, y + h], atol=0.11)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "COCO bbox AP (pycocotools COCOeval, maxDets 1, 10, 100)" in text and "VOC AP (pascal_voc_eval rules" in text
