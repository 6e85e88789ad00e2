"""Parameter set-up the trainer relies on: initialisation, frozen params, wd and lr multipliers (docs/design.md,
"Parameters").

* `initialize_sniper`: backbone convs He-normal (replaced by pretrained weights when loaded), BN gamma 1 /
  beta 0, new layers N(0, 0.01) with zero bias, deformable offsets zero (set on the layers themselves).
* `configure_params`: `FIXED_PARAMS` substrings -> grad_req 'null'; weight decay only on `*_weight` and
  `*_gamma` (wd_mult 0 elsewhere, as Module semantics); lr_mult 0.01 on the head's `offset` FC.
"""
import mxnet as mx
from mxnet import gluon

LOW_LR_PARAMS = ("offset_weight", "offset_bias", "mask_offset_weight", "mask_offset_bias")  # lr_mult 0.01
LOW_LR_MULT = 0.01


def initialize_sniper(net, ctx=None):
    """Initialise every parameter; layers with their own initialiser keep it (the original's `init_weight_rcnn`)."""
    net.initialize(mx.init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2), ctx=ctx)


def trainable_params(net):
    """{name: Parameter} of the parameters the trainer updates (grad_req != 'null', no constants)."""
    return {name: p for name, p in net.collect_params().items()
            if p.grad_req != "null" and not isinstance(p, gluon.Constant)}


def configure_params(net, cfg):
    """Apply FIXED_PARAMS, wd_mult and lr_mult in place; returns {'fixed', 'no_wd', 'low_lr'} name lists.

    A parameter is fixed when any `network.FIXED_PARAMS` entry is a substring of its name (the original's
    rule). BN statistics and constants are never trained.
    """
    groups = {"fixed": [], "no_wd": [], "low_lr": []}
    for name, param in net.collect_params().items():
        if isinstance(param, gluon.Constant) or name.endswith(("running_mean", "running_var")):
            continue
        if any(key in name for key in cfg.network.FIXED_PARAMS):
            param.grad_req = "null"
            groups["fixed"].append(name)
        if not name.endswith(("_weight", "_gamma")):
            param.wd_mult = 0.0
            groups["no_wd"].append(name)
        if name in LOW_LR_PARAMS:
            param.lr_mult = LOW_LR_MULT
            groups["low_lr"].append(name)
    return groups
