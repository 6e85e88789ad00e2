"""The embedded shapes generator: determinism, exact boxes and masks, size statistics, skip-when-complete
(and regeneration of an older format), loading, CLI."""
import json
import os
from dataclasses import replace

import numpy as np
import pytest
from pycocotools import mask as mask_api

from dataset_helpers import dataset_cfg
from lib.dataset import load_dataset, shapes
from lib.dataset.shapes import (MARKER, ShapesSpec, _Item, _visible_box, ensure_shapes, generate_shapes,
                                render_image)
from lib.dataset.shapes_draw import CLASSES, shape_mask
from lib.dataset.stats import dataset_stats

TINY = ShapesSpec(num_train=3, num_val=2, min_side=96, max_side=160, objects=(2, 6), seed=7)


def _tree(root):
    """{relative path: bytes} of every file under root."""
    out = {}
    for base, _, files in os.walk(root):
        for name in files:
            path = os.path.join(base, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, root)] = f.read()
    return out


def test_same_seed_same_bytes_any_worker_count(tmp_path):
    generate_shapes(str(tmp_path / "a"), TINY, workers=1)
    generate_shapes(str(tmp_path / "b"), TINY, workers=2)
    a, b = _tree(tmp_path / "a"), _tree(tmp_path / "b")
    assert sorted(a) == sorted(b)
    assert len([p for p in a if p.endswith(".jpg")]) == 5
    assert all(a[p] == b[p] for p in a)
    generate_shapes(str(tmp_path / "c"), replace(TINY, seed=8), workers=1)
    c = _tree(tmp_path / "c")
    assert c[os.path.join("annotations", "instances_train.json")] != a[os.path.join("annotations",
                                                                                      "instances_train.json")]


def test_rendered_boxes_are_valid_and_sizes_in_range():
    spec = ShapesSpec(min_side=200, max_side=300, seed=3)
    for index in range(4):
        img, gts = render_image(spec, "val", index)
        h, w = img.shape[:2]
        assert img.dtype == np.uint8 and 200 <= min(h, w) and max(h, w) <= 300
        assert 1 <= len(gts) <= spec.objects[1]
        for cls, (x1, y1, x2, y2), area, _ in gts:
            assert 1 <= cls <= len(CLASSES)
            assert 0 <= x1 <= x2 < w and 0 <= y1 <= y2 < h
            assert 0 < area <= (x2 - x1 + 1) * (y2 - y1 + 1)
            assert max(x2 - x1 + 1, y2 - y1 + 1) <= round(spec.max_object_frac * min(h, w))


def test_visible_box_is_the_exact_extent_of_the_label():
    ids = np.zeros((50, 60), np.int16)
    ids[12:15, 30:41] = 2
    ids[13, 29] = 2
    ids[14, 35:38] = 3  # another object on top
    box, area = _visible_box(ids, _Item(cls=1, size=20, x=25, y=5), label=2)
    assert box == (29, 12, 40, 14)
    assert area == 3 * 11 + 1 - 3
    assert _visible_box(ids, _Item(cls=1, size=5, x=0, y=0), label=2) is None


@pytest.mark.parametrize("kind", list(CLASSES) + ["hexagon", "ellipse", "cross", "half_disc"])
def test_shape_masks_fill_their_square(kind):
    rng = np.random.default_rng(0)
    for size in (8, 33, 200):
        mask = shape_mask(kind, size, rng)
        assert mask.shape == (size, size) and 0 < mask.sum() < size * size
        ys, xs = np.nonzero(mask)
        assert max(xs.max() - xs.min(), ys.max() - ys.min()) + 1 >= 0.5 * size


def test_size_statistics_span_small_to_large(tmp_path):
    spec = ShapesSpec(num_train=16, num_val=1, min_side=300, max_side=400, seed=11)
    generate_shapes(str(tmp_path), spec, workers=1)
    ds = load_dataset(dataset_cfg("shapes", tmp_path, tmp_path, 6), "train")
    stats = dataset_stats(ds)
    pct = stats["sqrt_area_percentiles"]
    assert stats["images"] == 16 and stats["boxes"] >= 16 * 2
    assert pct[5] < 14  # many objects near the 8 px minimum
    assert pct[95] > 90  # and some near 60 % of the shorter side (<= 240 px)
    assert pct[5] < pct[25] < pct[50] < pct[75] < pct[95]
    assert all(n > 0 for n in stats["per_class"].values()) and len(stats["per_class"]) == 5


def test_ensure_skips_complete_dataset_and_regenerates_other_spec(tmp_path):
    out = str(tmp_path)
    assert ensure_shapes(out, TINY, workers=1)
    marker_time = os.path.getmtime(os.path.join(out, MARKER))
    assert not ensure_shapes(out, TINY, workers=1)
    assert not ensure_shapes(out, None)  # any complete dataset is used as is
    assert os.path.getmtime(os.path.join(out, MARKER)) == marker_time
    other = replace(TINY, num_val=1)
    assert ensure_shapes(out, other, workers=1)
    with open(os.path.join(out, "annotations", "instances_val.json")) as f:
        assert len(json.load(f)["images"]) == 1


def test_loaded_through_coco_loader(tmp_path):
    generate_shapes(str(tmp_path), TINY, workers=1)
    ds = load_dataset(dataset_cfg("shapes", tmp_path, tmp_path, 6), "val", verify_images=True, with_masks=True)
    assert ds.name == "shapes_val" and len(ds.records) == 2
    assert ds.class_names == ["__background__"] + list(CLASSES)
    assert ds.annotation_file == os.path.join(str(tmp_path), "annotations", "instances_val.json")
    for record in ds.records:
        for box, segm in zip(record.boxes, record.segms):
            x, y, w, h = mask_api.toBbox(segm)
            np.testing.assert_array_equal(box, [x, y, x + w - 1, y + h - 1])


def _painted_shapes(monkeypatch):
    """Record, for every item `render_image` paints, its class and its own full-image shape mask (before any
    later item covers it), in painting order; the drawing's random stream is untouched."""
    painted, last_mask = [], []
    real_mask, real_paint = shapes.shape_mask, shapes._paint

    def mask_spy(kind, size, rng):
        last_mask[:] = [real_mask(kind, size, rng)]
        return last_mask[0]

    def paint_spy(img, ids, item, label, rng):
        real_paint(img, ids, item, label, rng)
        own = np.zeros(ids.shape, bool)
        own[item.y:item.y + item.size, item.x:item.x + item.size] = last_mask[0].astype(bool)
        painted.append((item.cls, own))

    monkeypatch.setattr(shapes, "shape_mask", mask_spy)
    monkeypatch.setattr(shapes, "_paint", paint_spy)
    return painted


def test_masks_are_the_visible_pixels_of_each_object(monkeypatch):
    """Re-render with the painting recorded: an object's mask is its own shape minus every shape painted
    after it (objects and distractors); distractors get no annotation; box and area are the mask's."""
    spec = ShapesSpec(min_side=200, max_side=300, objects=(8, 15), distractors=(3, 6), max_overlap=0.6, seed=5)
    occluded = 0
    for index in range(3):
        plain_img, plain_gts = render_image(spec, "train", index)
        painted = _painted_shapes(monkeypatch)
        img, gts = render_image(spec, "train", index)
        monkeypatch.undo()
        assert (img == plain_img).all() and [g[:3] for g in gts] == [g[:3] for g in plain_gts]
        expected = []
        for k, (cls, own) in enumerate(painted):
            later = np.zeros_like(own)
            for _, other in painted[k + 1:]:
                later |= other
            visible = own & ~later
            if cls and visible.any():
                expected.append((cls, visible))
                occluded += int(visible.sum() < own.sum())
        assert [g[0] for g in gts] == [cls for cls, _ in expected]
        for (cls, (x1, y1, x2, y2), area, rle), (_, visible) in zip(gts, expected):
            np.testing.assert_array_equal(mask_api.decode(rle).astype(bool), visible)
            assert area == visible.sum() == mask_api.area(rle)
            assert list(mask_api.toBbox(rle)) == [x1, y1, x2 - x1 + 1, y2 - y1 + 1]
    assert occluded >= 3  # the case that matters happened


def test_older_format_is_regenerated_with_the_same_images(tmp_path):
    out = str(tmp_path)
    generate_shapes(out, TINY, workers=1)
    before = _tree(tmp_path)
    with open(os.path.join(out, MARKER)) as f:
        marker = json.load(f)
    marker.pop("format")
    with open(os.path.join(out, MARKER), "w") as f:
        json.dump(marker, f)  # as version 1 wrote it
    for name in ("train", "val"):
        path = os.path.join(out, "annotations", "instances_%s.json" % name)
        with open(path) as f:
            data = json.load(f)
        for ann in data["annotations"]:
            ann.pop("segmentation")
        with open(path, "w") as f:
            json.dump(data, f)
    assert not shapes.is_complete(out) and not shapes.is_complete(out, TINY)
    assert ensure_shapes(out, TINY, workers=1)
    assert _tree(tmp_path) == before


def test_make_shapes_script_prints_statistics(tmp_path, capsys):
    from scripts.make_shapes import main
    generate_shapes(str(tmp_path), TINY, workers=1)
    cfg = os.path.join(os.path.dirname(os.path.dirname(__file__)), "configs", "quickstart", "shapes_cpu.yml")
    assert main(["--cfg", cfg, "--set", "dataset.dataset_path", str(tmp_path), "dataset.root_path",
                 str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "is complete, not regenerated" in out
    assert "shapes_train: 3 images" in out and "shapes_val: 2 images" in out
    assert "box sqrt(area) px: p5" in out and "per class: disc" in out
