"""Learning-rate schedule (the original's `WarmupMultiBatchScheduler`, lib/train_utils/lr_scheduler.py): linear
warmup, then step decays at given iterations.

A plain class (no MXNet import): it is pickled with the optimizer into every checkpoint's `.states`, and a
resumed run continues from the optimizer's update count.
"""


def step_iterations(lr_step, chips_per_epoch, global_batch, begin_epoch=0):
    """Iterations at which the lr decays.

    lr_step: comma-separated epochs, e.g. '5.33' or '3,5' (may be fractional); empty for no decay.
    chips_per_epoch: chip count of the first epoch (the reference measures the schedule on it).
    Returns the sorted list int(e * chips_per_epoch / global_batch) for each epoch e > begin_epoch,
    made relative to begin_epoch.
    """
    epochs = [float(e) for e in str(lr_step).split(",") if e.strip()]
    iters_per_epoch = chips_per_epoch / float(global_batch)
    return sorted(int((e - begin_epoch) * iters_per_epoch) for e in epochs if e > begin_epoch)


class WarmupMultiStepScheduler:
    """lr(num_update): warmup_lr + n * (base_lr - warmup_lr) / warmup_steps while n < warmup_steps,
    then base_lr * factor ** (number of steps <= n).

    MXNet calls it with the optimizer's update count (1 on the first update), as the original's scheduler.
    """

    def __init__(self, base_lr, steps, factor=0.1, warmup_steps=0, warmup_lr=0.0):
        self.base_lr = base_lr  # MXNet's optimizer overwrites it with its learning_rate
        self.steps = sorted(int(s) for s in steps)
        self.factor = factor
        self.warmup_steps = int(warmup_steps)
        self.warmup_lr = warmup_lr

    def __call__(self, num_update):
        if num_update < self.warmup_steps:
            return self.warmup_lr + num_update * (self.base_lr - self.warmup_lr) / self.warmup_steps
        passed = sum(1 for s in self.steps if num_update > s)
        return self.base_lr * self.factor ** passed


def build_scheduler(cfg, chips_per_epoch, global_batch):
    """The scheduler for cfg.TRAIN (lr, lr_step, lr_factor, warmup, warmup_lr, warmup_step, begin_epoch)."""
    t = cfg.TRAIN
    steps = step_iterations(t.lr_step, chips_per_epoch, global_batch, t.begin_epoch)
    warmup_steps = t.warmup_step if t.warmup else 0
    return WarmupMultiStepScheduler(t.lr, steps, t.lr_factor, warmup_steps, t.warmup_lr)
