"""demo.py on a folder: one picture per image and one json into --out, nothing beside the inputs; non-image files
counted, an unreadable image named and skipped (exit 2 at the end), refused output folders."""
import json
import os

import cv2
import numpy as np
import pytest

import demo
from lib.dataset import load_dataset
from train_helpers import QUICKSTART_CFG, tiny_dataset, tiny_words, train_tiny

pytestmark = pytest.mark.slow
# the factor form of TEST.SCALES (x1.0, long side 256 px) runs through the Detector here
FACTOR_SCALES = ["TEST.SCALES", "(1.0, 256.0)", "TEST.BATCH_IMAGES", "(1, 1)"]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(config, --set words) of a tiny model trained once."""
    root = tmp_path_factory.mktemp("demo_folder")
    cfg = train_tiny(tiny_dataset(root / "data"), root / "out")
    return cfg, tiny_words(cfg.dataset.dataset_path, cfg.output_path) + FACTOR_SCALES


def _listing(folder):
    """{name: (size, mtime_ns)} of every entry under `folder`, recursively."""
    out = {}
    for base, _, names in os.walk(folder):
        for name in names:
            path = os.path.join(base, name)
            out[os.path.relpath(path, folder)] = (os.path.getsize(path), os.stat(path).st_mtime_ns)
    return out


def _inputs(cfg, folder):
    """A folder with two small images (png, jpg) of the val set, a text file and a subfolder."""
    os.makedirs(os.path.join(folder, "sub"))
    records = load_dataset(cfg, "val").records
    for record, name in zip(records, ("first.png", "second.JPG")):
        cv2.imwrite(os.path.join(folder, name), cv2.resize(cv2.imread(record.image), (210, 160)))
    with open(os.path.join(folder, "notes.txt"), "w") as f:
        f.write("not an image\n")
    return folder


def _demo(argv, capsys, caplog):
    """Run demo.main in this process -> (exit code, log lines + stderr)."""
    caplog.clear()
    with caplog.at_level("INFO"):
        try:
            demo.main(argv)
            code = 0
        except SystemExit as done:
            code = done.code
    return code, caplog.text + capsys.readouterr().err


def test_folder_writes_pictures_and_json_into_out_only(trained, tmp_path, capsys, caplog):
    cfg, words = trained
    inputs = _inputs(cfg, str(tmp_path / "images"))
    before = _listing(inputs)
    out = tmp_path / "result"
    code, err = _demo(["--cfg", QUICKSTART_CFG, "--im_path", inputs, "--out", str(out), "--thresh", "0.05",
                       "--set"] + words, capsys, caplog)
    assert code == 0, err[-2000:]
    assert _listing(inputs) == before  # the input folder is unchanged, byte sizes and times
    assert sorted(os.listdir(out)) == ["first_detections.png", "images_detections.json", "second_detections.JPG"]
    for name, source in (("first_detections.png", "first.png"), ("second_detections.JPG", "second.JPG")):
        drawn, original = cv2.imread(str(out / name)), cv2.imread(os.path.join(inputs, source))
        assert drawn.shape == original.shape == (160, 210, 3)
    with open(out / "images_detections.json") as f:
        saved = json.load(f)
    assert saved["images"] == [{"id": 1, "file_name": "first.png", "width": 210, "height": 160},
                               {"id": 2, "file_name": "second.JPG", "width": 210, "height": 160}]
    dataset = load_dataset(cfg, "train")
    assert saved["categories"] == [{"id": c, "name": n} for n, c in zip(dataset.class_names[1:],
                                                                          dataset.category_ids[1:])]
    results = saved["results"]
    assert results and {r["image_id"] for r in results} <= {1, 2}
    assert set(results[0]) == {"image_id", "category_id", "bbox", "score"}
    assert {r["category_id"] for r in results} <= set(dataset.category_ids[1:])
    for r in results:  # inside the image (the tester clips; x2 may reach W - 1 + 0.5 / s, so allow 1 px)
        x, y, w, h = r["bbox"]
        assert x >= 0 and y >= 0 and x + w <= 210 + 1 and y + h <= 160 + 1 and w > 0 and h > 0
    assert "skipped 1 non-image file(s) and 1 subfolder(s)" in err


def test_default_output_folder_is_the_configs(trained, tmp_path, capsys, caplog):
    cfg, words = trained
    inputs = _inputs(cfg, str(tmp_path / "images"))
    before = _listing(inputs)
    code, err = _demo(["--cfg", QUICKSTART_CFG, "--im_path", os.path.join(inputs, "first.png"), "--thresh", "1.01",
                       "--set"] + words, capsys, caplog)
    assert code == 0, err[-2000:]
    assert "0 detections >= 1.01 drawn" in err and "no detection scored >= 1.01 (the best: 0." in err
    out = os.path.join(cfg.output_path, "shapes_cpu", "demo")
    assert sorted(os.listdir(out)) == ["first_detections.json", "first_detections.png"]
    assert _listing(inputs) == before


def _truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


def test_an_unreadable_image_is_named_and_the_others_processed(trained, tmp_path, capsys, caplog):
    cfg, words = trained
    inputs = _inputs(cfg, str(tmp_path / "images"))
    cv2.imwrite(os.path.join(inputs, "broken.jpg"), np.full((50, 60, 3), 128, np.uint8))
    _truncate(os.path.join(inputs, "broken.jpg"))
    out = tmp_path / "result"
    code, err = _demo(["--cfg", QUICKSTART_CFG, "--im_path", inputs, "--out", str(out), "--set"] + words,
                      capsys, caplog)
    assert code == 2
    broken = os.path.join(inputs, "broken.jpg")
    named = [line for line in err.splitlines() if broken in line]
    assert len(named) == 1 and "truncated JPEG" in named[0]
    last = err.strip().splitlines()[-1]
    assert last == "error: 1 image(s) could not be read (named above), the others were processed"
    assert sorted(os.listdir(out)) == ["first_detections.png", "images_detections.json", "second_detections.JPG"]
    with open(out / "images_detections.json") as f:
        assert [im["file_name"] for im in json.load(f)["images"]] == ["first.png", "second.JPG"]


@pytest.mark.parametrize("out_name, message", [
    ("images", "holds the input images"),
    ("drawn.png", "a folder is expected"),
])
def test_refused_output_folders(trained, tmp_path, capsys, caplog, out_name, message):
    cfg, words = trained
    inputs = _inputs(cfg, str(tmp_path / "images"))
    before = _listing(inputs)
    code, err = _demo(["--cfg", QUICKSTART_CFG, "--im_path", inputs, "--out", str(tmp_path / out_name), "--set"]
                      + words, capsys, caplog)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: --out ") and message in err
    assert _listing(inputs) == before and not os.path.exists(tmp_path / "drawn.png")


def test_a_folder_without_images_is_one_line(trained, tmp_path, capsys, caplog):
    cfg, words = trained
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("x")
    code, err = _demo(["--cfg", QUICKSTART_CFG, "--im_path", str(empty), "--set"] + words, capsys, caplog)
    assert code == 2 and err.strip().splitlines()[-1].startswith("error: --im_path %s: no image files" % empty)
