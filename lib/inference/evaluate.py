"""Evaluation of the final detections: COCOeval's 12 numbers and per-class AP, and for VOC the VOC AP too.

`evaluate_detections` is the tester's last step: write the results json; if the dataset has annotations, run
COCOeval (bbox), log the summary table and per-class AP, and save them next to the results as
`detections_<image set>_metrics.json`; without annotations (test-dev style) only the json is written. COCOeval's
maxDets are (1, 10, TEST.EVAL_MAX_DETS): COCO's (1, 10, 100) by default, as the paper's numbers (its configs cap
the tester at 200 per image); a dense scene raises the last one to its TEST.MAX_PER_IMAGE. The table and the
metrics name it ("AR300", key "max_dets"). A Pascal
VOC set also gets its VOC results files and the VOC AP (`voc_evaluate`), under the key "voc" of the metrics.
"""
import contextlib
import io
import logging
import os

import numpy as np
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval

from lib.dataset.pascal_voc import split_image_set, voc_eval_gts
from lib.inference.coco_results import results_file, write_coco_results
from lib.inference.voc_eval import AP_MODES, class_ap
from lib.inference.voc_results import class_lines, parse_lines, results_template, write_lines
from lib.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)

COCO_MAX_DETS = (1, 10, 100)  # pycocotools' default COCOeval params.maxDets


def max_dets_for(eval_max_dets):
    """COCOeval's maxDets with the last one set by TEST.EVAL_MAX_DETS: (1, 10, N); N = 100 is COCO's own."""
    if int(eval_max_dets) <= COCO_MAX_DETS[1]:
        raise ValueError("TEST.EVAL_MAX_DETS must be above %d, got %r" % (COCO_MAX_DETS[1], eval_max_dets))
    return COCO_MAX_DETS[:2] + (int(eval_max_dets),)


def metric_names(max_dets=COCO_MAX_DETS):
    """The 12 summary names; the recall at the last maxDets is "AR<last>" (AR100 with COCO's defaults)."""
    return ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR%d" % max_dets[0], "AR%d" % max_dets[1],
            "AR%d" % max_dets[2], "ARs", "ARm", "ARl")


def metric_labels(max_dets=COCO_MAX_DETS):
    """COCOeval's description of each of the 12 numbers, with the maxDets used."""
    last = max_dets[2]
    ap = "AP @[IoU=%s | area=%s | maxDets=%d]"
    ar = "AR @[IoU=0.50:0.95 | area=%s | maxDets=%d]"
    return (ap % ("0.50:0.95", "all", last), ap % ("0.50", "all", last), ap % ("0.75", "all", last),
            ap % ("0.50:0.95", "small", last), ap % ("0.50:0.95", "medium", last),
            ap % ("0.50:0.95", "large", last), ar % ("all", max_dets[0]), ar % ("all", max_dets[1]),
            ar % ("all", last), ar % ("small", last), ar % ("medium", last), ar % ("large", last))


METRIC_NAMES = metric_names()


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
    """{class name: AP @[.5:.95], all areas, the last maxDets} (-1 for a class without gts).

    COCOeval sorts params.catIds, so a class's column is found through its category id.
    """
    precision = coco_eval.eval["precision"]  # (T iou, R recall, K classes, A areas, M maxDets)
    column = {cat: k for k, cat in enumerate(coco_eval.params.catIds)}
    out = {}
    for name, cat in zip(class_names, category_ids):
        p = precision[:, :, column[cat], 0, -1]
        out[name] = float(np.mean(p[p > -1])) if np.any(p > -1) else -1.0
    return out


def _mean_defined(values):
    """Mean of the entries > -1 (COCOeval's "undefined" marker), -1 when there is none."""
    defined = values[values > -1]
    return float(np.mean(defined)) if defined.size else -1.0


def summary_stats(coco_eval):
    """The 12 numbers of COCOeval.summarize() at the evaluator's own params.maxDets (m1, m2, M).

    AP at maxDets M (all areas, IoU .50:.95 / .50 / .75; small, medium, large), AR at m1, m2, M (all areas),
    AR at M (small, medium, large). COCOeval.summarize() reads its first AP at a hard-coded maxDets of 100, which
    is -1 once the last maxDets is not 100; this reads every number at the params' own maxDets, which gives
    summarize()'s numbers with the default (1, 10, 100) (tests/test_eval_maxdets.py).
    """
    p = coco_eval.params
    precision = coco_eval.eval["precision"]  # (T iou, R recall, K classes, A areas, M maxDets)
    recall = coco_eval.eval["recall"]  # (T, K, A, M)
    area = {label: i for i, label in enumerate(p.areaRngLbl)}
    iou50, iou75 = np.where(p.iouThrs == 0.5)[0], np.where(p.iouThrs == 0.75)[0]

    def ap(a, iou=slice(None)):
        return _mean_defined(precision[iou, :, :, area[a], -1])

    def ar(a, m=-1):
        return _mean_defined(recall[:, :, area[a], m])

    return [ap("all"), ap("all", iou50), ap("all", iou75), ap("small"), ap("medium"), ap("large"),
            ar("all", 0), ar("all", 1), ar("all"), ar("small"), ar("medium"), ar("large")]


def coco_evaluate(results, annotation_file, class_names, category_ids, *, max_dets=COCO_MAX_DETS, iou_type="bbox"):
    """COCOeval (iou_type "bbox", or "segm" for the results' masks) of result dicts against a COCO gt json.

    class_names, category_ids: the dataset's, indexed by contiguous id (entry 0 = background, skipped).
    max_dets: COCOeval's maxDets, three increasing counts (`max_dets_for(TEST.EVAL_MAX_DETS)`).
    A "segm" evaluation drops the results' boxes, so that pycocotools takes each detection's area from its mask.
    Returns {"metrics": {name: value} for `metric_names(max_dets)`, "max_dets": [m1, m2, M], "iou_type",
    "per_class_ap": {class name: AP at maxDets M}}; values are -1 where COCO defines nothing (no gts in an area
    range).
    """
    coco_gt = _quiet(COCO, annotation_file)
    if iou_type == "segm":
        results = [{k: v for k, v in r.items() if k != "bbox"} for r in results]
    coco_eval = COCOeval(coco_gt, _load_results(coco_gt, results), iou_type)
    coco_eval.params.catIds = list(category_ids[1:])
    coco_eval.params.maxDets = [int(m) for m in max_dets]
    for step in (coco_eval.evaluate, coco_eval.accumulate):
        _quiet(step)
    metrics = dict(zip(metric_names(max_dets), summary_stats(coco_eval)))
    return {"metrics": metrics, "max_dets": list(coco_eval.params.maxDets), "iou_type": iou_type,
            "per_class_ap": _per_class_ap(coco_eval, class_names[1:], category_ids[1:])}


def format_summary(evaluation):
    """The 12 numbers (labelled with the maxDets used) and per-class AP as a readable multi-line table."""
    max_dets = tuple(evaluation.get("max_dets", COCO_MAX_DETS))
    lines = ["COCO %s AP (pycocotools COCOeval, maxDets %s):" % (evaluation.get("iou_type", "bbox"),
                                                                ", ".join(map(str, max_dets)))]
    lines += ["%-6s %-50s %7.4f" % (name, label, evaluation["metrics"][name])
              for name, label in zip(metric_names(max_dets), metric_labels(max_dets))]
    lines.append("per-class AP @[IoU=0.50:0.95 | maxDets=%d]:" % max_dets[2])
    lines += ["  %-30s %7.4f" % (name, ap) for name, ap in evaluation["per_class_ap"].items()]
    return "\n".join(lines)


VOC_IOU_THRESHOLDS = (0.5, 0.7)  # the original's do_python_eval reports mAP at both


def _voc_key(thresh, mode):
    return "AP%d_%s" % (round(thresh * 100), mode)


def voc_evaluate(detections, dataset, *, image_set, results_dir):
    """Write the VOC results files of a Pascal VOC set and compute its VOC AP from them.

    detections: dets[image][cls] (n, 5) in dataset.records order. The year decides the metric the original
    reports (11-point before 2010, as its do_python_eval); both are computed, at IoU 0.5 and 0.7.
    Returns {"metric", "mAP": {key: value}, "per_class_ap": {class: {key: value}}, "num_gts": {class: n},
    "results_files"}; key as "AP50_11point"; -1 for a class without non-difficult gts (left out of mAP).
    """
    years = [split_image_set(s)[0] for s in image_set.split("+")]
    official = "11point" if all(y.isdigit() and int(y) < 2010 for y in years) else "area"
    image_ids = [r.image_id for r in dataset.records]
    image_index = {image_id: i for i, image_id in enumerate(image_ids)}
    if len(image_index) != len(image_ids):
        raise ValueError("dataset %s: repeated image ids, which VOC results files cannot tell apart" % dataset.name)
    gts = voc_eval_gts(dataset.records, dataset.class_names)
    template = results_template(results_dir, image_set)
    keys = [_voc_key(t, m) for t in VOC_IOU_THRESHOLDS for m in AP_MODES]
    per_class, num_gts = {}, {}
    for cls, name in enumerate(dataset.class_names[1:], start=1):
        lines = class_lines(detections, image_ids, cls)
        write_lines(template.format(name), lines)
        npos, ap = class_ap(parse_lines(lines, image_index), gts[cls], iou_thresholds=VOC_IOU_THRESHOLDS)
        num_gts[name] = npos
        per_class[name] = {k: float(v) if npos else -1.0 for k, v in zip(keys, ap.ravel())}
    counted = [ap for name, ap in per_class.items() if num_gts[name]]
    mean = {k: float(np.mean([ap[k] for ap in counted])) if counted else -1.0 for k in keys}
    log.info("wrote the VOC results files %s", template.format("<class>"))
    return {"metric": _voc_key(0.5, official), "mAP": mean, "per_class_ap": per_class, "num_gts": num_gts,
            "results_files": template}


def format_voc_summary(voc):
    """The VOC AP table: one row per class and the mAP row; the metric the original reports is starred."""
    keys = list(voc["mAP"])
    header = "%-24s %6s " % ("class", "gts") + " ".join("%13s" % (k + ("*" if k == voc["metric"] else ""))
                                                       for k in keys)
    lines = ["VOC AP (pascal_voc_eval rules: IoU > threshold, +1 pixel boxes, difficult ignored; * = the metric "
             "the original reports for this year):", header]
    lines += ["%-24s %6d " % (name, voc["num_gts"][name]) + " ".join("%13.4f" % ap[k] for k in keys)
              for name, ap in voc["per_class_ap"].items()]
    lines.append("%-24s %6d " % ("mAP", sum(voc["num_gts"].values()))
                 + " ".join("%13.4f" % voc["mAP"][k] for k in keys))
    return "\n".join(lines)


def evaluate_detections(detections, dataset, results_dir, image_set, *, voc=False, eval_max_dets=100,
                        run_stats=None, masks=None):
    """Write `<results_dir>/detections_<image_set>_results.json`; evaluate it when the dataset has annotations.

    run_stats: a dict added to the metrics json (the tester's pixels_per_image, images_per_second); a set without
    annotations then gets a metrics json with these alone.

    detections: dets[image][cls] (n, 5) in dataset.records order. eval_max_dets: TEST.EVAL_MAX_DETS, COCOeval's
    last maxDets (`max_dets_for`). voc: a Pascal VOC set, also written as VOC
    results files and evaluated with the VOC AP (key "voc"). Returns the evaluation dict (see `coco_evaluate`),
    or None for a set without annotations. masks: masks[image][cls] (lib/inference/masks.py) or None; with them the
    json carries each detection's RLE and the COCOeval segm evaluation is logged and saved under the key "segm".
    """
    path = results_file(results_dir, image_set)
    results = write_coco_results(path, detections, dataset, masks)
    metrics_path = os.path.join(results_dir, "detections_%s_metrics.json" % image_set)
    if dataset.annotation_file is None:
        log.info("%s has no annotations: no evaluation; results for the evaluation server are in %s",
                 dataset.name, path)
        if run_stats:
            atomic_write_json(metrics_path, dict(run_stats), indent=2)
        return None
    evaluation = coco_evaluate(results, dataset.annotation_file, dataset.class_names, dataset.category_ids,
                               max_dets=max_dets_for(eval_max_dets))
    log.info("COCO bbox evaluation of %s:\n%s", dataset.name, format_summary(evaluation))
    if masks is not None:
        evaluation["segm"] = coco_evaluate(results, dataset.annotation_file, dataset.class_names,
                                           dataset.category_ids, max_dets=max_dets_for(eval_max_dets),
                                           iou_type="segm")
        log.info("COCO segm evaluation of %s:\n%s", dataset.name, format_summary(evaluation["segm"]))
    if voc:
        evaluation["voc"] = voc_evaluate(detections, dataset, image_set=image_set, results_dir=results_dir)
        log.info("VOC evaluation of %s:\n%s", dataset.name, format_voc_summary(evaluation["voc"]))
    evaluation.update(run_stats or {})
    atomic_write_json(metrics_path, evaluation, indent=2)
    log.info("metrics saved to %s", metrics_path)
    return evaluation
