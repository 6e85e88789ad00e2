"""Atomic file writes: write to a temporary name in the same folder, then rename over the target.

A reader (or a run killed with -9 half-way) never sees a half-written file: either the old one or the new one.
"""
import json
import os
import pickle
import tempfile


def atomic_write(path, write_fn):
    """Call write_fn(tmp_path) to produce the file, then rename tmp_path to `path`. Returns `path`."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-" + os.path.basename(path) + "-", dir=folder)
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
