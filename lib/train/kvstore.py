"""Gradient reduction and the optimizer step across devices and workers (`default.kvstore`).

The kvstore only sums gradients (over the devices of a worker, then over the workers); every device applies
the SGD update itself (gluon's update_on_kvstore=False), for every kvstore type:
* dist_sync: with the update on the parameter servers, MXNet pickles the optimizer to them without its
  param_dict (Optimizer.__getstate__), so the servers lost the per-parameter wd_mult / lr_mult (weight decay on
  biases and BN betas, no 0.01 lr on the offset layer); it also refuses a changed rescale_grad (dynamic loss
  scale) and cannot save the optimizer states (no resume of the schedule or momentum).
* fp16: the dynamic loss scale checks the *summed* gradients, so an overflow of the cross-device or cross-worker
  sum is seen, and all workers see the same sum and take the same skip decision.
Every worker then holds the same optimizer (update count, momentum): its states are saved with each checkpoint.
"""
import logging
import weakref

import mxnet as mx
from mxnet import gluon

from lib.config import ConfigError

log = logging.getLogger(__name__)
_SYNCHRONISED = weakref.WeakSet()  # trainers whose initial weight broadcast has completed


def check_kvstore(name, contexts, features=None):
    """One ConfigError line for a kvstore this MXNet build cannot run; a hint when a faster one fits.

    features: mx.runtime.Features() (injectable for tests).
    """
    features = mx.runtime.Features() if features is None else features
    if "nccl" in name and not features.is_enabled("NCCL"):
        raise ConfigError("config key default.kvstore: %r needs an MXNet build with NCCL (this one has none: "
                          "python scripts/check_gpu_setup.py); use 'device' on one node" % name)
    if name.startswith("dist") and not features.is_enabled("DIST_KVSTORE"):
        raise ConfigError("config key default.kvstore: %r needs an MXNet build with the distributed kvstore" % name)
    if "async" in name:
        raise ConfigError("config key default.kvstore: %r updates on the servers, which lose the per-parameter "
                          "wd and lr multipliers; use dist_sync or dist_sync_device" % name)
    gpus = sum(1 for ctx in contexts if ctx.device_type == "gpu")
    if name == "dist_sync" and gpus > 1:
        log.warning("default.kvstore dist_sync with %d GPUs per worker sums their gradients in host memory; "
                    "dist_sync_device sums them on the GPUs (same result, faster)", gpus)


def create_kvstore(cfg, contexts):
    """The kvstore of `default.kvstore` ('device', 'local', 'nccl', 'dist_sync', ...); None for one local device."""
    name = cfg.default.kvstore
    check_kvstore(name, contexts)
    if not name.startswith("dist") and len(contexts) == 1:
        return None
    return mx.kv.create(name)


def create_trainer(cfg, net, kvstore, scheduler):
    """SGD with momentum, wd and the lr schedule; multi-precision (fp32 master weights) with fp16.

    The update runs on the devices (update_on_kvstore=False), whatever the kvstore.
    """
    t = cfg.TRAIN
    params = {"learning_rate": t.lr, "momentum": t.momentum, "wd": t.wd, "lr_scheduler": scheduler,
              "multi_precision": bool(t.fp16)}
    return gluon.Trainer(net.collect_params(), "sgd", params, kvstore=kvstore if kvstore is not None else "device",
                         update_on_kvstore=False)


def reduced_grads(params):
    """The summed gradients after `allreduce_grads`: every device holds the same sum, take the first's."""
    return [p.list_grad()[0] for p in params if p.grad_req != "null"]


def synchronise_weights(trainer):
    """Broadcast worker 0's weights to every device and worker (once per trainer) and wait for them.

    With the update on the devices one kvstore key carries first the weights (broadcast = init + an
    asynchronous pull) and then the gradient sums (pushpull). Without the wait, a worker's first gradient push
    can overtake its own weight pull (on CPU the push does not wait for it, kvstore_dist.h PushImpl), and once
    every worker has pushed the server holds the sum: the late pull then returns the sum as the weights.
    """
    if trainer in _SYNCHRONISED:
        return
    if not trainer._kv_initialized:  # gluon's own lazy set-up (Trainer.step), done before the first sum
        trainer._init_kvstore()
    if trainer._params_to_init:
        trainer._init_params()
    mx.nd.waitall()
    _SYNCHRONISED.add(trainer)


def gradient_step(trainer, params, scaler, iteration):
    """Sum the gradients, let the loss scaler look at the sums, then update (or skip). Returns True if updated.

    params: the trainer's Parameters. The gradients are of the scaled losses; `trainer.update(scale)` sets
    rescale_grad = 1 / scale with the scale they were computed with (the scaler may change it for the next).
    """
    scale = scaler.scale
    synchronise_weights(trainer)
    trainer.allreduce_grads()
    if not scaler.step_ok(reduced_grads(params), iteration):
        return False
    trainer.update(scale)
    return True
