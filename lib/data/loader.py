"""The training iterator: batches of chips built ahead of the trainer by worker processes.

    epoch_chips = build_epoch(records, cfg, epoch, num_devices)
    with ChipLoader(records, cfg, epoch_chips) as loader:   # or batch_indices=[...]: a subset, in that order
        for batch in loader:      # batch: dict of numpy arrays, see lib.data.batchify.batch_layout
            ...
    loader.num_gts_truncated      # gts left out of gt_boxes (beyond dataset.MAX_GTS): the caller logs it

With TRAIN.NUM_PROCESS = 0 batches are built in the calling process. Otherwise NUM_PROCESS workers are
started from a clean "forkserver" process (never forked from the trainer, whose MXNet and OpenCV thread pools
do not survive a fork). Batch k goes to worker k mod N, which owns 2 shared-memory slots (the prefetch bound):
the main process sends a worker the records and chips of a batch, the worker writes the arrays into its slot
and answers on its own pipe with a small message; the main process copies the batch out and reuses the slot.
Every chip's random draws come from (seed, epoch, chip position), so the batches do not depend on which
process built them.

Faults: bad input found by a worker (a truncated image, a size that differs from the annotation) raises the
worker's one-line DatasetError; a worker that raises otherwise or dies ends the iteration with LoaderError
(worker traceback included); one that sends no batch within TRAIN.LOADER_TIMEOUT seconds after its start-up
ends it with a LoaderError naming the worker, its pid, what it was doing (batch, chip, image) and its process
state. The workers are stopped when the iteration ends, breaks or is interrupted (Ctrl-C), and by `close()`.
When the main process dies (kill -9, OOM killer) the workers end within a second, then the fork server and
the resource tracker; the shared-memory slots have no name in /dev/shm once the workers have started.
As with any forkserver/spawn use of multiprocessing, a script that runs workers needs the
`if __name__ == "__main__":` guard (the forkserver imports the main module once).
"""
import multiprocessing

from lib.config import ConfigError
from lib.data.batch_build import batch_items, batch_layout_of, build_batch
from lib.data.batchify import batch_layout, layout_nbytes
from lib.data.lifeline import Lifeline
from lib.data.loader_worker import SLOTS_PER_WORKER, LoaderError, WorkerHandle
from lib.dataset.errors import DatasetError
from lib.specs.training import LoaderSpec

__all__ = ["ChipLoader", "LoaderError", "batch_items", "build_batch"]


class ChipLoader:
    """Iterates over the batches of one epoch (see the module docstring).

    records: the ImageRecords that epoch_chips indexes; cfg: the config, read once into a LoaderSpec (which
    the workers receive; TRAIN.NUM_PROCESS workers);
    epoch_chips: EpochChips from build_epoch; batch_indices: the batches to deliver, in order (all of the
    epoch when None; a resumed or distributed run takes its share); timeout: seconds a started worker may take
    for one batch before the loader gives up (default TRAIN.LOADER_TIMEOUT).
    """

    def __init__(self, records, cfg, epoch_chips, *, batch_indices=None, timeout=None):
        self.records = records
        self.spec = LoaderSpec.from_config(cfg)
        self.epoch_chips = epoch_chips
        self.batch_indices = list(range(epoch_chips.num_batches) if batch_indices is None else batch_indices)
        if any(not 0 <= b < epoch_chips.num_batches for b in self.batch_indices):
            raise ValueError("batch_indices must lie in [0, %d)" % epoch_chips.num_batches)
        self.num_workers = self.spec.num_workers
        self.timeout = float(self.spec.timeout if timeout is None else timeout)
        if not self.timeout > 0:
            raise ConfigError("config key TRAIN.LOADER_TIMEOUT: must be > 0 seconds, got %r" % self.timeout)
        self.num_gts_truncated = 0
        self.worker_pids = []
        self._workers = []

    def __len__(self):
        return len(self.batch_indices)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def close(self):
        """Stop the running iteration's workers now and free their shared memory (idempotent; safe to call
        from a signal handler: the interrupted iteration then ends with LoaderError)."""
        for worker in self._workers:
            worker.stop(graceful=False)

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

    def _label(self, position):
        return "batch %d of epoch %d" % (self.batch_indices[position], self.epoch_chips.epoch)

    def _iter_in_process(self):
        for position in range(len(self)):
            yield build_batch(self._items(position), self.spec)

    def _iter_workers(self):
        ctx = multiprocessing.get_context("forkserver")
        canvas = max(chip.canvas for _, chip in self.epoch_chips.entries)
        nbytes = layout_nbytes(batch_layout(self.spec, self.epoch_chips.batch_size, canvas))  # the largest batch
        lifeline, finished = Lifeline(ctx), False
        self._workers = []
        try:
            for index in range(min(self.num_workers, len(self))):
                self._workers.append(WorkerHandle(ctx, index, spec=self.spec, nbytes=nbytes, lifeline=lifeline.reader))
            self.worker_pids = [worker.process.pid for worker in self._workers]
            yield from self._ordered_batches(self._workers)
            finished = True
        finally:
            for worker in self._workers:
                worker.stop(graceful=finished)
            lifeline.close()
            self._workers, self.worker_pids = [], []

    def _ordered_batches(self, workers):
        """Position p goes to worker p mod N, slot (p div N) mod SLOTS_PER_WORKER; yields (batch, truncated)."""
        n, ahead = len(workers), len(workers) * SLOTS_PER_WORKER
        layouts = {}  # position -> layout of a batch sent and not yet received

        def send(position):
            if position < len(self):
                items = self._items(position)
                layouts[position] = batch_layout_of(items, self.spec)
                workers[position % n].send((position // n) % SLOTS_PER_WORKER, self._label(position), items)

        for position in range(ahead):
            send(position)
        for position in range(len(self)):
            worker = workers[position % n]
            truncated, error = worker.receive(self.timeout)
            if error is not None:
                kind, text = error
                if kind == "data":
                    raise DatasetError(text)
                raise LoaderError("%s failed on %s:\n%s" % (worker.describe(), self._label(position), text))
            batch = worker.copy_slot((position // n) % SLOTS_PER_WORKER, layouts.pop(position))
            send(position + ahead)
            yield batch, truncated
