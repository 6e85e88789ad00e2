"""The deepforest wheel's tree images converted to the COCO layout (skipped when the wheel is absent)."""
import glob
import os

import numpy as np
import pytest

from dataset_helpers import dataset_cfg
from lib.dataset import load_dataset
from lib.dataset.deepforest import SPLITS, WHEEL_GLOB, convert_deepforest, ensure_deepforest, find_wheel
from lib.dataset.errors import DatasetError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEEL_DIR = os.path.join(ROOT, "data", "cache", "wheels")
WHEELS = glob.glob(os.path.join(WHEEL_DIR, WHEEL_GLOB))
needs_wheel = pytest.mark.skipif(not WHEELS, reason="deepforest wheel not in data/cache/wheels (run `make setup`)")


def test_missing_wheel_says_how_to_get_it(tmp_path):
    with pytest.raises(DatasetError, match=r"deepforest wheel .* not found in .*make setup.*pip download"):
        find_wheel(str(tmp_path))
    with pytest.raises(DatasetError, match="not found"):
        ensure_deepforest(str(tmp_path / "out"), str(tmp_path))


def test_corrupt_wheel_is_an_error_naming_it(tmp_path):
    bad = tmp_path / "deepforest-2.1.0-py3-none-any.whl"
    bad.write_bytes(b"not a zip")
    with pytest.raises(DatasetError, match=r"deepforest-2\.1\.0-py3-none-any\.whl: cannot be opened"):
        convert_deepforest(str(bad), str(tmp_path / "out"))


@needs_wheel
def test_conversion_split_and_boxes(tmp_path):
    out = tmp_path / "deepforest"
    assert ensure_deepforest(str(out), WHEEL_DIR)
    assert not ensure_deepforest(str(out), WHEEL_DIR)
    cfg = dataset_cfg("deepforest", out, tmp_path, 2)
    counts = {}
    for split, stems in SPLITS.items():
        ds = load_dataset(cfg, split, verify_images=True)
        assert ds.class_names == ["__background__", "tree"]
        assert [os.path.basename(r.image) for r in ds.records] == [s + ".png" for s in stems]
        for r in ds.records:
            assert len(r.boxes) > 30 and set(r.classes.tolist()) == {1}
            assert r.boxes[:, 0].min() >= 0 and r.boxes[:, 2].max() <= r.width - 1
            assert r.boxes[:, 1].min() >= 0 and r.boxes[:, 3].max() <= r.height - 1
            assert np.all(r.boxes[:, 2:] > r.boxes[:, :2])
        counts[split] = sum(len(r.boxes) for r in ds.records)
    assert counts == {"train": 574 + 37, "val": 279 + 61}
