"""SIGINT (Ctrl-C), SIGTERM and SIGHUP as one exception, held back while a training step is in progress.

    with InterruptGuard() as guard:
        for batch in batches:
            with guard.deferred():    # a signal here is raised when the block ends: the step is never torn
                step(batch)

`Interrupted` subclasses KeyboardInterrupt, so code that already cleans up on Ctrl-C (the loader stopping its
workers) does the same for SIGTERM and SIGHUP. The command line exits with 128 + the signal number (130 for
Ctrl-C, 143 for SIGTERM, 129 for SIGHUP), the shell's convention for a process ended by a signal.
"""
import signal
import threading

SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


class Interrupted(KeyboardInterrupt):
    """The run was asked to stop by signal `signum`; `checkpoint` is the params path written on the way out."""

    def __init__(self, signum):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum
        self.checkpoint = None
        self.in_run = False  # set by Session.run: raised while training (not while setting up)


class _Deferral:
    def __init__(self, guard, raise_pending):
        self.guard = guard
        self.raise_pending = raise_pending

    def __enter__(self):
        self.guard.depth += 1

    def __exit__(self, exc_type, exc, tb):
        guard = self.guard
        guard.depth -= 1
        if guard.depth == 0 and guard.pending is not None:
            signum, guard.pending = guard.pending, None
            if self.raise_pending and exc_type is None:
                raise Interrupted(signum)


class InterruptGuard:
    """Installs handlers raising Interrupted for SIGNALS (main thread only; elsewhere it does nothing) and
    restores the previous handlers on exit."""

    def __init__(self):
        self.depth = 0
        self.pending = None
        self._previous = {}
        self._entered = 0  # nested `with guard:` install once and restore at the outermost exit

    def __enter__(self):
        self._entered += 1
        if self._entered == 1 and threading.current_thread() is threading.main_thread():
            for signum in SIGNALS:
                self._previous[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, exc_type, exc, tb):
        self._entered -= 1
        if self._entered:
            return
        for signum, handler in self._previous.items():
            signal.signal(signum, handler)
        self._previous, self.depth, self.pending = {}, 0, None

    def _handle(self, signum, frame):
        if self.depth:
            self.pending = self.pending or signum
        else:
            raise Interrupted(signum)

    def deferred(self):
        """Context manager: a signal arriving inside is raised as Interrupted when the block ends normally
        (a second signal meanwhile is folded into the first)."""
        return _Deferral(self, raise_pending=True)

    def ignored(self):
        """Context manager: signals arriving inside are dropped (the run is already stopping: a second Ctrl-C
        must not tear the checkpoint being written on the way out)."""
        return _Deferral(self, raise_pending=False)
