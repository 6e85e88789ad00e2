"""The SNIPER training loop on Gluon: `Session.run_step` is one update, `Session.run_epoch` runs the steps and
calls the hooks (lib/train/hooks.py: progress bar, log rows, checkpoints, warnings, loss curve) around them.

With TRAIN.MAX_ITERATIONS the run ends after that many updates: the epoch in progress is cut short and its
end-of-epoch checkpoint is written as usual (equal-compute ablations). `pixels` in the progress and the log rows
counts the network input pixels processed so far (all workers).

Per update: the global batch is split over the devices, each device computes its losses (already normalised
per device, as the original's symbols), the gradients are summed over devices and workers by the kvstore
(rescale_grad = 1 / loss scale, so no averaging), and every device takes the same SGD step (lib.train.kvstore).
"""
import dataclasses
import logging
import math
import os

import mxnet as mx
from mxnet import autograd

from lib.data.batchify import MASK_KEYS
from lib.data.epoch import build_epoch
from lib.data.loader import ChipLoader
from lib.model.losses import loss_inputs
from lib.model.mask_loss import build_loss_with_masks
from lib.model.params import configure_params, initialize_sniper
from lib.model.sniper import build_sniper
from lib.train.checkpoint import (CLASSES_FILE, load_checkpoint_params, load_trainer_states, newest_intact_checkpoint,
                                  output_dir, save_checkpoint)
from lib.runtime.devices import parse_contexts, set_cudnn_autotune, split_batch
from lib.train.kvstore import create_kvstore, create_trainer, gradient_step
from lib.train.hooks import (EpochCheckpoint, EpochState, InterruptCheckpoint, LogRows, LossCurve, PeriodicCheckpoint,
                             ProgressBar, TruncatedGtWarning)
from lib.train.logbook import Logbook
from lib.train.lr_schedule import build_scheduler
from lib.train.metrics import read_step
from lib.train.mixed_precision import LossScaler, check_fp16_contexts
from lib.train.output_errors import writing
from lib.train.pretrained import load_pretrained
from lib.train.records import training_records
from lib.train.run_dir import RunFolder
from lib.train.signals import InterruptGuard, Interrupted
from lib.utils.atomic import atomic_write_json

log = logging.getLogger(__name__)


def worker_share(epoch_chips, rank, num_workers):
    """This worker's chips of every global batch (the epoch is built for all workers' devices).

    Global batch b holds chips [b G, (b + 1) G); worker r takes [b G + r L, b G + (r + 1) L) with L = G / workers,
    so batch k of the share is this worker's part of global batch k. Chip label sampling draws from a
    per-worker seed.
    """
    if num_workers == 1:
        return epoch_chips
    size = epoch_chips.batch_size
    local = size // num_workers
    entries = [entry for b in range(epoch_chips.num_batches)
               for entry in epoch_chips.entries[b * size + rank * local:b * size + (rank + 1) * local]]
    return dataclasses.replace(epoch_chips, entries=entries, batch_size=local,
                               seed=epoch_chips.seed * 1009 + rank)


class NonFiniteLoss(RuntimeError):
    """A loss became NaN or inf (and dynamic loss scaling is off)."""


def build_network(cfg, contexts, kvstore):
    """The training network on `contexts`, initialised (pretrained weights when configured) and hybridized."""
    net = build_sniper(cfg, train=True)
    mx.random.seed(cfg.RNG_SEED)  # the same seed gives the same initial weights
    initialize_sniper(net, ctx=contexts)
    load_pretrained(net, cfg)
    configure_params(net, cfg)
    net.hybridize(static_alloc=True, static_shape=True)
    return net


def _worker_rank(kvstore):
    if kvstore is not None and kvstore.type.startswith("dist"):
        return kvstore.rank, kvstore.num_workers
    return 0, 1


def check_finite(loss_parts, iteration):
    for name, value in loss_parts.items():
        if not math.isfinite(value):
            raise NonFiniteLoss("iteration %d: loss %s is %s; lower TRAIN.lr or enable TRAIN.DYNAMIC_LOSS_SCALE "
                                "with fp16" % (iteration, name, value))


class Session:
    """Everything one training run holds; `run()` trains from the configured or resumed position.

    The output folder is locked from here to the end of `run()` and refused when it holds another run (unless
    `overwrite`) or, resuming, a run of another config (lib.train.run_dir).
    """

    def __init__(self, cfg, contexts=None, resume=None, *, overwrite=False):
        self.cfg = cfg
        # devices first (a GPU request on a machine without one must not wait for a dataset to be generated),
        # then a missing dataset
        self.contexts = contexts or parse_contexts(cfg.gpus)
        check_fp16_contexts(cfg, self.contexts)
        self.records, self.class_names, self.category_ids = training_records(cfg)
        set_cudnn_autotune(True)  # chips have one shape (a tester run in this process may have turned it off)
        self.kvstore = create_kvstore(cfg, self.contexts)
        self.rank, self.num_workers = _worker_rank(self.kvstore)
        self.folder = output_dir(cfg)
        resume = cfg.TRAIN.RESUME if resume is None else resume
        self.run_folder = RunFolder(self.folder) if self.rank == 0 else None  # workers > 0 write nothing
        if self.run_folder is not None:
            self.run_folder.open(cfg, resume=bool(resume), overwrite=overwrite)
        self.net = build_network(cfg, self.contexts, self.kvstore)
        self.loss = build_loss_with_masks(cfg)
        self.loss.hybridize(static_alloc=True)
        self.scaler = LossScaler.from_config(cfg)
        self.devices_total = len(self.contexts) * self.num_workers
        first = build_epoch(self.records, cfg, cfg.TRAIN.begin_epoch, self.devices_total)
        self.first_epoch = first
        global_batch = first.batch_size
        self.trainer = create_trainer(cfg, self.net, self.kvstore,
                                      build_scheduler(cfg, first.num_chips, global_batch))
        self.progress = {"epoch": cfg.TRAIN.begin_epoch, "batch": 0, "num_update": 0, "pixels": 0}
        if resume:
            self._resume()
        self.logbook = Logbook(self.folder)
        self._guard = InterruptGuard()  # installed by run()
        self._saved_update = self.progress["num_update"]
        self.interrupt_checkpoint = InterruptCheckpoint(self)
        self.hooks = self.default_hooks()

    def default_hooks(self):
        """The hooks of a run, in call order (lib/train/hooks.py)."""
        cfg, chips = self.cfg, len(self.contexts) * self.cfg.TRAIN.BATCH_IMAGES
        hooks = [ProgressBar(chips, enabled=self.rank == 0), LogRows(self, cfg.TRAIN.DISPLAY, chips),
                 PeriodicCheckpoint(self, cfg.TRAIN.CHECKPOINT_ITERS), self.interrupt_checkpoint,
                 TruncatedGtWarning(cfg.dataset.MAX_GTS), EpochCheckpoint(self)]
        return hooks + ([LossCurve(self.logbook)] if self.rank == 0 else [])

    def _resume(self):
        """Load the newest intact checkpoint (a corrupt one is skipped with a warning naming its file)."""
        progress, stem = newest_intact_checkpoint(self.folder, self._load_checkpoint)
        if progress is None:
            log.info("no checkpoint in %s: starting from scratch", self.folder)
            return
        self.scaler.load_state(progress)
        self.progress = progress
        progress.setdefault("pixels", 0)  # checkpoints written before the pixel count
        log.info("resumed from %s (epoch %d, batch %d, update %d)", stem, progress["epoch"], progress["batch"],
                 progress["num_update"])

    def _load_checkpoint(self, stem):
        load_checkpoint_params(self.net, stem + ".params", self.contexts)
        if os.path.exists(stem + ".states"):
            load_trainer_states(self.trainer, stem + ".states")
        else:  # dist_sync checkpoints written before the update moved to the workers
            log.warning("%s.states missing: momentum and the lr schedule restart from zero", stem)

    def _device_losses(self, part):
        """One device's loss outputs: dict name (the loss block's output_names) -> NDArray."""
        masks = [part[key] for key in MASK_KEYS if key in part]
        outputs = self.net(part["data"], part["im_info"], part["gt_boxes"], part["valid_ranges"], *masks)
        targets = (part["rpn_label"], part["rpn_bbox_target"], part["rpn_bbox_weight"])
        if self.cfg.TRAIN.ONLY_PROPOSAL:
            rpn_cls_score, _, rpn_bbox_pred = outputs
            return dict(zip(self.loss.output_names, self.loss(rpn_cls_score, rpn_bbox_pred, *targets)))
        inputs = loss_inputs(outputs, *targets, focus_label=part.get("focus_label"))
        return dict(zip(self.loss.output_names, self.loss(*inputs)))

    def run_step(self, batch, metrics):
        """One update from this worker's share of a global batch: losses and gradients on every device, the
        metrics' statistics, the NaN/inf stop, then the summed gradients' step (lib.train.kvstore)."""
        self.progress["num_update"] += 1
        self.progress["pixels"] += int(self.num_workers * batch["data"].size // 3)  # B x H x W, every worker
        parts = split_batch(batch, self.contexts)
        with autograd.record():
            results = [self._device_losses(p) for p in parts]
            scaled = [r["total"] * self.scaler.scale for r in results]
        autograd.backward(scaled)
        stats, loss_terms = read_step(results)  # one host copy
        metrics.add_stats(stats)
        if "mask_loss" in loss_terms:  # the mask branch: CE per non-ignored cell, mean over devices and steps
            metrics.add("MaskLogLoss", loss_terms["mask_loss"] / len(parts), 1)
        check_finite(loss_terms, self.progress["num_update"])
        gradient_step(self.trainer, self.net.collect_params().values(), self.scaler, self.progress["num_update"])

    def run_epoch(self, epoch, start_batch=0):
        """Train one epoch (from `start_batch` when resuming), calling the hooks around every step."""
        epoch_chips, indices = self._epoch_plan(epoch, start_batch)
        loader = ChipLoader(self.records, self.cfg, epoch_chips, batch_indices=indices)
        state = EpochState(epoch=epoch, total=len(indices), num_batches=epoch_chips.num_batches, loader=loader)
        batches = iter(loader)
        for hook in self.hooks:
            hook.before_epoch(state)
        try:
            for state.done, (state.batch_index, batch) in enumerate(zip(indices, batches), 1):
                with self._guard.deferred():  # a signal waits for the step and its hooks (log row, checkpoint)
                    self.run_step(batch, state.metrics)
                    for hook in self.hooks:
                        hook.after_step(state)
        finally:
            for hook in self.hooks:
                hook.close(state)
            batches.close()  # stops the loader's workers now, also when interrupted
        for hook in self.hooks:
            hook.after_epoch(state)

    def _epoch_plan(self, epoch, start_batch):
        """(this worker's EpochChips, the batch indices to run: from start_batch, cut by TRAIN.MAX_ITERATIONS)."""
        cfg = self.cfg
        epoch_chips = self.first_epoch if epoch == cfg.TRAIN.begin_epoch else None
        epoch_chips = epoch_chips or build_epoch(self.records, cfg, epoch, self.devices_total)
        epoch_chips = worker_share(epoch_chips, self.rank, self.num_workers)
        indices = list(range(start_batch, epoch_chips.num_batches))
        left = self._iterations_left()
        if left is not None and left < len(indices):
            log.info("TRAIN.MAX_ITERATIONS=%d: epoch %d ends after %d of its %d batches",
                     cfg.TRAIN.MAX_ITERATIONS, epoch + 1, start_batch + left, epoch_chips.num_batches)
            indices = indices[:left]
        return epoch_chips, indices

    def _iterations_left(self):
        """Updates left before TRAIN.MAX_ITERATIONS, or None without that limit."""
        limit = self.cfg.TRAIN.MAX_ITERATIONS
        return max(0, limit - self.progress["num_update"]) if limit else None

    def unsaved(self):
        """True when updates were made since the last checkpoint."""
        return self.progress["num_update"] != self._saved_update

    def save(self, epoch, batch):
        """Checkpoint the run at (epoch, next batch) (rank 0 writes); the params path or None."""
        self.progress.update({"epoch": epoch, "batch": batch})
        self.progress.update(self.scaler.state())
        mx.nd.waitall()  # MKLDNN BatchNorm writes its running statistics in the backward, unseen by the engine
        self._saved_update = self.progress["num_update"]
        if self.rank == 0:
            return save_checkpoint(self.net, self.trainer, self.folder, dict(self.progress))  # workers' states agree
        return None

    def _write_classes(self):
        """`<folder>/classes.json`: the class names and dataset category ids the checkpoints predict (the
        Detector's labels)."""
        path = os.path.join(self.folder, CLASSES_FILE)
        with writing("the class names", path):
            atomic_write_json(path, {"class_names": list(self.class_names), "category_ids": list(self.category_ids)},
                              indent=1)

    def run(self):
        """Train until TRAIN.end_epoch; returns the folder holding the checkpoints.

        Ctrl-C, SIGTERM or SIGHUP stop the run after the step in progress, with a checkpoint of it: Interrupted
        (a KeyboardInterrupt) is raised, its `checkpoint` naming the params written (None when nothing was trained
        since the last checkpoint). The folder's lock is released on the way out.
        """
        try:
            with self._guard:
                try:
                    self._train()
                except KeyboardInterrupt as interrupt:
                    with self._guard.ignored():  # a second signal must not stop this checkpoint
                        saved = self.interrupt_checkpoint.save()
                    if isinstance(interrupt, Interrupted):
                        interrupt.checkpoint, interrupt.in_run = saved, True
                    raise
        finally:
            if self.run_folder is not None:
                self.run_folder.close()
        return self.folder

    def _train(self):
        if self.rank == 0:
            self.run_folder.save_config(self.cfg)
            self._write_classes()
        if self.progress["num_update"] == 0:
            self.logbook.rewrite([])
        else:
            self.logbook.rewrite(self.logbook.rows(keep_after=self.progress["num_update"]))
        start_epoch, start_batch = self.progress["epoch"], self.progress["batch"]
        for epoch in range(start_epoch, self.cfg.TRAIN.end_epoch):
            if self._iterations_left() == 0:
                break
            self.run_epoch(epoch, start_batch if epoch == start_epoch else 0)
