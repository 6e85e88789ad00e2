"""Devices from the `gpus` config key, and splitting a batch across them."""
import logging

import mxnet as mx

from lib.config import ConfigError

log = logging.getLogger(__name__)


def parse_contexts(gpus, num_gpus=None):
    """`gpus` -> list of mx.Context.

    "0,1,2" -> GPU contexts (falls back to one CPU context, with a log line, when MXNet sees no GPU);
    "" -> [cpu(0)]; "cpu:0,cpu:1" -> several CPU contexts (multi-device logic on a CPU machine).
    """
    words = [w.strip() for w in str(gpus).split(",") if w.strip()]
    if not words:
        return [mx.cpu(0)]
    if all(w.startswith("cpu") for w in words):
        try:
            return [mx.cpu(int(w.split(":", 1)[1]) if ":" in w else 0) for w in words]
        except ValueError:
            raise ConfigError("config key gpus: cannot use %r (CPU contexts are written cpu:0,cpu:1)" % gpus) from None
    try:
        ids = [int(w) for w in words]
    except ValueError:
        raise ConfigError("config key gpus: cannot use %r (expected GPU ids like 0,1,2)" % gpus) from None
    available = mx.context.num_gpus() if num_gpus is None else num_gpus
    if available == 0:
        log.warning("gpus=%s requested but MXNet sees no GPU: training on the CPU (mx.cpu())", gpus)
        return [mx.cpu(0)]
    missing = [i for i in ids if i >= available]
    if missing:
        raise ConfigError("config key gpus: GPU ids %s requested but only %d GPUs are visible" % (missing, available))
    return [mx.gpu(i) for i in ids]


def split_batch(batch, contexts):
    """Split a dict of numpy arrays (leading dim B = len(contexts) * b) into one dict of NDArrays per context."""
    n = len(contexts)
    size = len(next(iter(batch.values())))
    if size % n:
        raise ValueError("batch of %d chips cannot be split evenly over %d devices" % (size, n))
    per = size // n
    return [{k: mx.nd.array(v[i * per:(i + 1) * per], ctx=ctx, dtype=v.dtype) for k, v in batch.items()}
            for i, ctx in enumerate(contexts)]
