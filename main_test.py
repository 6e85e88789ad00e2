"""Test SNIPER: multi-scale batched detection -> COCO results json (+ COCOeval), or proposal extraction.

    python main_test.py [--cfg FILE] [--epoch N] [--set KEY VALUE ...]

The model is `<output_path>/<config name>/<training image set>/SNIPER-<TEST.TEST_EPOCH>.params`; the images
are `dataset.test_image_set`. With `--set TEST.EXTRACT_PROPOSALS True` (or --extract-proposals) the RPN's
proposals at the test scales are written to `<TEST.PROPOSAL_SAVE_PATH>/<dataset name>_rpn.pkl`, the file that
negative chip mining reads.
"""
import argparse
import logging
import os
import sys

import init_paths  # noqa: F401  (repository root on sys.path, logging set up)
from lib.config import ConfigError, add_config_args, config_from_args

DEFAULT_CFG = "configs/faster/sniper_res101_e2e.yml"
log = logging.getLogger("main_test")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epoch", type=int, default=None, help="checkpoint epoch (default: TEST.TEST_EPOCH)")
    parser.add_argument("--extract-proposals", action="store_true", help="same as --set TEST.EXTRACT_PROPOSALS True")
    add_config_args(parser, DEFAULT_CFG)
    return parser.parse_args(argv)


def run(cfg, epoch=None, contexts=None):
    """Detection (returns the evaluation dict, or the results path when the set has no annotations) or
    proposal extraction (returns the proposals path)."""
    from lib.dataset import load_dataset
    from lib.dataset.errors import DatasetError
    from lib.dataset.proposals import proposal_file, save_proposals
    from lib.inference.coco_results import results_file
    from lib.inference.evaluate import evaluate_detections
    from lib.inference.jobs import run_jobs
    from lib.inference.network import build_test_network
    from lib.inference.pipeline import Pipeline
    from lib.inference.prerequisites import model_params, with_dataset_hint
    from lib.specs.inference import NMSSpec, TestPyramidSpec
    from lib.inference.pipeline import merge_detections
    from lib.runtime.run_paths import output_dir
    from lib.runtime.devices import parse_contexts

    params = model_params(cfg, epoch)  # the prerequisites in this order: model, devices, images
    contexts = contexts or parse_contexts(cfg.gpus)
    try:
        dataset = load_dataset(cfg, cfg.dataset.test_image_set, with_masks=cfg.TRAIN.WITH_MASK)
    except DatasetError as err:
        raise with_dataset_hint(cfg, cfg.dataset.test_image_set, err) from None
    folder = output_dir(cfg)  # the training image set names the model's folder
    log.info("testing %s on %s (%d images)", params, dataset.name, len(dataset.records))
    if cfg.TEST.EXTRACT_PROPOSALS:
        proposals, _ = run_jobs(cfg, params, dataset.records, contexts, dataset.num_classes, mode="proposals")
        path = save_proposals(proposal_file(cfg.TEST.PROPOSAL_SAVE_PATH, dataset.name), proposals)
        log.info("proposals of %d images written to %s", len(proposals), path)
        return path
    per_scale, (forward_s, total_s, pixels) = run_jobs(cfg, params, dataset.records, contexts, dataset.num_classes)
    detections = merge_detections(per_scale, pyramid=TestPyramidSpec.from_config(cfg), nms=NMSSpec.from_config(cfg))
    images = max(len(dataset.records), 1)
    run_stats = {"pixels_per_image": pixels / images, "images_per_second": images / max(total_s, 1e-9)}
    log.info("%.2f images/s over %d scales (per job), %.0f%% of the tester's time outside the network forward, "
             "%.3f Mpx of network input per image", run_stats["images_per_second"], len(per_scale),
             100 * (1 - forward_s / max(total_s, 1e-9)), run_stats["pixels_per_image"] / 1e6)
    masks = None
    if cfg.TRAIN.WITH_MASK:  # after the merge: one network in this process, on the first device
        pipeline = Pipeline.from_config(cfg, build_test_network(cfg, params, contexts[:1]), contexts[:1],
                                        dataset.num_classes)
        masks = pipeline.masks(dataset.records, detections)
    results_dir = os.path.join(folder, "results")
    evaluation = evaluate_detections(detections, dataset, results_dir, cfg.dataset.test_image_set,
                                     voc=cfg.dataset.dataset == "PascalVOC", eval_max_dets=cfg.TEST.EVAL_MAX_DETS,
                                     run_stats=run_stats, masks=masks)
    return evaluation if evaluation is not None else results_file(results_dir, cfg.dataset.test_image_set)


def main(argv=None):
    args = parse_args(argv)
    if args.extract_proposals:
        args.set_words = list(args.set_words) + ["TEST.EXTRACT_PROPOSALS", "True"]
    cfg = config_from_args(args)
    from lib.dataset.errors import DatasetError
    from lib.model.checkpoint_names import CheckpointError
    try:
        run(cfg, args.epoch)
    except (ConfigError, DatasetError, CheckpointError, FileNotFoundError) as err:
        sys.stderr.write("error: %s\n" % err)
        sys.exit(2)


if __name__ == "__main__":
    main()
