"""Loss scaling for fp16 training (docs/design.md, "Parameters").

The reference multiplies every loss by a static scale (TRAIN.scale = 100) and compensates with lr/100 and
wd*100 in the optimizer. Here the losses are multiplied by the scale before backward and the trainer step
divides gradients by it (`Trainer.update(scale)` sets rescale_grad = 1/scale): the same update,
lr * (grad + wd * w), without touching lr or wd. With TRAIN.DYNAMIC_LOSS_SCALE, a step whose summed gradients
hold inf/NaN is skipped (and logged), the scale halves, and it doubles again after `growth_interval` clean steps.
"""
from collections import OrderedDict
import logging

import mxnet as mx

from lib.config import ConfigError

log = logging.getLogger(__name__)


def check_fp16_contexts(cfg, contexts):
    """fp16 needs a GPU: one clear error when TRAIN.fp16 is set and a context is a CPU."""
    if cfg.TRAIN.fp16 and any(ctx.device_type == "cpu" for ctx in contexts):
        raise ConfigError("config key TRAIN.fp16: float16 training needs a GPU (MXNet has no fp16 GEMM on the CPU); "
                          "use --set TRAIN.fp16 False on this machine")


def all_finite(arrays, chunk=64):
    """True when every element of every NDArray is finite; one host synchronisation.

    MXNet's multi_all_finite reads all its inputs with the first input's dtype and runs on one device, so the
    arrays are checked per (device, dtype) group (fp16 backbone and fp32 head gradients, several GPUs), at most
    `chunk` per call, each group's flag on its device; the flags are multiplied on the first device.
    """
    groups = OrderedDict()
    for array in arrays:
        groups.setdefault((array.context, array.dtype), []).append(array)
    if not groups:
        return True
    first = next(iter(groups))[0]
    flags = []
    for members in groups.values():
        for i in range(0, len(members), chunk):
            part = members[i:i + chunk]
            flags.append(mx.nd.multi_all_finite(*part, num_arrays=len(part)).as_in_context(first))
    return bool(mx.nd.prod(mx.nd.concat(*flags, dim=0)).asscalar() == 1)


class LossScaler:
    """Static or dynamic loss scale. `scale` multiplies the losses; `step_ok(grads)` says whether to step."""

    def __init__(self, scale=1.0, dynamic=False, growth_interval=2000, min_scale=1.0):
        self.scale = float(scale)
        self.dynamic = dynamic
        self.growth_interval = growth_interval
        self.min_scale = min_scale
        self.clean_steps = 0
        self.skipped = 0

    @classmethod
    def from_config(cls, cfg):
        t = cfg.TRAIN
        return cls(t.scale if t.fp16 else 1.0, dynamic=t.fp16 and t.DYNAMIC_LOSS_SCALE)

    def step_ok(self, grads, iteration):
        """After the gradient sum: False (and the scale lowered) when a gradient is not finite under dynamic
        scaling. grads: list of NDArray (any devices and dtypes)."""
        if not self.dynamic:
            return True
        if not all_finite(grads):
            self.skipped += 1
            self.clean_steps = 0
            self.scale = max(self.scale / 2.0, self.min_scale)
            log.warning("iteration %d: inf/NaN gradients, step skipped, loss scale lowered to %g", iteration, self.scale)
            return False
        self.clean_steps += 1
        if self.clean_steps >= self.growth_interval:
            self.scale *= 2.0
            self.clean_steps = 0
        return True

    def state(self):
        return {"loss_scale": self.scale, "clean_steps": self.clean_steps, "skipped_steps": self.skipped}

    def load_state(self, state):
        self.scale = state.get("loss_scale", self.scale)
        self.clean_steps = state.get("clean_steps", 0)
        self.skipped = state.get("skipped_steps", 0)
