"""COCO evaluation of a results json (reference §7.5): the 12 COCOeval numbers and per-class AP.

`evaluate_detections` is the tester's last step: write the results json; if the dataset has annotations, run
COCOeval (bbox), log the summary table and per-class AP, and save them next to the results as
`detections_<image set>_metrics.json`; without annotations (test-dev style) only the json is written.
"""
import contextlib
import io
import logging
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lib.inference.coco_results import results_file, write_coco_results
from lib.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)

METRIC_NAMES = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm", "ARl")
_METRIC_LABELS = ("AP @[IoU=0.50:0.95 | area=all | maxDets=100]", "AP @[IoU=0.50 | area=all | maxDets=100]",
                  "AP @[IoU=0.75 | area=all | maxDets=100]", "AP @[IoU=0.50:0.95 | area=small | maxDets=100]",
                  "AP @[IoU=0.50:0.95 | area=medium | maxDets=100]", "AP @[IoU=0.50:0.95 | area=large | maxDets=100]",
                  "AR @[IoU=0.50:0.95 | area=all | maxDets=1]", "AR @[IoU=0.50:0.95 | area=all | maxDets=10]",
                  "AR @[IoU=0.50:0.95 | area=all | maxDets=100]", "AR @[IoU=0.50:0.95 | area=small | maxDets=100]",
                  "AR @[IoU=0.50:0.95 | area=medium | maxDets=100]", "AR @[IoU=0.50:0.95 | area=large | maxDets=100]")


def _quiet(fn, *args):
    """Call a pycocotools function, sending its prints to the debug log instead of stdout."""
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        out = fn(*args)
    log.debug(buffer.getvalue())
    return out


def _load_results(coco_gt, results):
    """COCO object of the detections (ValueError for image ids the gts lack); an empty list, which `loadRes`
    rejects, gives an empty COCO so that COCOeval reports 0 (or -1 where there are no gts)."""
    unknown = {r["image_id"] for r in results} - set(coco_gt.getImgIds())
    if unknown:
        raise ValueError("detections for %d image ids that are not in the annotation file, e.g. %r"
                         % (len(unknown), sorted(unknown, key=str)[0]))
    if results:
        return _quiet(coco_gt.loadRes, results)
    coco_dt = COCO()
    coco_dt.dataset = {"images": list(coco_gt.dataset["images"]), "categories": list(coco_gt.dataset["categories"]),
                       "annotations": []}
    _quiet(coco_dt.createIndex)
    return coco_dt


def _per_class_ap(coco_eval, class_names, category_ids):
    """{class name: AP @[.5:.95], all areas, maxDets 100} (-1 for a class without gts).

    COCOeval sorts params.catIds, so a class's column is found through its category id.
    """
    precision = coco_eval.eval["precision"]  # (T iou, R recall, K classes, A areas, M maxDets)
    column = {cat: k for k, cat in enumerate(coco_eval.params.catIds)}
    out = {}
    for name, cat in zip(class_names, category_ids):
        p = precision[:, :, column[cat], 0, -1]
        out[name] = float(np.mean(p[p > -1])) if np.any(p > -1) else -1.0
    return out


def coco_evaluate(results, annotation_file, class_names, category_ids):
    """COCOeval (bbox) of result dicts against a COCO gt json.

    class_names, category_ids: the dataset's, indexed by contiguous id (entry 0 = background, skipped).
    Returns {"metrics": {name: value} for METRIC_NAMES, "per_class_ap": {class name: AP}}; values are -1 where
    COCO defines nothing (no gts in an area range).
    """
    coco_gt = _quiet(COCO, annotation_file)
    coco_eval = COCOeval(coco_gt, _load_results(coco_gt, results), "bbox")
    coco_eval.params.catIds = list(category_ids[1:])
    for step in (coco_eval.evaluate, coco_eval.accumulate, coco_eval.summarize):
        _quiet(step)
    metrics = {name: float(v) for name, v in zip(METRIC_NAMES, coco_eval.stats)}
    return {"metrics": metrics, "per_class_ap": _per_class_ap(coco_eval, class_names[1:], category_ids[1:])}


def format_summary(evaluation):
    """The 12 numbers and per-class AP as a readable multi-line table."""
    lines = ["%-6s %-50s %7.4f" % (name, label, evaluation["metrics"][name])
             for name, label in zip(METRIC_NAMES, _METRIC_LABELS)]
    lines.append("per-class AP @[IoU=0.50:0.95]:")
    lines += ["  %-30s %7.4f" % (name, ap) for name, ap in evaluation["per_class_ap"].items()]
    return "\n".join(lines)


def evaluate_detections(detections, dataset, results_dir, image_set):
    """Write `<results_dir>/detections_<image_set>_results.json`; evaluate it when the dataset has annotations.

    detections: dets[image][cls] (n, 5) in dataset.records order. Returns the evaluation dict (see
    `coco_evaluate`), or None for a set without annotations.
    """
    path = results_file(results_dir, image_set)
    results = write_coco_results(path, detections, dataset)
    if dataset.annotation_file is None:
        log.info("%s has no annotations: no evaluation; results for the evaluation server are in %s",
                 dataset.name, path)
        return None
    evaluation = coco_evaluate(results, dataset.annotation_file, dataset.class_names,
                               dataset.category_ids)
    log.info("COCO bbox evaluation of %s:\n%s", dataset.name, format_summary(evaluation))
    metrics_path = os.path.join(results_dir, "detections_%s_metrics.json" % image_set)
    atomic_write_json(metrics_path, evaluation, indent=2)
    log.info("metrics saved to %s", metrics_path)
    return evaluation

