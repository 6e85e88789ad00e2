"""TEST.CONCURRENT_JOBS: shards of the test images run in separate processes, gathered in image order.

The devices are dealt out to the jobs (the original gave every job every GPU: N CUDA contexts and N copies of
the network per GPU): with N jobs and G >= N devices job j takes devices j, j + N, ...; with more jobs than
devices job j takes device j mod G. Each job loads the network itself and runs every scale on its contiguous
shard, sized by its device count; the parent concatenates the shards per scale. With one job everything runs
in the calling process (the original's single-job path was broken; this one is the same code). Jobs are
spawned, not forked, so no MXNet engine state is copied into them.
"""
import logging
import multiprocessing

import numpy as np

log = logging.getLogger(__name__)


def deal_contexts(contexts, num_jobs):
    """The devices of each of `num_jobs` jobs: list of lists of contexts (every device used, each job one at least)."""
    if num_jobs <= len(contexts):
        return [list(contexts[j::num_jobs]) for j in range(num_jobs)]
    return [[contexts[j % len(contexts)]] for j in range(num_jobs)]


def shard_bounds(num_images, weights):
    """Contiguous [start, end) ranges of the images, one per job, sized in proportion to `weights` (the jobs'
    device counts); jobs left empty are dropped, with their index: list of (job, start, end)."""
    cumulative = np.concatenate([[0], np.cumsum(weights, dtype=np.float64)])
    edges = (cumulative / cumulative[-1] * num_images).round().astype(int)
    return [(j, int(a), int(b)) for j, (a, b) in enumerate(zip(edges[:-1], edges[1:])) if b > a]


def run_shard(cfg, params_path, records, contexts, num_classes, mode, progress=True):
    """One job: build the test network from `params_path` and run `mode` ('detect' or 'proposals') on records.

    Returns per-scale raw detections (detect), or per-image (N, 5) proposal arrays (proposals), plus the
    pipeline's (forward seconds, total seconds, network-input pixels).
    """
    from lib.inference.network import build_test_network
    from lib.inference.pipeline import Pipeline
    from lib.inference.proposals_extract import extract_proposals

    net = build_test_network(cfg, params_path, contexts, rpn_only=(mode == "proposals"))
    pipeline = Pipeline.from_config(cfg, net, contexts, num_classes)
    if mode == "proposals":
        result = extract_proposals(pipeline, records, cfg.TEST.N_PROPOSAL_PER_SCALE, progress)
    else:
        result = pipeline.detect_all_scales(records, progress)
    return result, (pipeline.forward_seconds, pipeline.total_seconds, pipeline.pixels)


def _job_entry(args):
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")  # a bare interpreter
    cfg, params_path, records, context_specs, num_classes, mode = args
    import mxnet as mx
    contexts = [mx.Context(kind, index) for kind, index in context_specs]
    return run_shard(cfg, params_path, records, contexts, num_classes, mode, progress=False)


def run_jobs(cfg, params_path, records, contexts, num_classes, mode="detect"):
    """Run `mode` over `records` in cfg.TEST.CONCURRENT_JOBS jobs; results in image order, and (forward s, total s,
    network-input pixels) summed over the jobs."""
    dealt = deal_contexts(contexts, max(1, int(cfg.TEST.CONCURRENT_JOBS)))
    bounds = shard_bounds(len(records), [len(c) for c in dealt])
    if len(bounds) <= 1:
        return run_shard(cfg, params_path, records, contexts, num_classes, mode)
    jobs = [(cfg, params_path, records[a:b], [(ctx.device_type, ctx.device_id) for ctx in dealt[j]], num_classes,
             mode) for j, a, b in bounds]
    log.info("%d concurrent jobs over %d images, devices %s", len(jobs), len(records),
             " | ".join(",".join(str(c) for c in dealt[j]) for j, _, _ in bounds))
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.map(_job_entry, jobs)
    timing = tuple(sum(r[1][k] for r in results) for k in range(3))
    if mode == "proposals":
        return [p for r in results for p in r[0]], timing
    num_scales = len(results[0][0])
    return [[d for r in results for d in r[0][k]] for k in range(num_scales)], timing
