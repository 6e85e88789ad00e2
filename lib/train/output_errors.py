"""Failed writes of a training run's outputs (checkpoints, metrics, config) as one line saying what and where.

    with writing("checkpoint", stem + ".params"):
        ...   # an OSError or an incomplete MXNet write becomes OutputError

Exit codes: 2 when the output folder cannot be written at all (read-only file system, permission denied: choose
another output_path), 1 for a fault of the machine (disk full, quota, I/O error).
"""
import contextlib
import errno
import os
import shutil

from mxnet.base import MXNetError

USER_MISTAKES = (errno.EACCES, errno.EPERM, errno.EROFS)


class OutputError(RuntimeError):
    """A run's output could not be written; `exit_code` is 2 for an unwritable folder, 1 for a fault."""

    def __init__(self, message, exit_code):
        super().__init__(message)
        self.exit_code = exit_code


def _free_bytes(path):
    folder = os.path.dirname(os.path.abspath(path))
    while folder and not os.path.isdir(folder):
        folder = os.path.dirname(folder)
    try:
        return shutil.disk_usage(folder).free
    except OSError:
        return None


@contextlib.contextmanager
def writing(what, path):
    """Turn a failed write of `what` (e.g. "checkpoint") at `path` into OutputError."""
    try:
        yield
    except OSError as err:
        hint = " (choose another output_path)" if err.errno in USER_MISTAKES else ""
        raise OutputError("cannot write %s %s: %s%s" % (what, path, err.strerror or err, hint),
                          2 if err.errno in USER_MISTAKES else 1) from None
    except MXNetError:  # MXNet's file stream reports a short write without its errno
        free = _free_bytes(path)
        shown = "" if free is None else " (%d bytes free on its disk)" % free
        raise OutputError("cannot write %s %s: the write was incomplete%s" % (what, path, shown), 1) from None
