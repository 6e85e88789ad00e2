"""The output folder of a training run: one run at a time, never over another run, resumed only with its config.

    run_folder = RunFolder(folder)
    run_folder.open(cfg, resume=False, overwrite=False)   # lock; refuse a folder that holds another run
    run_folder.save_config(cfg)                          # config.json beside the checkpoints
    ...
    run_folder.close()                                   # the lock also goes when the process dies

* A lock (`fcntl.flock` on `.run.lock`, held while the run lives) makes a second run into the folder refuse.
* A new run into a folder holding checkpoints refuses unless `overwrite`, which deletes the old run's
  checkpoints, metrics, loss curve, classes and config first.
* `config.json` is the effective config; a resumed run refuses when a key that changes training differs
  (keys that only change logging, workers, where files are, when the run stops, or testing may differ).
"""
import errno
import fcntl
import glob
import json
import logging
import os

from lib.train.checkpoint import CLASSES_FILE, list_checkpoints
from lib.train.output_errors import writing
from lib.utils.atomic import atomic_write_json, remove_stale_tmp

log = logging.getLogger(__name__)
LOCK_FILE = ".run.lock"
CONFIG_FILE = "config.json"
RUN_FILES = ("metrics.jsonl", "loss_curve.png", CLASSES_FILE, CONFIG_FILE)
# keys a resumed run may change: they do not change what is trained
FREE_KEYS = {"_cfg_file", "output_path", "proposal_path", "MXNET_VERSION", "gpus", "dataset.root_path",
             "dataset.dataset_path", "dataset.test_image_set", "TRAIN.DISPLAY", "TRAIN.NUM_PROCESS",
             "TRAIN.NUM_THREAD", "TRAIN.LOADER_TIMEOUT", "TRAIN.RESUME", "TRAIN.end_epoch", "TRAIN.MAX_ITERATIONS",
             "TRAIN.CHECKPOINT_ITERS", "TRAIN.visualization_path", "TRAIN.visualization_freq"}
FREE_SECTIONS = ("TEST.",)


class RunFolderError(ValueError):
    """The run cannot use its output folder as asked (another run in it, a config that differs)."""


def _flat(tree, prefix=""):
    """{dotted key: JSON-normalised value} of a nested config dict."""
    out = {}
    for key, value in tree.items():
        if isinstance(value, dict):
            out.update(_flat(value, prefix + key + "."))
        else:
            out[prefix + key] = json.loads(json.dumps(value))
    return out


def _device_count(gpus):
    return max(1, len([w for w in str(gpus).split(",") if w.strip()]))


def config_differences(saved, current):
    """Keys that change training and differ between two config dicts: list of (key, saved, current).

    Keys present in only one of them (added by a later version, with the faithful default) are not compared;
    `gpus` is compared by its number of devices (the global batch).
    """
    saved, current = _flat(saved), _flat(current)
    diffs = []
    for key in sorted(set(saved) & set(current)):
        if key in FREE_KEYS or key.startswith(FREE_SECTIONS) or saved[key] == current[key]:
            continue
        diffs.append((key, saved[key], current[key]))
    if _device_count(saved.get("gpus", "")) != _device_count(current.get("gpus", "")):
        diffs.append(("gpus (number of devices)", saved.get("gpus"), current.get("gpus")))
    return diffs


class RunFolder:
    """The lock, the checks and the saved config of one run's output folder (see the module docstring)."""

    def __init__(self, folder):
        self.folder = folder
        self._lock = None

    def open(self, cfg, resume, overwrite):
        """Lock the folder, then refuse or clear it as `resume` / `overwrite` say; RunFolderError names why."""
        if resume and overwrite:
            raise RunFolderError("--resume continues the run in %s and --overwrite deletes it: pass one of them"
                                 % self.folder)
        self._acquire()
        try:
            remove_stale_tmp(self.folder)  # only a writer into this folder could be writing them: we hold it
            found = list_checkpoints(self.folder)
            if found and resume:
                self._check_config(cfg)
            elif found and not overwrite:
                raise RunFolderError("%s holds the checkpoints of another run (newest %s): continue it with "
                                     "--resume, train into another output_path, or delete it with --overwrite"
                                     % (self.folder, os.path.basename(found[-1][2])))
            elif overwrite:
                self._remove_run()
        except BaseException:
            self.close()
            raise

    def _acquire(self):
        path = os.path.join(self.folder, LOCK_FILE)
        with writing("the run lock", path):
            os.makedirs(self.folder, exist_ok=True)
            handle = open(path, "a+")
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as err:
            handle.seek(0)
            owner = handle.read().strip() or "unknown"
            handle.close()
            if err.errno not in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise
            raise RunFolderError("another training run (pid %s) is writing into %s: wait for it to end or train "
                                 "into another output_path" % (owner, self.folder)) from None
        handle.seek(0)
        handle.truncate()
        handle.write("%d\n" % os.getpid())
        handle.flush()
        self._lock = handle

    def _remove_run(self):
        """Delete the previous run's checkpoints (markers first) and logs."""
        stems = {path.rsplit(".", 1)[0] for path in glob.glob(os.path.join(self.folder, "SNIPER-*.*"))}
        for stem in sorted(stems):
            for ext in (".json", ".params", ".states"):
                if os.path.exists(stem + ext):
                    os.remove(stem + ext)
        for name in RUN_FILES:
            if os.path.exists(os.path.join(self.folder, name)):
                os.remove(os.path.join(self.folder, name))
        if stems:
            log.info("--overwrite: deleted %d checkpoints and the logs of the previous run in %s", len(stems),
                     self.folder)

    def _check_config(self, cfg):
        path = os.path.join(self.folder, CONFIG_FILE)
        if not os.path.exists(path):
            log.warning("%s is missing (a run of an older version): the config cannot be compared", path)
            return
        try:
            with open(path) as f:
                saved = json.load(f)
        except ValueError as err:
            raise RunFolderError("%s is corrupt (%s): restore it or start over with --overwrite" % (path, err)) \
                from None
        diffs = config_differences(saved, cfg.to_dict())
        if diffs:
            shown = "; ".join("%s %s -> %s" % d for d in diffs)
            raise RunFolderError("--resume: the run in %s was trained with other values of keys that change "
                                 "training: %s (saved in %s). Resume with the same values, or train into another "
                                 "output_path" % (self.folder, shown, CONFIG_FILE))

    def save_config(self, cfg):
        """Write the effective config to `<folder>/config.json` (atomically)."""
        path = os.path.join(self.folder, CONFIG_FILE)
        with writing("the run config", path):
            atomic_write_json(path, cfg.to_dict(), indent=1, sort_keys=True)

    def close(self):
        """Release the lock (closing the file releases the flock)."""
        if self._lock is not None:
            self._lock.close()
            self._lock = None
