"""Proposals file: save -> load with NMS at 0.7 -> attached to records; the NMS cache; clear errors."""
import hashlib
import os
import pickle

import numpy as np
import pytest

from lib.dataset.errors import DatasetError
from lib.dataset.proposals import load_proposals, nms_cache_file, proposal_file, save_proposals
from lib.dataset.roidb import ImageRecord, flip_record


def _records(n):
    return [ImageRecord(image="%d.jpg" % i, width=100, height=100, boxes=np.zeros((0, 4)), classes=[])
            for i in range(n)]


def _props():
    # image 0: b overlaps a with IoU 80/100 = 0.8 (suppressed), c with IoU 0.7 exactly (kept, ovr <= 0.7).
    a, b, c = [0, 0, 9, 9, 0.9], [0, 0, 9, 7, 0.8], [0, 0, 9, 6, 0.5]
    return [np.array([b, a, c, [50, 50, 60, 60, 0.0]], np.float32), np.zeros((0, 5), np.float32)]


def test_file_name():
    assert proposal_file("data/proposals", "shapes_train") == os.path.join("data/proposals", "shapes_train_rpn.pkl")
    assert nms_cache_file("p/shapes_train_rpn.pkl") == "p/shapes_train_rpn_after_nms.pkl"


def test_round_trip_with_nms(tmp_path):
    path = proposal_file(str(tmp_path), "shapes_train")
    save_proposals(path, _props())
    with open(path, "rb") as f:
        raw = pickle.load(f)
    assert len(raw) == 2 and raw[0].dtype == np.float32 and raw[0].shape == (4, 5)
    records = load_proposals(path, _records(2))
    np.testing.assert_array_equal(records[0].proposals, [[0, 0, 9, 9], [0, 0, 9, 6], [50, 50, 60, 60]])
    np.testing.assert_allclose(records[0].proposal_scores, [0.9, 0.5, 0.0])
    assert records[0].proposals.dtype == np.float32 and records[1].proposals.shape == (0, 4)
    assert os.path.isfile(nms_cache_file(path))
    flipped = flip_record(records[0])  # flipping afterwards mirrors the attached proposals
    np.testing.assert_array_equal(flipped.proposals[0], [90, 0, 99, 9])


def test_cache_reused_while_the_content_is_the_same(tmp_path):
    path = proposal_file(str(tmp_path), "set")
    save_proposals(path, _props())
    load_proposals(path, _records(2))
    cache = nms_cache_file(path)
    marker = [np.array([[1, 2, 3, 4, 0.5]], np.float32), np.zeros((0, 5), np.float32)]
    with open(path, "rb") as f:
        source_sha1 = hashlib.sha1(f.read()).hexdigest()
    with open(cache, "wb") as f:  # a cache made from these bytes is used as is, whatever its time stamp
        pickle.dump({"source_sha1": source_sha1, "proposals": marker}, f)
    os.utime(cache, (os.path.getmtime(path) - 10,) * 2)
    np.testing.assert_array_equal(load_proposals(path, _records(2))[0].proposals, [[1, 2, 3, 4]])
    with open(cache, "wb") as f:  # the cache of other bytes (or of the old format, a bare list): rebuilt
        pickle.dump(marker, f)
    assert len(load_proposals(path, _records(2))[0].proposals) == 3


def test_missing_file_and_count_mismatch(tmp_path):
    path = proposal_file(str(tmp_path), "set")
    with pytest.raises(DatasetError, match="not found: .*set_rpn.pkl.*train_neg_props_and_sniper.sh"):
        load_proposals(path, _records(2))
    save_proposals(path, _props())
    with pytest.raises(DatasetError, match="has 2 images but the dataset has 3.*EXTRACT_PROPOSALS"):
        load_proposals(path, _records(3))


def test_bad_contents_and_flipped_records(tmp_path):
    path = str(tmp_path / "bad_rpn.pkl")
    with open(path, "wb") as f:
        pickle.dump([np.zeros((3, 4))], f)
    with pytest.raises(DatasetError, match="bad_rpn.pkl: image 0 has shape"):
        load_proposals(path, _records(1))
    with open(path, "wb") as f:
        f.write(b"not a pickle")
    with pytest.raises(DatasetError, match="not a proposals pickle"):
        load_proposals(path, _records(1))
    good = str(tmp_path / "good_rpn.pkl")
    save_proposals(good, _props())
    records = _records(2)
    records[1] = flip_record(records[1])
    with pytest.raises(DatasetError, match="before adding flipped"):
        load_proposals(good, records)
