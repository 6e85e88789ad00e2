"""Atomic file writes: write to a temporary name in the same folder, then rename over the target.

A reader (or a run killed with -9 half-way) never sees a half-written file: either the old one or the new one.
The temporary name `.tmp-<writer pid>-<file name>-<random>` says who writes it, so that the temporary file a
killed writer left behind can be told from one a live writer is still writing (`remove_stale_tmp`).
"""
import json
import logging
import os
import pickle
import re
import tempfile
import time

log = logging.getLogger(__name__)

TMP_PREFIX = ".tmp-"
_WRITER_PID = re.compile(r"^\.tmp-(\d+)-")
_STARTED = time.time()  # files older than this process cannot be written by it


def atomic_write(path, write_fn):
    """Call write_fn(tmp_path) to produce the file, then rename tmp_path to `path`. Returns `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    prefix = "%s%d-%s-" % (TMP_PREFIX, os.getpid(), os.path.basename(path))
    fd, tmp = tempfile.mkstemp(prefix=prefix, dir=folder)
    os.close(fd)
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files; the result gets the usual permissions
    try:
        write_fn(tmp)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return path


def _pid_alive(pid):
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's live process
        return True
    return True


def _is_stale(name, mtime, started):
    """A temporary file is stale when it predates this process and its writer (named by pid) is gone; one
    without a pid (written before pids were put in the name) when it predates this process."""
    if not name.startswith(TMP_PREFIX) or mtime >= started:
        return False
    match = _WRITER_PID.match(name)
    return match is None or (int(match.group(1)) != os.getpid() and not _pid_alive(int(match.group(1))))


def remove_stale_tmp(folder, started=None):
    """Remove the `.tmp-*` files of `folder` (not its subfolders) left by killed writers.

    started: only files last modified before this time (seconds since the epoch) are candidates; default:
    when this process imported the module. A file whose writer pid is alive is kept.
    Returns the removed paths (a missing folder has none).
    """
    started = _STARTED if started is None else started
    removed = []
    try:
        entries = list(os.scandir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        try:
            stale = entry.is_file(follow_symlinks=False) and _is_stale(entry.name, entry.stat().st_mtime, started)
            if stale:
                os.remove(entry.path)
                removed.append(entry.path)
        except FileNotFoundError:  # its writer renamed or removed it meanwhile
            continue
    if removed:
        log.info("removed %d temporary files left by killed writers in %s", len(removed), folder)
    return removed


def atomic_write_bytes(path, data):
    """Write `data` (bytes) to `path` atomically."""
    def write(tmp):
        with open(tmp, "wb") as f:
            f.write(data)
    return atomic_write(path, write)


def atomic_write_json(path, obj, **dump_kwargs):
    """json.dump(obj) to `path` atomically."""
    def write(tmp):
        with open(tmp, "w") as f:
            json.dump(obj, f, **dump_kwargs)
    return atomic_write(path, write)


def atomic_write_pickle(path, obj):
    """pickle.dump(obj) to `path` atomically (highest protocol)."""
    def write(tmp):
        with open(tmp, "wb") as f:
            pickle.dump(obj, f, protocol=pickle.HIGHEST_PROTOCOL)
    return atomic_write(path, write)
