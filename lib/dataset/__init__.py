"""Datasets: `load_dataset(cfg, image_set)` -> a roidb `Dataset` for 'coco', 'PascalVOC', 'shapes', 'deepforest'.

`image_set` may join several sets with `+` (e.g. "train2014+val2014"); they are merged into one Dataset.
'shapes' and 'deepforest' write their data on first use and are then read through the COCO loader.
"""
import os

from lib.dataset.coco import load_coco_set
from lib.dataset.coco_json import merge_coco_files
from lib.dataset.deepforest import ensure_deepforest
from lib.dataset.errors import DatasetError
from lib.dataset.pascal_voc import check_num_classes, load_pascal_voc, voc_class_names
from lib.dataset.roidb import Dataset, ImageRecord, no_masks_error
from lib.dataset.shapes import ensure_shapes

DATASETS = ("coco", "PascalVOC", "shapes", "deepforest")

__all__ = ["load_dataset", "merge_datasets", "Dataset", "ImageRecord", "DatasetError", "DATASETS"]


def _load_set(cfg, image_set, verify_images, voc_classes=None):
    """One image set (no `+`) of the configured dataset; voc_classes: PascalVOC's object class names."""
    kind, path = cfg.dataset.dataset, cfg.dataset.dataset_path
    if kind == "coco":
        return load_coco_set(path, image_set, "COCO_" + image_set, verify_images)
    if kind == "PascalVOC":
        return load_pascal_voc(path, image_set, os.path.join(cfg.dataset.root_path, "cache"), verify_images,
                               voc_classes)
    if kind == "shapes":
        ensure_shapes(path)
        return load_coco_set(path, image_set, "shapes_" + image_set, verify_images)
    if kind == "deepforest":
        ensure_deepforest(path, os.path.join(cfg.dataset.root_path, "cache", "wheels"))
        return load_coco_set(path, image_set, "deepforest_" + image_set, verify_images)
    raise DatasetError("config key dataset.dataset: unknown dataset %r (expected one of %s)"
                       % (kind, ", ".join(DATASETS)))


def check_same_classes(parts):
    """DatasetError naming two of the loaded sets `parts` whose class names differ ("+"-joined sets must share
    their classes: a class id means one class in every set)."""
    first = parts[0]
    for part in parts[1:]:
        if part.class_names != first.class_names:
            raise DatasetError("cannot join %s and %s: their classes differ (%s vs %s)"
                               % (first.name, part.name, ", ".join(first.class_names[1:]),
                                  ", ".join(part.class_names[1:])))


def merge_datasets(parts, cache_dir):
    """Concatenate the records of several loaded sets (same classes) into one Dataset named "a+b".

    Its annotation_file is a merged COCO json in `cache_dir` when every part has one, else None.
    """
    check_same_classes(parts)
    first = parts[0]
    name = "+".join(p.name for p in parts)
    files = [p.annotation_file for p in parts]
    merged_file = merge_coco_files(files, os.path.join(cache_dir, name + "_gt.json")) if all(files) else None
    return Dataset(name=name, records=[r for p in parts for r in p.records], class_names=list(first.class_names),
                   category_ids=list(first.category_ids), annotation_file=merged_file)


def _voc_classes(cfg):
    """PascalVOC: the class names of dataset.CLASSES, checked against dataset.NUM_CLASSES; else None (the key
    must then be empty: the other loaders take the names from their json)."""
    setting = cfg.dataset.CLASSES
    if cfg.dataset.dataset != "PascalVOC":
        if setting.strip():
            raise DatasetError("config key dataset.CLASSES is read by the PascalVOC loader only (dataset.dataset "
                               "%s takes the class names from its annotation json)" % cfg.dataset.dataset)
        return None
    names = voc_class_names(setting, cfg.dataset.dataset_path, cfg.dataset.image_set)
    check_num_classes(names, cfg.dataset.NUM_CLASSES, setting)
    return names


def load_dataset(cfg, image_set, verify_images=False, with_masks=False, match_num_classes=True):
    """The Dataset of `image_set` ("+"-joined sets merged) of cfg.dataset.dataset under cfg.dataset.dataset_path.

    verify_images: decode every image and check its size (slow; by default only existence is checked).
    with_masks: every set must carry instance masks (a mask head trains or tests on it).
    match_num_classes: False skips the NUM_CLASSES check (scripts/chip_stats.py --write-config sets the key).
    Raises DatasetError when cfg.dataset.NUM_CLASSES differs from the dataset's classes + background, or
    naming the first set without masks when `with_masks`.
    """
    sets = [s for s in str(image_set).split("+") if s]
    if not sets:
        raise DatasetError("empty image set %r" % image_set)
    voc_classes = _voc_classes(cfg)
    parts = [_load_set(cfg, s, verify_images, voc_classes) for s in sets]
    if with_masks and not all(p.has_masks for p in parts):
        raise no_masks_error(next(p for p in parts if not p.has_masks))
    dataset = parts[0] if len(parts) == 1 else merge_datasets(parts, os.path.join(cfg.dataset.root_path, "cache"))
    if match_num_classes and dataset.num_classes != cfg.dataset.NUM_CLASSES:
        raise DatasetError("config key dataset.NUM_CLASSES is %d but %s has %d classes + background = %d"
                           % (cfg.dataset.NUM_CLASSES, dataset.name, dataset.num_classes - 1, dataset.num_classes))
    return dataset
