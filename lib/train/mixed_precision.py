"""Loss scaling for fp16 training (reference §5.7).

The reference multiplies every loss by a static scale (TRAIN.scale = 100) and compensates with lr/100 and
wd*100 in the optimizer. Here the losses are multiplied by the scale before backward and the trainer step
divides gradients by it (`Trainer.step(scale)` sets rescale_grad = 1/scale): the same update,
lr * (grad + wd * w), without touching lr or wd. With TRAIN.DYNAMIC_LOSS_SCALE, a step whose gradients hold
inf/NaN is skipped (and logged), the scale halves, and it doubles again after `growth_interval` clean steps.
"""
import logging

import mxnet as mx

from lib.config import ConfigError

log = logging.getLogger(__name__)


def check_fp16_contexts(cfg, contexts):
    """fp16 needs a GPU: one clear error when TRAIN.fp16 is set and a context is a CPU."""
    if cfg.TRAIN.fp16 and any(ctx.device_type == "cpu" for ctx in contexts):
        raise ConfigError("config key TRAIN.fp16: float16 training needs a GPU (MXNet has no fp16 GEMM on the CPU); "
                          "use --set TRAIN.fp16 False on this machine")


class LossScaler:
    """Static or dynamic loss scale. `scale` multiplies the losses; `step_ok(params)` says whether to step."""

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

    def step_ok(self, params, iteration):
        """After backward: False (and the scale lowered) when a gradient is not finite under dynamic scaling."""
        if not self.dynamic:
            return True
        grads = [g for p in params if p.grad_req != "null" for g in p.list_grad()]
        finite = all(mx.nd.multi_all_finite(*grads[i:i + 64], num_arrays=len(grads[i:i + 64])).asscalar() == 1
                     for i in range(0, len(grads), 64))
        if not finite:
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
