"""TEST.CONCURRENT_JOBS: shards of the test images run in separate processes, gathered in image order.

Each job loads the network itself (on all the given devices, as the original's jobs shared the GPUs) and
runs every scale on its contiguous shard; the parent concatenates the shards per scale. With one job
everything runs in the calling process (the original's single-job path was broken; this one is the same code).
Jobs are spawned, not forked, so no MXNet engine state is copied into them.
"""
import logging
import multiprocessing

import numpy as np

log = logging.getLogger(__name__)


def shard_bounds(num_images, num_jobs):
    """Contiguous [start, end) ranges of the images, one per job (empty jobs dropped)."""
    edges = np.linspace(0, num_images, num_jobs + 1).round().astype(int)
    return [(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:]) if b > a]


def run_shard(cfg, params_path, records, contexts, num_classes, mode, progress=True):
    """One job: build the test network from `params_path` and run `mode` ('detect' or 'proposals') on records.

    Returns per-scale raw detections (detect), or per-image (N, 5) proposal arrays (proposals), plus the
    tester's (forward seconds, total seconds).
    """
    from lib.inference.proposals_extract import extract_proposals
    from lib.inference.tester import Tester
    from lib.inference.network import build_test_network

    net = build_test_network(cfg, params_path, contexts, rpn_only=(mode == "proposals"))
    tester = Tester(cfg, net, contexts, num_classes)
    if mode == "proposals":
        result = extract_proposals(tester, records, progress)
    else:
        result = tester.detect_all_scales(records, progress)
    return result, (tester.forward_seconds, tester.total_seconds)


def _job_entry(args):
    import init_paths  # noqa: F401  (a spawned job starts from a bare interpreter)
    cfg, params_path, records, context_specs, num_classes, mode = args
    import mxnet as mx
    contexts = [mx.Context(kind, index) for kind, index in context_specs]
    return run_shard(cfg, params_path, records, contexts, num_classes, mode, progress=False)


def run_jobs(cfg, params_path, records, contexts, num_classes, mode="detect"):
    """Run `mode` over `records` in cfg.TEST.CONCURRENT_JOBS jobs; results in image order, and timings."""
    bounds = shard_bounds(len(records), max(1, int(cfg.TEST.CONCURRENT_JOBS)))
    if len(bounds) <= 1:
        return run_shard(cfg, params_path, records, contexts, num_classes, mode)
    specs = [(ctx.device_type, ctx.device_id) for ctx in contexts]
    jobs = [(cfg, params_path, records[a:b], specs, num_classes, mode) for a, b in bounds]
    log.info("%d concurrent jobs over %d images", len(jobs), len(records))
    with multiprocessing.get_context("spawn").Pool(len(jobs)) as pool:
        results = pool.map(_job_entry, jobs)
    timing = tuple(sum(r[1][k] for r in results) for k in range(2))
    if mode == "proposals":
        return [p for r in results for p in r[0]], timing
    num_scales = len(results[0][0])
    return [[d for r in results for d in r[0][k]] for k in range(num_scales)], timing
