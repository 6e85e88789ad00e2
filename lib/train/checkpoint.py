"""Checkpoints: `<output_path>/<config name>/<image set>/SNIPER-<epoch:04d>.params` (+ `.states`, `.json`).

Each checkpoint is three files written atomically; the `.json` (progress: epoch, batch, update count, loss
scale) is written last and marks the checkpoint complete, so a run killed at any moment leaves the previous
checkpoint loadable. Iteration checkpoints (TRAIN.CHECKPOINT_ITERS) are named `SNIPER-<epoch:04d>-<batch:06d>`
where epoch is the number of completed epochs; only the newest is kept. The trainer also writes `classes.json`
(class names and dataset category ids by contiguous class id) in the folder, for the Detector's labels.
"""
import glob
import json
import logging
import os
import re

from lib.config import config_name
from lib.utils.atomic import atomic_write, atomic_write_json

log = logging.getLogger(__name__)
CLASSES_FILE = "classes.json"  # beside the checkpoints: {"class_names": [...], "category_ids": [...]}
_NAME = re.compile(r"^(?P<prefix>.+)-(?P<epoch>\d{4})(?:-(?P<batch>\d{6}))?\.json$")


def output_dir(cfg, image_set=None):
    """`<output_path>/<config name>/<image set with '+' -> '_'>` (the original's layout)."""
    image_set = cfg.dataset.image_set if image_set is None else image_set
    return os.path.join(cfg.output_path, config_name(cfg), image_set.replace("+", "_"))


def checkpoint_stem(folder, epoch, batch=None, prefix="SNIPER"):
    """Path without extension of an epoch (batch None) or iteration checkpoint."""
    name = "%s-%04d" % (prefix, epoch) if batch is None else "%s-%04d-%06d" % (prefix, epoch, batch)
    return os.path.join(folder, name)


def save_checkpoint(net, trainer, folder, progress, prefix="SNIPER"):
    """Write params, trainer states and progress for `progress` = dict(epoch, batch, num_update, ...).

    progress["batch"] == 0 means the end of epoch progress["epoch"]. Returns the params path.
    """
    batch = progress.get("batch", 0) or None
    stem = checkpoint_stem(folder, progress["epoch"], batch, prefix)
    atomic_write(stem + ".params", net.save_parameters)
    if trainer is not None:
        atomic_write(stem + ".states", trainer.save_states)
    atomic_write_json(stem + ".json", progress, indent=1, sort_keys=True)
    if batch is None:
        _remove_iteration_checkpoints(folder, prefix, keep=None)
    else:
        _remove_iteration_checkpoints(folder, prefix, keep=stem)
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


def list_checkpoints(folder, prefix="SNIPER"):
    """Complete checkpoints in `folder`, oldest first: list of (epoch, batch, stem)."""
    found = []
    for path in glob.glob(os.path.join(folder, prefix + "-*.json")):
        match = _NAME.match(os.path.basename(path))
        if not match or match.group("prefix") != prefix:
            continue
        stem = path[:-len(".json")]
        if os.path.exists(stem + ".params"):
            found.append((int(match.group("epoch")), int(match.group("batch") or 0), stem))
    return sorted(found)


def latest_checkpoint(folder, prefix="SNIPER"):
    """(progress dict, stem) of the newest complete checkpoint, or (None, None)."""
    found = list_checkpoints(folder, prefix)
    if not found:
        return None, None
    stem = found[-1][2]
    with open(stem + ".json") as f:
        return json.load(f), stem


def epoch_params_path(folder, epoch, prefix="SNIPER"):
    """The params of epoch `epoch`; a missing file raises FileNotFoundError naming it and the epochs present."""
    path = checkpoint_stem(folder, epoch, None, prefix) + ".params"
    if not os.path.exists(path):
        epochs = sorted({e for e, b, _ in list_checkpoints(folder, prefix) if b == 0})
        raise FileNotFoundError("checkpoint %s does not exist (epochs present in %s: %s)"
                                % (path, folder, ", ".join(map(str, epochs)) or "none"))
    return path
