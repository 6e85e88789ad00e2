"""The chip loader's worker processes (used by lib.data.loader.ChipLoader).

A worker owns SLOTS_PER_WORKER shared-memory slots; it attaches them, removes their names from /dev/shm (the
memory stays mapped in both processes, and the kernel frees it when the last of them exits, however it
exits), says READY, then answers (slot, label, items) tasks in order, writing each batch into its slot. It
writes what it is doing into a small shared status buffer, which the main process quotes when the worker
stalls, and it ends itself when the main process dies (lib.data.lifeline).
"""
import signal
import time
import traceback
from multiprocessing import shared_memory

import cv2

from lib.data.batch_build import batch_layout_of, build_batch
from lib.data.batchify import batch_views
from lib.data.lifeline import exit_with_parent
from lib.dataset.errors import DatasetError

SLOTS_PER_WORKER = 2
POLL_SECONDS = 0.2  # how often a waiting main process checks that the worker it waits for is alive
JOIN_SECONDS = 1.0
STARTUP_SECONDS = 300.0  # a worker's start-up (imports on a loaded machine) is not counted in the batch timeout
STATUS_BYTES = 512
READY = "ready"


class LoaderError(RuntimeError):
    """A batch could not be built: a worker raised (its traceback is in the message), died or stalled."""


def _set_status(status, text):
    status.value = text.encode("utf-8", "replace")[:STATUS_BYTES - 1]


def _unlink(slot):
    """Remove the slot's name from /dev/shm (whichever side comes first; the memory stays mapped)."""
    try:
        slot.unlink()
    except FileNotFoundError:
        pass


def _worker_loop(spec, slot_names, tasks, answers, lifeline, status):
    """Worker process: READY, then (slot, label, items) tasks in order -> (truncated, error) answers in order;
    error is None, ("data", one line) for bad input, or ("bug", traceback)."""
    exit_with_parent(lifeline)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the main process handles Ctrl-C and stops the workers
    cv2.setNumThreads(1)  # one core per worker
    slots = [shared_memory.SharedMemory(name=name) for name in slot_names]
    for slot in slots:
        _unlink(slot)
    answers.send(READY)
    _serve(spec, slots, tasks, answers, status)
    for slot in slots:  # the views died with _serve's frame: the buffers can be closed
        slot.close()


def _serve(spec, slots, tasks, answers, status):
    """Answer tasks until the None sentinel, writing each batch into its slot's buffer (laid out per batch)."""
    while True:
        _set_status(status, "waiting for a task")
        task = tasks.get()
        if task is None:
            return
        slot, label, items = task

        def report(k, n, record):
            _set_status(status, "building %s: chip %d of %d, image %s" % (label, k + 1, n, record.image))

        try:
            views = batch_views(batch_layout_of(items, spec), slots[slot].buf)
            answers.send((build_batch(items, spec, out=views, report=report)[1], None))
        except DatasetError as e:
            answers.send((0, ("data", str(e))))
        except Exception:  # noqa: BLE001 - every failure goes back to the main process
            answers.send((0, ("bug", traceback.format_exc())))
        views = None  # no view may outlive the loop: the slots are closed after it


def _process_state(pid):
    """The kernel's state line of `pid` (e.g. "T (stopped)", "D (disk sleep)"), or "unknown"."""
    try:
        with open("/proc/%d/status" % pid) as f:
            return next((line.split(":", 1)[1].strip() for line in f if line.startswith("State:")), "unknown")
    except OSError:
        return "unknown"


class WorkerHandle:
    """The main process's side of one worker: its process, task queue, answer pipe, slots and status."""

    def __init__(self, ctx, index, *, spec, nbytes, lifeline):
        self.index = index
        self.slots = [shared_memory.SharedMemory(create=True, size=nbytes) for _ in range(SLOTS_PER_WORKER)]
        self.status = ctx.RawArray("c", STATUS_BYTES)
        self.tasks = ctx.Queue()
        self.answers, writer = ctx.Pipe(duplex=False)
        self.ready = False
        self.stopped = False
        self.process = ctx.Process(target=_worker_loop, daemon=True, name="chip-loader-%d" % index,
                                   args=(spec, [slot.name for slot in self.slots], self.tasks, writer,
                                         lifeline, self.status))
        self.process.start()
        writer.close()  # the worker holds the only write end: its death closes the pipe

    def describe(self):
        return "chip loader worker %d (pid %d)" % (self.index, self.process.pid)

    def describe_exit(self):
        self.process.join(JOIN_SECONDS)
        code = self.process.exitcode
        if code is None:
            return "closed its pipe"
        return "was killed by signal %d" % -code if code < 0 else "exited with code %d" % code

    def describe_stall(self, seconds):
        if not self.ready:
            return "%s did not start in %.0f s (process state %s)" % (self.describe(), seconds,
                                                                      _process_state(self.process.pid))
        doing = self.status.value.decode("utf-8", "replace")
        return ("%s sent no batch in %.0f s (TRAIN.LOADER_TIMEOUT); it was %s; process state %s"
                % (self.describe(), seconds, doing, _process_state(self.process.pid)))

    def send(self, slot, label, items):
        if self.stopped:
            raise LoaderError("the chip loader was closed")
        self.tasks.put((slot, label, items))

    def receive(self, timeout):
        """The worker's next answer (truncated, error); LoaderError if it dies or stays silent for `timeout` s
        after it started (STARTUP_SECONDS, at least `timeout`, for its start-up)."""
        start = time.monotonic()
        while True:
            try:
                if self.answers.poll(POLL_SECONDS):
                    answer = self.answers.recv()
                    if answer != READY:
                        return answer
                    self.ready, start = True, time.monotonic()
                    continue
            except (EOFError, OSError):
                raise LoaderError("%s %s" % (self.describe(), self.describe_exit())) from None
            limit = timeout if self.ready else max(timeout, STARTUP_SECONDS)
            if time.monotonic() - start > limit:
                raise LoaderError(self.describe_stall(limit))

    def copy_slot(self, slot, layout):
        """A private copy of the batch in `slot`: name -> array."""
        views = batch_views(layout, self.slots[slot].buf)
        batch = {key: view.copy() for key, view in views.items()}
        del views
        return batch

    def stop(self, graceful):
        """Ask the worker to exit (graceful) or terminate it; kill it if it lingers; free its resources.
        Idempotent, and safe to call from a signal handler while the main thread uses the worker."""
        if self.stopped:
            return
        self.stopped = True
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
            _unlink(slot)  # a worker that never attached left the name
            try:
                slot.close()
            except BufferError:  # a batch view of the interrupted main thread: unmapped when it is collected
                pass
