"""demo.py (drawn image into --out, --export) and the Detector API (classes.json, exported network)."""
import json
import os
import shutil
import subprocess
import sys

import cv2
import mxnet as mx
import numpy as np
import pytest

from lib.dataset import load_dataset
from lib.inference.detector import Detector
from lib.train.checkpoint import CLASSES_FILE
from train_helpers import QUICKSTART_CFG, ROOT, tiny_dataset, tiny_words, train_tiny

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(config, params path) of a tiny model trained once."""
    root = tmp_path_factory.mktemp("demo")
    cfg = train_tiny(tiny_dataset(root / "data"), root / "out")
    return cfg, str(root / "out" / "shapes_cpu" / "train" / "SNIPER-0001.params")


def test_training_writes_classes_json_and_detector_uses_it(trained, tmp_path):
    cfg, params = trained
    dataset = load_dataset(cfg, "train")
    with open(os.path.join(os.path.dirname(params), CLASSES_FILE)) as f:
        saved = json.load(f)
    assert saved == {"class_names": dataset.class_names, "category_ids": dataset.category_ids}
    detector = Detector(cfg, params)
    assert detector.class_names == dataset.class_names
    found = detector.detect(dataset.records[0].image)
    assert found and {name for name, _, _ in found} <= set(dataset.class_names[1:])
    assert [score for _, score, _ in found] == sorted((score for _, score, _ in found), reverse=True)
    alone = str(tmp_path / "SNIPER-0001.params")  # the same weights without classes.json beside them
    shutil.copy(params, alone)
    assert Detector(cfg, alone).class_names[1:] == ["class %d" % k for k in range(1, 6)]


def test_demo_cli_draws_and_exports_a_network_that_loads_back(trained, tmp_path):
    cfg, params = trained
    image_path = str(tmp_path / "shapes.png")
    image = cv2.imread(load_dataset(cfg, "val").records[0].image)
    cv2.imwrite(image_path, image)  # a png input: the drawing keeps the input's extension
    prefix = str(tmp_path / "export" / "sniper")
    out = tmp_path / "drawn"
    command = [sys.executable, os.path.join(ROOT, "demo.py"), "--cfg", QUICKSTART_CFG, "--im_path", image_path,
               "--out", str(out), "--thresh", "0.1", "--export", prefix, "--set"] + tiny_words(
                   cfg.dataset.dataset_path, cfg.output_path)
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    drawn = cv2.imread(str(out / "shapes_detections.png"))
    assert drawn is not None and drawn.shape == image.shape and not np.array_equal(drawn, image)
    assert sorted(os.listdir(tmp_path)) == ["drawn", "export", "shapes.png"]  # nothing beside the input

    net = mx.gluon.SymbolBlock.imports(prefix + "-symbol.json", ["data0", "data1"], prefix + "-0000.params")
    detector = Detector(cfg, params)
    data = mx.nd.array(np.random.RandomState(0).uniform(-100, 100, (1, 3, 224, 288)))
    im_info = mx.nd.array([[224, 288, 0.7]])
    exported, original = net(data, im_info), detector.net(data, im_info)
    assert len(exported) == len(original) == 4
    for a, b in zip(exported, original):
        np.testing.assert_allclose(a.asnumpy(), b.asnumpy(), rtol=1e-4, atol=1e-4)
