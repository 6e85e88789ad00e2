"""The training iterator: batches of chips built ahead of the trainer by worker processes.

    epoch_chips = build_epoch(records, cfg, epoch, num_devices)
    loader = ChipLoader(records, cfg, epoch_chips)   # or batch_indices=[...]: a subset, in that order
    for batch in loader:          # batch: dict of numpy arrays, see lib.data.batchify.batch_layout
        ...
    loader.num_gts_truncated      # gts left out of gt_boxes (beyond dataset.MAX_GTS): the caller logs it

With TRAIN.NUM_PROCESS = 0 batches are built in the calling process. Otherwise NUM_PROCESS workers are
started from a clean "forkserver" process (never forked from the trainer, whose MXNet and OpenCV thread pools
do not survive a fork). Batch k goes to worker k mod N, which owns 2 shared-memory slots (the prefetch bound):
the main process sends a worker the records and chips of a batch, the worker writes the arrays into its slot
and answers on its own pipe with a small message; the main process copies the batch out and reuses the slot.
Every chip's random draws come from (seed, epoch, chip position), so the batches do not depend on which
process built them. A worker that raises, dies (its pipe closes) or stalls (no answer within `timeout`) ends
the iteration with LoaderError, worker traceback included; the workers are always stopped when the iteration
ends, breaks or is interrupted (Ctrl-C). As with any forkserver/spawn use of multiprocessing, a script that
runs workers needs the `if __name__ == "__main__":` guard (the forkserver imports the main module once).
"""
import dataclasses
import multiprocessing
import signal
import time
import traceback
from multiprocessing import shared_memory

import cv2
import numpy as np

from lib.data.batchify import batch_layout, batch_views, batchify, layout_nbytes
from lib.data.chip_loader import chip_canvas, load_chip

SLOTS_PER_WORKER = 2
POLL_SECONDS = 0.2  # how often a waiting main process checks that the worker it waits for is alive
JOIN_SECONDS = 1.0


class LoaderError(RuntimeError):
    """A batch could not be built: a worker raised (its traceback is in the message), died or stalled."""


def batch_items(records, epoch_chips, batch_index):
    """[(record, chip, chip seed)] of batch `batch_index`; records lose their proposals (not needed here)."""
    size = epoch_chips.batch_size
    items = []
    for position in range(batch_index * size, (batch_index + 1) * size):
        image_index, chip = epoch_chips.entries[position]
        record = records[image_index]
        if record.proposals is not None:
            record = dataclasses.replace(record, proposals=None, proposal_scores=None)
        items.append((record, chip, epoch_chips.chip_seed(position)))
    return items


def batch_canvas(items, cfg):
    """The canvas side shared by the chips of `items` (from batch_items)."""
    canvases = {chip_canvas(chip, cfg) for _, chip, _ in items}
    if len(canvases) != 1:
        raise ValueError("a batch mixes canvas sizes %s" % sorted(canvases))
    return canvases.pop()


def batch_layout_of(items, cfg):
    """The batch_layout of the batch `items` (its size and canvas)."""
    return batch_layout(cfg, len(items), batch_canvas(items, cfg))


def build_batch(items, cfg, out=None):
    """(batch dict, number of gts truncated from gt_boxes) of `items` from batch_items.

    out: arrays to write into (name -> (B, ...)), as from batch_views; new arrays when None.
    """
    chips, truncated = [], 0
    for record, chip, seed in items:
        chip_dict, n = load_chip(record, chip, cfg, np.random.default_rng(seed))
        chips.append(chip_dict)
        truncated += n
    return batchify(chips, out), truncated


def _worker_loop(cfg, slot_names, tasks, results):
    """Worker process: (slot, items) tasks, in order -> (truncated, error text or None) answers, in order."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops the workers
    cv2.setNumThreads(1)  # one core per worker
    slots = [shared_memory.SharedMemory(name=name) for name in slot_names]
    _serve(cfg, slots, tasks, results)
    for slot in slots:  # the views died with _serve's frame: the buffers can be closed
        slot.close()


def _serve(cfg, slots, tasks, results):
    """Answer tasks until the None sentinel, writing each batch into its slot's buffer (laid out per batch)."""
    while True:
        task = tasks.get()
        if task is None:
            return
        slot, items = task
        try:
            views = batch_views(batch_layout_of(items, cfg), slots[slot].buf)
            results.send((build_batch(items, cfg, views)[1], None))
        except Exception:  # noqa: BLE001 - every failure goes back to the main process
            results.send((0, traceback.format_exc()))
        views = None  # no view may outlive the loop: the slots are closed after it


class _Worker:
    """One worker process with its task queue, its answer pipe and its shared-memory slots."""

    def __init__(self, ctx, index, cfg, nbytes):
        self.slots = [shared_memory.SharedMemory(create=True, size=nbytes) for _ in range(SLOTS_PER_WORKER)]
        self.tasks = ctx.Queue()
        self.answers, writer = ctx.Pipe(duplex=False)
        self.process = ctx.Process(target=_worker_loop, daemon=True, name="chip-loader-%d" % index,
                                   args=(cfg, [slot.name for slot in self.slots], self.tasks, writer))
        self.process.start()
        writer.close()  # the worker holds the only write end: its death closes the pipe

    def describe_exit(self):
        self.process.join(JOIN_SECONDS)
        code = self.process.exitcode
        if code is None:
            return "closed its pipe"
        return "was killed by signal %d" % -code if code < 0 else "exited with code %d" % code

    def receive(self, timeout):
        """The worker's next answer (truncated, error); LoaderError if it dies or stays silent `timeout` s."""
        start = time.monotonic()
        while not self.answers.poll(POLL_SECONDS):
            if self.process.exitcode is not None:
                break
            if time.monotonic() - start > timeout:
                raise LoaderError("chip loader worker %s (pid %d) sent no batch in %.0f s"
                                  % (self.process.name, self.process.pid, timeout))
        try:
            return self.answers.recv()
        except (EOFError, OSError):
            raise LoaderError("chip loader worker %s (pid %d) %s"
                              % (self.process.name, self.process.pid, self.describe_exit())) from None

    def copy_slot(self, slot, layout):
        """A private copy of the batch in `slot`: name -> array."""
        views = batch_views(layout, self.slots[slot].buf)
        batch = {key: view.copy() for key, view in views.items()}
        del views
        return batch

    def stop(self, graceful):
        """Ask the worker to exit (graceful) or terminate it; kill it if it lingers; free its resources."""
        if graceful:
            self.tasks.put(None)
            self.process.join(JOIN_SECONDS)
        for stop in ("terminate", "kill"):
            if self.process.is_alive():
                getattr(self.process, stop)()
                self.process.join(JOIN_SECONDS)
        self.tasks.cancel_join_thread()
        self.tasks.close()
        self.answers.close()
        for slot in self.slots:
            slot.close()
            slot.unlink()


class ChipLoader:
    """Iterates over the batches of one epoch (see the module docstring).

    records: the ImageRecords that epoch_chips indexes; cfg: the config (TRAIN.NUM_PROCESS workers);
    epoch_chips: EpochChips from build_epoch; batch_indices: the batches to deliver, in order (all of the
    epoch when None; a resumed or distributed run takes its share); timeout: seconds a worker may take for
    one batch before the loader gives up.
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

    def _items(self, position):
        return batch_items(self.records, self.epoch_chips, self.batch_indices[position])

    def _iter_in_process(self):
        for position in range(len(self)):
            yield build_batch(self._items(position), self.cfg)

    def _iter_workers(self):
        ctx = multiprocessing.get_context("forkserver")
        canvas = max(chip_canvas(chip, self.cfg) for _, chip in self.epoch_chips.entries)
        nbytes = layout_nbytes(batch_layout(self.cfg, self.epoch_chips.batch_size, canvas))  # the largest batch
        workers, finished = [], False
        try:
            for index in range(min(self.num_workers, len(self))):
                workers.append(_Worker(ctx, index, self.cfg, nbytes))
            self.worker_pids = [worker.process.pid for worker in workers]
            yield from self._ordered_batches(workers)
            finished = True
        finally:
            for worker in workers:
                worker.stop(graceful=finished)
            self.worker_pids = []

    def _ordered_batches(self, workers):
        """Position p goes to worker p mod N, slot (p div N) mod SLOTS_PER_WORKER; yields (batch, truncated)."""
        n, ahead = len(workers), len(workers) * SLOTS_PER_WORKER
        layouts = {}  # position -> layout of a batch sent and not yet received

        def send(position):
            if position < len(self):
                slot = (position // n) % SLOTS_PER_WORKER
                items = self._items(position)
                layouts[position] = batch_layout_of(items, self.cfg)
                workers[position % n].tasks.put((slot, items))

        for position in range(ahead):
            send(position)
        for position in range(len(self)):
            worker = workers[position % n]
            truncated, error = worker.receive(self.timeout)
            if error is not None:
                raise LoaderError("chip loader worker %s failed on batch %d of epoch %d:\n%s"
                                  % (worker.process.name, self.batch_indices[position], self.epoch_chips.epoch,
                                     error))
            batch = worker.copy_slot((position // n) % SLOTS_PER_WORKER, layouts.pop(position))
            send(position + ahead)
            yield batch, truncated
