"""Devices from the `gpus` config key, splitting a batch across them, and cuDNN autotuning per use."""
import logging
import os

import mxnet as mx

from lib.config import ConfigError

log = logging.getLogger(__name__)
AUTOTUNE_ENV = "MXNET_CUDNN_AUTOTUNE_DEFAULT"
_USER_AUTOTUNE = os.environ.get(AUTOTUNE_ENV)  # exported by the user: always wins


def parse_contexts(gpus, num_gpus=None):
    """`gpus` -> list of mx.Context.

    "0,1,2" -> GPU contexts (ConfigError when MXNet sees fewer GPUs: a GPU request never trains on the CPU);
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
        raise ConfigError("config key gpus: GPUs %s requested but MXNet sees no GPU (a CPU-only mxnet wheel or "
                          "no CUDA device; run scripts/check_gpu_setup.py); use --set gpus '' for the CPU" % gpus)
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


def set_cudnn_autotune(enabled):
    """Switch cuDNN's convolution algorithm search for the convolutions that run from now on.

    Training keeps MXNet's default (on: chips have one shape, so the search runs once). The tester turns it
    off: every new canvas size would start a new search. MXNet reads the variable when a cuDNN convolution is
    first set up for a shape (CuDNNConvolutionOp::Init), so setting it in this process is enough. A value the
    user exported before the start is left alone.
    """
    if _USER_AUTOTUNE is None:
        os.environ[AUTOTUNE_ENV] = "1" if enabled else "0"
