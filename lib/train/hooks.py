"""What happens around the training steps, one hook per concern (detectron2's train-loop habit).

`Session.run_epoch` calls, in list order, `before_epoch(state)` once, `after_step(state)` after every update
(inside the step's signal deferral, so a signal waits for the hooks too), `close(state)` on the way out of the
epoch (also when it is interrupted) and `after_epoch(state)` when every batch is done. A new head adds a loss and a
metric through the loss block's outputs (lib/train/metrics.py); a new side effect adds a hook.
"""
import logging
import time
from dataclasses import dataclass, field

from tqdm import tqdm

from lib.train.metrics import RunningMetrics

log = logging.getLogger(__name__)


@dataclass
class EpochState:
    """One epoch in progress.

    epoch: 0-based epoch. total: the updates this epoch runs (after a resume or TRAIN.MAX_ITERATIONS cut);
    num_batches: the batches of the whole epoch. done: updates done this epoch; batch_index: the batch of the
    last update. loader: the ChipLoader. metrics: running sums since the last log row.
    """
    epoch: int
    total: int
    num_batches: int
    loader: object
    done: int = 0
    batch_index: int = -1
    metrics: RunningMetrics = field(default_factory=RunningMetrics)
    start: float = field(default_factory=time.time)

    def rate(self, chips_per_update):
        """Chips per second since the epoch started."""
        return self.done * chips_per_update / max(time.time() - self.start, 1e-9)


class Hook:
    """Does nothing; subclasses override what they need."""

    def before_epoch(self, state):
        pass

    def after_step(self, state):
        pass

    def close(self, state):
        pass

    def after_epoch(self, state):
        pass


class ProgressBar(Hook):
    """A tqdm bar per epoch with the speed and the running metrics (rank 0 only)."""

    def __init__(self, chips_per_update, enabled):
        self.chips, self.enabled, self.bar = chips_per_update, enabled, None

    def before_epoch(self, state):
        self.bar = tqdm(total=state.total, desc="epoch %d" % (state.epoch + 1), unit="batch",
                        disable=not self.enabled)

    def after_step(self, state):
        self.bar.update(1)
        self.bar.set_postfix(chips_s="%.1f" % state.rate(self.chips),
                             **{k: "%.3f" % v for k, v in state.metrics.values().items()})

    def close(self, state):
        self.bar.close()


class LogRows(Hook):
    """A metrics.jsonl row every TRAIN.DISPLAY updates and after the epoch's last; resets the running metrics."""

    def __init__(self, session, every, chips_per_update):
        self.session, self.every, self.chips = session, every, chips_per_update

    def after_step(self, state):
        if state.done % self.every and state.done != state.total:
            return
        session = self.session
        row = {"epoch": state.epoch + 1, "batch": state.batch_index + 1,
               "iteration": session.progress["num_update"], "pixels": session.progress["pixels"],
               "lr": session.trainer.learning_rate, "chips_per_s": state.rate(self.chips),
               "loss_scale": session.scaler.scale}
        row.update(state.metrics.values())
        if session.rank == 0:
            session.logbook.write(row)
        state.metrics.reset()


class PeriodicCheckpoint(Hook):
    """A checkpoint every TRAIN.CHECKPOINT_ITERS updates inside an epoch (0: none), resumable at the next batch."""

    def __init__(self, session, every):
        self.session, self.every = session, every

    def after_step(self, state):
        if self.every and state.done % self.every == 0 and state.done < state.total:
            self.session.save(state.epoch, state.batch_index + 1)


class InterruptCheckpoint(Hook):
    """Remembers the last finished update, so that a signal stops the run with a checkpoint of it."""

    def __init__(self, session):
        self.session, self.position = session, None  # (epoch, next batch, batches in the epoch)

    def after_step(self, state):
        self.position = (state.epoch, state.batch_index + 1, state.num_batches)

    def save(self):
        """Checkpoint the last finished update when it is newer than the last checkpoint; params path or None."""
        if self.position is None or not self.session.unsaved():
            return None
        epoch, next_batch, num_batches = self.position
        return self.session.save(epoch + 1, 0) if next_batch == num_batches else self.session.save(epoch, next_batch)


class TruncatedGtWarning(Hook):
    """Says how many gt boxes beyond dataset.MAX_GTS the epoch's chips left out of gt_boxes."""

    def __init__(self, max_gts):
        self.max_gts = max_gts

    def after_epoch(self, state):
        if state.loader.num_gts_truncated:
            log.warning("epoch %d: %d gt boxes beyond dataset.MAX_GTS=%d were left out of gt_boxes",
                        state.epoch + 1, state.loader.num_gts_truncated, self.max_gts)


class EpochCheckpoint(Hook):
    """The end-of-epoch checkpoint (SNIPER-<epoch + 1>)."""

    def __init__(self, session):
        self.session = session

    def after_epoch(self, state):
        self.session.save(state.epoch + 1, 0)


class LossCurve(Hook):
    """Redraws the loss curve of metrics.jsonl after every epoch (rank 0)."""

    def __init__(self, logbook):
        self.logbook = logbook

    def after_epoch(self, state):
        log.info("loss curve: %s", self.logbook.plot())
