"""main_test / the inference pipeline end to end on the tiny shapes data: results json, metrics, valid ranges, jobs, CLI errors."""
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import main_test
from lib.inference.evaluate import METRIC_NAMES
from train_helpers import QUICKSTART_CFG, ROOT, tiny_config, tiny_dataset, tiny_words, train_tiny

pytestmark = pytest.mark.slow
CATEGORY_OFFSET = 7  # the test set's category ids become 10 k + 7: the json must carry these, not 1..5


def _remap_categories(data_dir, out_dir):
    """A copy of the dataset whose val annotations use category ids 10 k + 7 (same class order)."""
    shutil.copytree(data_dir, out_dir)
    path = os.path.join(out_dir, "annotations", "instances_val.json")
    with open(path) as f:
        data = json.load(f)
    for entry in data["categories"]:
        entry["id"] = 10 * entry["id"] + CATEGORY_OFFSET
    for entry in data["annotations"]:
        entry["category_id"] = 10 * entry["category_id"] + CATEGORY_OFFSET
    with open(path, "w") as f:
        json.dump(data, f)
    return str(out_dir), data


@pytest.fixture(scope="module")
def model(tmp_path_factory):
    """(data dir with remapped val categories, its val annotations, output dir) of a tiny model trained once."""
    root = tmp_path_factory.mktemp("tester")
    data_dir = tiny_dataset(root / "data")
    train_tiny(data_dir, root / "out")
    remapped, annotations = _remap_categories(data_dir, root / "data_remapped")
    return remapped, annotations, str(root / "out")


def _results(cfg):
    path = os.path.join(cfg.output_path, "shapes_cpu", "train", "results", "detections_val_results.json")
    with open(path) as f:
        return json.load(f)


def test_results_json_fields_and_metrics(model):
    data_dir, annotations, out = model
    cfg = tiny_config(data_dir, out)
    evaluation = main_test.run(cfg)
    results = _results(cfg)  # the ARCHITECTURE path: <output>/<cfg name>/<train set>/results/
    assert results, "the tiny model produced no detection at all"
    images = {im["id"]: im for im in annotations["images"]}
    categories = {c["id"] for c in annotations["categories"]}
    for entry in results:
        assert set(entry) == {"image_id", "category_id", "bbox", "score"}
        assert type(entry["image_id"]) is int and entry["image_id"] in images
        assert type(entry["category_id"]) is int and entry["category_id"] in categories
        assert len(entry["bbox"]) == 4 and all(isinstance(v, float) for v in entry["bbox"])
        x, y, w, h = entry["bbox"]
        image = images[entry["image_id"]]
        assert w > 0 and h > 0 and x >= 0 and y >= 0
        # clipped to the resized image, then divided by s (as the reference): x2 <= W - 1 + 0.5 / s
        assert x + w <= image["width"] + 1 and y + h <= image["height"] + 1
        assert isinstance(entry["score"], float) and 1e-3 < entry["score"] <= 1
    metrics_file = os.path.join(out, "shapes_cpu", "train", "results", "detections_val_metrics.json")
    with open(metrics_file) as f:
        saved = json.load(f)
    assert list(saved["metrics"]) == list(METRIC_NAMES)
    assert all(isinstance(v, float) and -1 <= v <= 1 for v in saved["metrics"].values())
    assert saved == evaluation and set(saved["per_class_ap"]) == {c["name"] for c in annotations["categories"]}


def test_valid_ranges_reach_the_merge(model):
    data_dir, _, out = model
    nothing = _results_of(tiny_config(data_dir, out, "TEST.VALID_RANGES", "((100000, -1), (100000, -1))"))
    assert nothing == []
    small = _results_of(tiny_config(data_dir, out, "TEST.VALID_RANGES", "((-1, 30), (-1, 30))"))
    assert small
    areas = [(w - 1) * (h - 1) for _, _, w, h in (r["bbox"] for r in small)]  # the merge's area, no +1
    assert max(areas) <= 30 * 30 + 10  # bbox values are rounded to 0.1
    everything = _results_of(tiny_config(data_dir, out, "TEST.VALID_RANGES", "((-1, -1), (-1, -1))"))
    assert max((w - 1) * (h - 1) for _, _, w, h in (r["bbox"] for r in everything)) > 30 * 30 + 10


def _results_of(cfg):
    main_test.run(cfg)
    return _results(cfg)


def _sorted_rows(results):
    """Entries as numeric rows (image, category, x, y, w, h, score), sorted, for a tolerant comparison."""
    rows = np.array([[r["image_id"], r["category_id"], *r["bbox"], r["score"]] for r in results])
    return rows[np.lexsort(rows.T[::-1])]


def test_two_concurrent_jobs_give_the_same_detections(model):
    data_dir, _, out = model
    one = _results_of(tiny_config(data_dir, out, "TEST.CONCURRENT_JOBS", "1"))
    two = _results_of(tiny_config(data_dir, out, "TEST.CONCURRENT_JOBS", "2"))
    assert len({r["image_id"] for r in two}) == 2  # both shards (one image each) came back
    assert len(one) == len(two)
    np.testing.assert_allclose(_sorted_rows(one), _sorted_rows(two), atol=0.11, rtol=1e-4)


def test_missing_epoch_exits_2_with_one_line(model):
    data_dir, _, out = model
    command = [sys.executable, os.path.join(ROOT, "main_test.py"), "--cfg", QUICKSTART_CFG, "--epoch", "7",
               "--set"] + tiny_words(data_dir, out)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    expected = os.path.join(out, "shapes_cpu", "train", "SNIPER-0007.params")
    assert lines[0].startswith("error: ") and expected in lines[0] and "epochs present" in lines[0]
    assert lines[0].rstrip(")").endswith(": 1")
