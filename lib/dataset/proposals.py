"""The RPN proposals file used to place negative chips (docs/design.md, "Proposals for negative mining").

File `<proposal_path>/<dataset name>_rpn.pkl` (e.g. data/proposals/shapes_train_rpn.pkl): a pickled list over the
dataset's images (unflipped, dataset order) of (N, 5) float32 arrays x1, y1, x2, y2, score in original image
coordinates. On load every image's proposals go through greedy NMS at IoU 0.7 (+1 convention, `ovr <= 0.7`
survives), cached as `<stem>_after_nms.pkl` next to the file together with the sha1 of the file's bytes; the
cache is reused only while the file's content is the same (a replaced file with an older time stamp is seen).

A pickle can run code when it is loaded: these files are read by an unpickler that only builds numpy arrays and
plain containers. Non-finite values (NaN, inf) are rejected, naming the file and the image.
"""
import hashlib
import logging
import os
import pickle

import numpy as np

from lib.dataset.errors import DatasetError
from lib.geometry.nms import nms
from lib.utils.atomic import atomic_write_pickle, remove_stale_tmp

log = logging.getLogger(__name__)

LOAD_NMS_THRESH = 0.7
_HOW_TO_MAKE = ("make it with scripts/train_neg_props_and_sniper.sh, or python main_test.py --set "
                "TEST.EXTRACT_PROPOSALS True on this image set")
# what a pickle of numpy arrays refers to (Python 2 and 3 pickles, numpy 1 and 2 module names)
_ARRAY_GLOBALS = {(module, name) for module in ("numpy.core.multiarray", "numpy._core.multiarray")
                  for name in ("_reconstruct", "scalar")} | {
    ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"), ("_codecs", "encode"), ("builtins", "bytes"), ("__builtin__", "bytes")}


class _ArrayUnpickler(pickle.Unpickler):
    """An unpickler that builds numpy arrays and plain containers only (no other class or function is called)."""

    def find_class(self, module, name):
        if (module, name) not in _ARRAY_GLOBALS:
            raise pickle.UnpicklingError("it refers to %s.%s; only numpy arrays and plain containers are read"
                                         % (module, name))
        return super().find_class(module, name)


def proposal_file(proposal_path, dataset_name):
    """`<proposal_path>/<dataset_name>_rpn.pkl`."""
    return os.path.join(proposal_path, "%s_rpn.pkl" % dataset_name)


def nms_cache_file(path):
    """`<stem>_after_nms.pkl` beside `path`."""
    return os.path.splitext(path)[0] + "_after_nms.pkl"


def _as_rows(array, path, index):
    """One image's entry -> (N, 5) float32, or DatasetError naming the file and image."""
    try:
        array = np.asarray(array, dtype=np.float32)
    except (TypeError, ValueError) as e:
        raise DatasetError("proposals file %s: image %d is not an array of numbers (%s)" % (path, index, e)) from None
    if array.size == 0:
        return np.zeros((0, 5), dtype=np.float32)
    if array.ndim != 2 or array.shape[1] != 5:
        raise DatasetError("proposals file %s: image %d has shape %s, expected (N, 5) x1,y1,x2,y2,score"
                           % (path, index, array.shape))
    bad = int(np.count_nonzero(~np.isfinite(array)))
    if bad:
        raise DatasetError("proposals file %s: image %d has %d NaN/inf values" % (path, index, bad))
    return array


def save_proposals(path, per_image_arrays):
    """Pickle the list over images of (N, 5) float32 proposals to `path` atomically. Returns `path`."""
    arrays = [_as_rows(a, path, i) for i, a in enumerate(per_image_arrays)]
    atomic_write_pickle(path, arrays)
    log.info("saved proposals of %d images (%d boxes) to %s", len(arrays), sum(len(a) for a in arrays), path)
    return path


def _unpickle(path):
    """The object pickled in `path`, built by _ArrayUnpickler (Python 2 pickles of the original are readable)."""
    try:
        with open(path, "rb") as f:
            return _ArrayUnpickler(f, encoding="latin1").load()
    except (pickle.UnpicklingError, EOFError, ValueError, AttributeError, ImportError, TypeError, IndexError,
            KeyError, OverflowError) as e:
        raise DatasetError("proposals file %s is not a proposals pickle (%s); %s" % (path, e, _HOW_TO_MAKE)) from None


def _read(path):
    """The list of (N, 5) arrays in `path`."""
    data = _unpickle(path)
    if not isinstance(data, (list, tuple)):
        raise DatasetError("proposals file %s holds a %s, expected a list over images" % (path, type(data).__name__))
    return [_as_rows(a, path, i) for i, a in enumerate(data)]


def _sha1(path):
    """Hex sha1 of the file's bytes."""
    digest = hashlib.sha1()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _cached(cache, source_sha1):
    """The cache's proposals when it was made from a file with `source_sha1`, else None."""
    if not os.path.isfile(cache):
        return None
    try:
        data = _unpickle(cache)
    except DatasetError as e:
        log.warning("proposals: ignoring the unreadable NMS cache (%s)", e)
        return None
    if not isinstance(data, dict) or data.get("source_sha1") != source_sha1:
        return None
    proposals = data.get("proposals")
    if not isinstance(proposals, list):
        return None
    return [_as_rows(a, cache, i) for i, a in enumerate(proposals)]


def _after_nms(path):
    """The file's proposals after the per-image NMS at 0.7, from the cache when it was made from the same bytes."""
    cache, source_sha1 = nms_cache_file(path), _sha1(path)
    arrays = _cached(cache, source_sha1)
    if arrays is not None:
        log.info("proposals: reusing %s", cache)
        return arrays
    arrays = [a[nms(a, LOAD_NMS_THRESH)] for a in _read(path)]
    remove_stale_tmp(os.path.dirname(os.path.abspath(cache)))  # a cache write killed half-way left one
    atomic_write_pickle(cache, {"source_sha1": source_sha1, "proposals": arrays})
    log.info("proposals: NMS at %.1f on %s, cached to %s", LOAD_NMS_THRESH, path, cache)
    return arrays


def load_proposals(path, records):
    """Attach the proposals of `path` to `records` (unflipped, in the order the file was made for).

    Sets record.proposals (M, 4) float32 and record.proposal_scores (M,) float32 after NMS at 0.7.
    Raises DatasetError when the file is missing, unsafe or malformed, holds NaN/inf values, or its image count
    differs from len(records).
    Returns `records`.
    """
    if not os.path.isfile(path):
        raise DatasetError("proposals file not found: %s; %s" % (path, _HOW_TO_MAKE))
    arrays = _after_nms(path)
    if len(arrays) != len(records):
        raise DatasetError("proposals file %s has %d images but the dataset has %d; %s"
                           % (path, len(arrays), len(records), _HOW_TO_MAKE))
    for record, rows in zip(records, arrays):
        if record.flipped:
            raise DatasetError("proposals file %s: load proposals before adding flipped images (%s)"
                               % (path, record.image))
        record.proposals, record.proposal_scores = rows[:, :4].copy(), rows[:, 4].copy()
    log.info("proposals: %d boxes attached to %d images", sum(len(a) for a in arrays), len(records))
    return records
