"""Checkpoints: `<output_path>/<config name>/<image set>/SNIPER-<epoch:04d>.params` (+ `.states`, `.json`).

Each checkpoint is three files written atomically; the `.json` (progress: epoch, batch, update count, loss
scale) is written last and marks the checkpoint complete, so a run killed at any moment leaves the previous
checkpoint loadable. A file damaged later (truncated by a full disk, a bad copy) raises CorruptCheckpoint naming
it; resuming then falls back to the newest intact checkpoint. Iteration checkpoints (TRAIN.CHECKPOINT_ITERS)
are named `SNIPER-<epoch:04d>-<batch:06d>` where epoch is the number of completed epochs; only the newest is
kept. The trainer also writes `classes.json` (class names and dataset category ids by contiguous class id) in
the folder, for the Detector's labels.
"""
import glob
import json
import logging
import os

from lib.model.checkpoint_names import CheckpointError
from lib.runtime.params_file import CorruptCheckpoint, check_param_shapes, read_params
from lib.runtime.run_paths import CLASSES_FILE, checkpoint_stem, list_checkpoints, output_dir  # noqa: F401
from lib.train.output_errors import writing
from lib.utils.atomic import atomic_write, atomic_write_json

log = logging.getLogger(__name__)
PROGRESS_KEYS = ("epoch", "batch", "num_update")


def save_checkpoint(net, trainer, folder, progress, prefix="SNIPER"):
    """Write params, trainer states and progress for `progress` = dict(epoch, batch, num_update, ...).

    progress["batch"] == 0 means the end of epoch progress["epoch"]. Returns the params path.
    """
    batch = progress.get("batch", 0) or None
    stem = checkpoint_stem(folder, progress["epoch"], batch, prefix)
    with writing("checkpoint", stem + ".params"):
        atomic_write(stem + ".params", net.save_parameters)
    if trainer is not None:
        with writing("checkpoint", stem + ".states"):
            atomic_write(stem + ".states", trainer.save_states)
    with writing("checkpoint", stem + ".json"):
        atomic_write_json(stem + ".json", progress, indent=1, sort_keys=True)
        _remove_iteration_checkpoints(folder, prefix, keep=None if batch is None else stem)
    log.info("saved checkpoint %s.params", stem)
    return stem + ".params"


def _remove_iteration_checkpoints(folder, prefix, keep):
    for path in glob.glob(os.path.join(folder, "%s-[0-9][0-9][0-9][0-9]-[0-9]*.json" % prefix)):
        stem = path[:-len(".json")]
        if stem == keep:
            continue
        os.remove(path)  # the marker first: a half-removed checkpoint is never taken for complete
        for ext in (".params", ".states"):
            if os.path.exists(stem + ext):
                os.remove(stem + ext)


def read_progress(stem):
    """The progress dict of the checkpoint `stem`; CorruptCheckpoint when its `.json` cannot be read."""
    path = stem + ".json"
    try:
        with open(path) as f:
            progress = json.load(f)
    except (ValueError, UnicodeDecodeError) as err:
        raise CorruptCheckpoint("checkpoint progress %s is truncated or corrupt (%s)" % (path, err)) from None
    if not isinstance(progress, dict) or not all(k in progress for k in PROGRESS_KEYS):
        raise CorruptCheckpoint("checkpoint progress %s lacks one of %s" % (path, ", ".join(PROGRESS_KEYS)))
    return progress


def load_checkpoint_params(net, path, ctx):
    """Load `path` into `net` on `ctx` after checking it reads (CorruptCheckpoint) and fits (CheckpointError)."""
    check_param_shapes(net, read_params(path), path)
    net.load_parameters(path, ctx=ctx)


def load_trainer_states(trainer, path):
    """Optimizer states of `path` into `trainer`; CorruptCheckpoint naming the file when they cannot be read."""
    try:
        trainer.load_states(path)
    except Exception as err:  # noqa: BLE001 - a damaged pickle raises any of several types
        raise CorruptCheckpoint("checkpoint states %s are truncated or corrupt (%s)"
                                % (path, type(err).__name__)) from None


def newest_intact_checkpoint(folder, load_fn=None, prefix="SNIPER"):
    """(progress dict, stem) of the newest checkpoint whose files read, or (None, None) without checkpoints.

    load_fn(stem), when given, loads the checkpoint's arrays and raises CorruptCheckpoint for a damaged file.
    A corrupt checkpoint is skipped with a warning naming the file; CheckpointError when none is intact.
    """
    found = list_checkpoints(folder, prefix)
    for _, _, stem in reversed(found):
        try:
            progress = read_progress(stem)
            if load_fn is not None:
                load_fn(stem)
            return progress, stem
        except CorruptCheckpoint as err:
            log.warning("%s: skipped, trying the checkpoint before it", err)
    if found:
        raise CheckpointError("no intact checkpoint in %s (all %d are corrupt); start over with --overwrite"
                              % (folder, len(found)))
    return None, None


def latest_checkpoint(folder, prefix="SNIPER"):
    """(progress dict, stem) of the newest complete checkpoint whose progress reads, or (None, None)."""
    return newest_intact_checkpoint(folder, prefix=prefix)
