"""The SNIPER training loop (reference §6) on Gluon: devices, kvstore, fp16 loss scale, schedule, checkpoints.

With TRAIN.MAX_ITERATIONS the run ends after that many updates: the epoch in progress is cut short and its
end-of-epoch checkpoint is written as usual (equal-compute ablations). `pixels` in the progress and the log rows
counts the network input pixels processed so far (all workers).

Per iteration: the global batch is split over the devices, each device computes its losses (already normalised
per device, as the reference), the gradients are summed over devices and workers by the kvstore
(rescale_grad = 1 / loss scale, so no averaging), and every device takes the same SGD step (lib.train.kvstore).
"""
import dataclasses
import logging
import math
import os
import time

import mxnet as mx
from mxnet import autograd
from tqdm import tqdm

from lib.data.epoch import build_epoch
from lib.data.loader import ChipLoader
from lib.model.losses import LOSS_OUTPUTS, RPN_LOSS_OUTPUTS, build_loss, loss_inputs
from lib.model.params import configure_params, initialize_sniper
from lib.model.sniper import TrainOutput, build_sniper
from lib.train.checkpoint import (CLASSES_FILE, load_checkpoint_params, load_trainer_states, newest_intact_checkpoint,
                                  output_dir, save_checkpoint)
from lib.runtime.devices import parse_contexts, set_cudnn_autotune, split_batch
from lib.train.kvstore import create_kvstore, create_trainer, gradient_step
from lib.train.logbook import Logbook
from lib.train.lr_schedule import build_scheduler
from lib.train.metrics import RunningMetrics, read_step
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


def _check_finite(loss_parts, iteration):
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
        self.loss = build_loss(cfg)
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
        self._position = None  # (epoch, next batch, batches in the epoch) after the last finished step
        self._saved_update = self.progress["num_update"]

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
        """One device's loss outputs: dict (RPN_)LOSS_OUTPUTS name -> NDArray."""
        outputs = self.net(part["data"], part["im_info"], part["gt_boxes"], part["valid_ranges"])
        targets = (part["rpn_label"], part["rpn_bbox_target"], part["rpn_bbox_weight"])
        if self.cfg.TRAIN.ONLY_PROPOSAL:
            rpn_cls_score, _, rpn_bbox_pred = outputs
            return dict(zip(RPN_LOSS_OUTPUTS, self.loss(rpn_cls_score, rpn_bbox_pred, *targets)))
        return dict(zip(LOSS_OUTPUTS, self.loss(*loss_inputs(TrainOutput(*outputs), *targets))))

    def _step(self, batch, iteration, metrics):
        parts = split_batch(batch, self.contexts)
        with autograd.record():
            results = [self._device_losses(p) for p in parts]
            scaled = [r["total"] * self.scaler.scale for r in results]
        autograd.backward(scaled)
        stats, loss_terms = read_step(results, self.cfg.TRAIN.RPN_BATCH_SIZE)  # one host copy
        metrics.add_stats(stats)
        _check_finite(loss_terms, iteration)
        gradient_step(self.trainer, self.net.collect_params().values(), self.scaler, iteration)

    def run_epoch(self, epoch, start_batch=0):
        """Train one epoch (from `start_batch` when resuming); checkpoints at the end."""
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
        loader = ChipLoader(self.records, cfg, epoch_chips, batch_indices=indices)
        metrics = RunningMetrics()
        chips = len(self.contexts) * cfg.TRAIN.BATCH_IMAGES
        batches = iter(loader)
        bar = tqdm(zip(indices, batches), total=len(indices), desc="epoch %d" % (epoch + 1), unit="batch",
                   disable=self.rank != 0)
        start = time.time()
        try:
            for done, (batch_index, batch) in enumerate(bar, 1):
                with self._guard.deferred():  # a signal waits for the step, its log row and checkpoint
                    self.progress["num_update"] += 1
                    pixels = self.num_workers * batch["data"].size // 3  # B x H x W of every worker's share
                    self.progress["pixels"] += int(pixels)
                    self._step(batch, self.progress["num_update"], metrics)
                    speed = done * chips / max(time.time() - start, 1e-9)
                    bar.set_postfix(chips_s="%.1f" % speed, **{k: "%.3f" % v for k, v in metrics.values().items()})
                    if done % cfg.TRAIN.DISPLAY == 0 or done == len(indices):
                        self._log(epoch, batch_index, speed, metrics)
                    if cfg.TRAIN.CHECKPOINT_ITERS and done % cfg.TRAIN.CHECKPOINT_ITERS == 0 and done < len(indices):
                        self._save(epoch, batch_index + 1)
                    self._position = (epoch, batch_index + 1, epoch_chips.num_batches)
        finally:
            bar.close()
            batches.close()  # stops the loader's workers now, also when interrupted
        if loader.num_gts_truncated:
            log.warning("epoch %d: %d gt boxes beyond dataset.MAX_GTS=%d were left out of gt_boxes",
                        epoch + 1, loader.num_gts_truncated, cfg.dataset.MAX_GTS)
        self._save(epoch + 1, 0)
        if self.rank == 0:
            log.info("loss curve: %s", self.logbook.plot())

    def _iterations_left(self):
        """Updates left before TRAIN.MAX_ITERATIONS, or None without that limit."""
        limit = self.cfg.TRAIN.MAX_ITERATIONS
        return max(0, limit - self.progress["num_update"]) if limit else None

    def _log(self, epoch, batch_index, speed, metrics):
        row = {"epoch": epoch + 1, "batch": batch_index + 1, "iteration": self.progress["num_update"],
               "pixels": self.progress["pixels"],
               "lr": self.trainer.learning_rate, "chips_per_s": speed, "loss_scale": self.scaler.scale}
        row.update(metrics.values())
        if self.rank == 0:
            self.logbook.write(row)
        metrics.reset()

    def _save(self, epoch, batch):
        self.progress.update({"epoch": epoch, "batch": batch})
        self.progress.update(self.scaler.state())
        mx.nd.waitall()  # MKLDNN BatchNorm writes its running statistics in the backward, unseen by the engine
        self._saved_update = self.progress["num_update"]
        if self.rank == 0:
            return save_checkpoint(self.net, self.trainer, self.folder, dict(self.progress))  # workers' states agree
        return None

    def _save_interrupted(self):
        """Checkpoint the last finished step when it is newer than the last checkpoint; the params path or None."""
        if self._position is None or self.progress["num_update"] == self._saved_update:
            return None
        epoch, next_batch, num_batches = self._position
        return self._save(epoch + 1, 0) if next_batch == num_batches else self._save(epoch, next_batch)

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
                        saved = self._save_interrupted()
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
