"""Child processes that end when the process that started them dies, even by kill -9 or the OOM killer.

The parent keeps the only write end of a pipe and gives the read end to its children; a daemon thread in each
child waits on it and ends the child when it reaches end of file, which the kernel delivers once the parent is
gone (however it died). A forkserver child's parent process is the fork server, so the parent's death cannot be
seen through getppid() or PR_SET_PDEATHSIG; the pipe sees it.

    lifeline = Lifeline(multiprocessing.get_context("forkserver"))
    ctx.Process(target=..., args=(lifeline.reader, ...))   # the child calls exit_with_parent(reader) first
    ...
    lifeline.close()                                         # the children end (if still running)
"""
import multiprocessing.connection
import os
import threading

PARENT_GONE_EXIT_CODE = 3


class Lifeline:
    """A one-way pipe whose write end only this process holds: `reader` goes to the children."""

    def __init__(self, ctx):
        self.reader, self._writer = ctx.Pipe(duplex=False)

    def close(self):
        """Close both ends here: children still watching the pipe end."""
        self.reader.close()
        self._writer.close()


def _exit_at_end_of_file(reader):
    multiprocessing.connection.wait([reader])  # nothing is ever written: ready means end of file
    os._exit(PARENT_GONE_EXIT_CODE)  # the main thread may be blocked in a read; there is nothing to flush


def exit_with_parent(reader):
    """In a child process: end the process (exit code 3) as soon as `reader` (a Lifeline's) reaches end of file."""
    threading.Thread(target=_exit_at_end_of_file, args=(reader,), name="lifeline", daemon=True).start()
