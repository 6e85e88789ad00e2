"""COCO-format json files: atomic, byte-deterministic writing; reading with clear errors; merging sets."""
import json
import os

from lib.dataset.errors import DatasetError
from lib.utils.atomic import atomic_write_json


def write_json_atomic(obj, path):
    """Write `obj` atomically as compact json with sorted keys (same obj -> same bytes)."""
    atomic_write_json(path, obj, sort_keys=True, separators=(",", ":"))


def read_json(path):
    """The parsed json at `path`; DatasetError naming the file when missing or malformed."""
    if not os.path.isfile(path):
        raise DatasetError("annotation file not found: %s" % path)
    try:
        with open(path) as f:
            return json.load(f)
    except (ValueError, UnicodeDecodeError) as e:
        raise DatasetError("annotation file %s: malformed json (%s)" % (path, e)) from None


def merge_coco_files(paths, out_path):
    """Merge COCO jsons of several image sets into `out_path` (for COCOeval on a `+`-joined set).

    The sets must share their categories and have distinct image ids; annotations are renumbered 1..N.
    """
    merged = {"images": [], "annotations": [], "categories": None}
    seen = set()
    for path in paths:
        data = read_json(path)
        if merged["categories"] is None:
            merged["categories"] = data.get("categories", [])
        elif data.get("categories", []) != merged["categories"]:
            raise DatasetError("annotation file %s: categories differ from %s" % (path, paths[0]))
        ids = {im["id"] for im in data.get("images", [])}
        if ids & seen:
            raise DatasetError("annotation file %s: image ids also used by another merged set, e.g. %r"
                               % (path, sorted(ids & seen, key=str)[0]))
        seen |= ids
        merged["images"] += data.get("images", [])
        merged["annotations"] += data.get("annotations", [])
    for i, ann in enumerate(merged["annotations"]):
        ann["id"] = i + 1
    write_json_atomic(merged, out_path)
    return out_path
