"""Where a run lives: `<output_path>/<config name>/<image set>/`, its checkpoint names and the class file.

Shared by training (which writes them) and inference (which reads them), hence below both.
"""
import glob
import os
import re

from lib.config import config_name

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
