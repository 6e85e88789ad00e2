"""What a test can see of a process tree through /proc (Linux): descendants, liveness, mapped /dev/shm files.

Used by the fault drills (tests/test_faults_data.py, tests/test_faults_run.py) to check that a killed loader or
training run leaves no process and no shared memory behind.
"""
import contextlib
import os


def _parents():
    """{pid: parent pid} of every process readable in /proc."""
    parents = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    parents[int(entry)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
    return parents


def descendants(pid):
    """The set of pids of every live process below `pid` (children, grandchildren, ...)."""
    parents = _parents()
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def alive(pid):
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def shm_files(pids):
    """The /dev/shm files (shared memory, semaphores) mapped by `pids` that still have a name."""
    names = set()
    for pid in pids:
        with contextlib.suppress(OSError), open("/proc/%d/maps" % pid) as f:
            names.update(line.split(None, 5)[5].strip() for line in f
                         if "/dev/shm/" in line and not line.rstrip().endswith("(deleted)"))
    return names
