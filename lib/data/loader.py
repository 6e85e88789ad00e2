"""The training iterator: batches of chips built ahead of the trainer by worker processes.

    epoch_chips = build_epoch(records, cfg, epoch, num_devices)
    loader = ChipLoader(records, cfg, epoch_chips)   # or batch_indices=[...]: a subset, in that order
    for batch in loader:          # batch: dict of numpy arrays, see lib.data.batchify.batch_layout
        ...
    loader.num_gts_truncated      # gts left out of gt_boxes (beyond dataset.MAX_GTS): the caller logs it

With TRAIN.NUM_PROCESS = 0 batches are built in the calling process. Otherwise NUM_PROCESS forked workers
take batch indices from a task queue and write each batch into one of a fixed set of shared-memory slots
(2 per worker: the prefetch bound), sending back only a small message; the main process copies the batch
out, frees the slot and hands out the next task, so batches come in order and memory stays bounded. Every
chip's random draws come from (seed, epoch, chip position), so the result does not depend on which process
built it. A worker that raises, dies or stalls ends the iteration with LoaderError (worker traceback
included); the workers are always stopped when the iteration ends, breaks or is interrupted.
"""
import mmap
import multiprocessing
import queue
import signal
import time
import traceback

import cv2

from lib.data.batchify import batch_layout, batch_views, batchify, layout_nbytes
from lib.data.chip_loader import load_chip

SLOTS_PER_WORKER = 2
POLL_SECONDS = 0.2  # how often a waiting main process checks that its workers are alive
JOIN_SECONDS = 1.0


class LoaderError(RuntimeError):
    """A batch could not be built: a worker raised (its traceback is in the message), died or stalled."""


def build_batch(records, cfg, epoch_chips, batch_index, out=None):
    """Batch `batch_index` of the epoch: (batch dict, number of gts truncated from gt_boxes).

    out: arrays to write into (name -> (B, ...)), as from batch_views; new arrays when None.
    """
    size = epoch_chips.batch_size
    chips, truncated = [], 0
    for position in range(batch_index * size, (batch_index + 1) * size):
        image_index, chip = epoch_chips.entries[position]
        chip_dict, n = load_chip(records[image_index], chip, cfg, epoch_chips.chip_rng(position))
        chips.append(chip_dict)
        truncated += n
    return batchify(chips, out), truncated


def _worker_loop(records, cfg, epoch_chips, buffers, layout, tasks, results):
    """Worker process: (position, batch index, slot) tasks -> (position, slot, truncated, error) messages."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops the workers
    cv2.setNumThreads(1)
    while True:
        task = tasks.get()
        if task is None:
            break
        position, batch_index, slot = task
        try:
            _, truncated = build_batch(records, cfg, epoch_chips, batch_index, batch_views(layout, buffers[slot]))
            results.put((position, slot, truncated, None))
        except Exception:  # noqa: BLE001 - every failure goes back to the main process
            results.put((position, slot, 0, "batch %d: %s" % (batch_index, traceback.format_exc())))
    results.cancel_join_thread()


class ChipLoader:
    """Iterates over the batches of one epoch (see the module docstring).

    records: the ImageRecords that epoch_chips indexes; cfg: the config (TRAIN.NUM_PROCESS workers);
    epoch_chips: EpochChips from build_epoch; batch_indices: the batches to deliver, in order (all of the
    epoch when None; a resumed or distributed run takes its share); timeout: seconds without any batch
    before giving up.
    """

    def __init__(self, records, cfg, epoch_chips, batch_indices=None, timeout=600.0):
        self.records = records
        self.cfg = cfg
        self.epoch_chips = epoch_chips
        self.batch_indices = list(range(epoch_chips.num_batches) if batch_indices is None else batch_indices)
        if any(not 0 <= b < epoch_chips.num_batches for b in self.batch_indices):
            raise ValueError("batch_indices must lie in [0, %d)" % epoch_chips.num_batches)
        self.num_workers = int(cfg.TRAIN.NUM_PROCESS)
        self.timeout = timeout
        self.num_gts_truncated = 0
        self.worker_pids = []

    def __len__(self):
        return len(self.batch_indices)

    def __iter__(self):
        self.num_gts_truncated = 0
        batches = self._iter_workers() if self.num_workers > 0 else self._iter_in_process()
        try:
            for batch, truncated in batches:
                self.num_gts_truncated += truncated
                yield batch
        finally:
            batches.close()  # stops the workers now when the caller breaks out or is interrupted

    def _iter_in_process(self):
        for batch_index in self.batch_indices:
            yield build_batch(self.records, self.cfg, self.epoch_chips, batch_index)

    def _iter_workers(self):
        if not self.batch_indices:
            return
        ctx = multiprocessing.get_context("fork")
        layout = batch_layout(self.cfg, self.epoch_chips.batch_size)
        num_slots = min(SLOTS_PER_WORKER * self.num_workers, len(self))
        buffers = [mmap.mmap(-1, layout_nbytes(layout)) for _ in range(num_slots)]
        tasks, results = ctx.Queue(), ctx.Queue()
        workers = [ctx.Process(target=_worker_loop, daemon=True, name="chip-loader-%d" % k,
                               args=(self.records, self.cfg, self.epoch_chips, buffers, layout, tasks, results))
                   for k in range(self.num_workers)]
        finished = False
        try:
            for worker in workers:
                worker.start()
            self.worker_pids = [worker.pid for worker in workers]
            yield from self._ordered_batches(buffers, layout, tasks, results, workers)
            finished = True
        finally:
            _stop_workers(workers, tasks, graceful=finished)
            self.worker_pids = []
            for buffer in buffers:
                buffer.close()

    def _ordered_batches(self, buffers, layout, tasks, results, workers):
        """Hand out tasks (one per free slot) and yield (batch copy, truncated) in batch_indices order."""
        order = self.batch_indices
        ready = {}
        for slot in range(len(buffers)):
            tasks.put((slot, order[slot], slot))
        for position in range(len(order)):
            while position not in ready:
                done, slot, truncated = self._receive(results, workers)
                ready[done] = (slot, truncated)
            slot, truncated = ready.pop(position)
            batch = {key: view.copy() for key, view in batch_views(layout, buffers[slot]).items()}
            following = position + len(buffers)
            if following < len(order):
                tasks.put((following, order[following], slot))
            yield batch, truncated

    def _receive(self, results, workers):
        """The next (position, slot, truncated) from any worker; LoaderError on a failure or stall."""
        start = time.monotonic()
        while True:
            try:
                position, slot, truncated, error = results.get(timeout=POLL_SECONDS)
            except queue.Empty:
                _check_alive(workers)
                if time.monotonic() - start > self.timeout:
                    raise LoaderError("chip loader: no batch from %d workers in %.0f s"
                                      % (len(workers), self.timeout)) from None
                continue
            if error is not None:
                raise LoaderError("chip loader worker failed in epoch %d, %s" % (self.epoch_chips.epoch, error))
            return position, slot, truncated


def _check_alive(workers):
    """Raise LoaderError if a worker has exited (they only exit when told to)."""
    for worker in workers:
        code = worker.exitcode
        if code is not None:
            how = "was killed by signal %d" % -code if code < 0 else "exited with code %d" % code
            raise LoaderError("chip loader worker %s (pid %d) %s" % (worker.name, worker.pid, how))


def _stop_workers(workers, tasks, graceful):
    """Stop the started workers; never hangs. graceful (every task done, workers idle): ask them to exit and
    wait a little; then (or at once after a break, an error or Ctrl-C) terminate, and kill what is left."""
    started = [worker for worker in workers if worker.pid is not None]
    if graceful:
        for _ in started:
            tasks.put(None)
        _join_all(started)
    for stop in ("terminate", "kill"):
        alive = [worker for worker in started if worker.is_alive()]
        for worker in alive:
            getattr(worker, stop)()
        _join_all(alive)
    tasks.cancel_join_thread()
    tasks.close()


def _join_all(workers):
    deadline = time.monotonic() + JOIN_SECONDS
    for worker in workers:
        worker.join(max(0.0, deadline - time.monotonic()))
