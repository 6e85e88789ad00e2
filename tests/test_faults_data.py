"""Fault drill of the data side: killed writers and loaders, stalled workers, corrupt and malicious input.

Every case stops with one line naming the file (or worker), or is cleaned up; see README "Faults and bad input".
"""
import contextlib
import json
import os
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from lib.utils.atomic import atomic_write, remove_stale_tmp

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _python(code, **kwargs):
    """A child python running `code` from the repository root (tests/ importable)."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([ROOT, os.path.join(ROOT, "tests")]), OMP_NUM_THREADS="1")
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], cwd=ROOT, env=env,
                            stdout=subprocess.PIPE, text=True, **kwargs)


# ---- stale temporary files ----------------------------------------------------------------------------------

def test_tmp_file_of_a_writer_killed_mid_write_is_removed_at_next_start(tmp_path):
    target = tmp_path / "SNIPER-0001.params"
    writer = _python("""
        import sys, time
        from lib.utils.atomic import atomic_write
        def write(tmp):
            open(tmp, "wb").write(b"half")
            print(tmp, flush=True)
            time.sleep(600)
        atomic_write(%r, write)
        """ % str(target))
    tmp = writer.stdout.readline().strip()
    assert os.path.basename(tmp).startswith(".tmp-%d-SNIPER-0001.params-" % writer.pid)
    assert remove_stale_tmp(str(tmp_path), started=time.time() + 1) == []  # its writer is alive: kept
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert os.path.exists(tmp) and not target.exists()
    assert remove_stale_tmp(str(tmp_path), started=time.time() + 1) == [tmp]
    assert os.listdir(tmp_path) == []


def test_remove_stale_tmp_keeps_new_and_foreign_files(tmp_path):
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    old = time.time() - 100
    names = {"stale": ".tmp-%d-a.json-abcd1234" % dead.pid,      # writer gone, older than us: removed
             "legacy": ".tmp-a.json-abcd1234",                   # no pid, older than us: removed
             "live": ".tmp-%d-b.json-abcd1234" % os.getpid(),    # a live writer: kept
             "new": ".tmp-%d-c.json-abcd1234" % dead.pid,        # newer than the start time: kept
             "other": "tmp-d.json"}                              # not a temporary file: kept
    for key, name in names.items():
        (tmp_path / name).write_bytes(b"x")
        if key != "new":
            os.utime(tmp_path / name, (old, old))
    removed = remove_stale_tmp(str(tmp_path), started=time.time() - 10)
    assert sorted(os.path.basename(p) for p in removed) == sorted([names["stale"], names["legacy"]])
    assert sorted(os.listdir(tmp_path)) == sorted([names["live"], names["new"], names["other"]])
    assert remove_stale_tmp(str(tmp_path / "missing")) == []
    atomic_write(str(tmp_path / "x.txt"), lambda tmp: open(tmp, "w").write("ok"))
    assert (tmp_path / "x.txt").read_text() == "ok"


# ---- processes and shared memory of a killed loader -------------------------------------------------------

def _children():
    """{parent pid: [child pids]} of every process."""
    tree = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open("/proc/%s/stat" % entry) as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            tree.setdefault(ppid, []).append(int(entry))
    return tree


def _descendants(pid):
    tree, found, todo = _children(), [], [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def _alive(pid):
    """True while `pid` runs (a zombie waiting for its reaper counts as gone)."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _shm_files(pids):
    """The /dev/shm files (shared memory, semaphores) mapped by `pids` that still have a name."""
    names = set()
    for pid in pids:
        try:
            with open("/proc/%d/maps" % pid) as f:
                names.update(line.split(None, 5)[5].strip() for line in f
                             if "/dev/shm/" in line and not line.rstrip().endswith("(deleted)"))
        except OSError:
            continue
    return names


def _kill_and_wait(victim, sig, run_pids, shm, bound=30.0):
    """Send `sig` to the victim; wait up to `bound` s for every pid of `run_pids` and file of `shm` to go.
    Returns (pids still alive, files still there)."""
    victim.send_signal(sig)
    victim.wait()
    deadline = time.monotonic() + bound
    while True:
        left = [pid for pid in run_pids if _alive(pid)], sorted(p for p in shm if os.path.exists(p))
        if not any(left) or time.monotonic() > deadline:
            return left


def _wait_for_tree(pid, size, bound=60.0):
    """The descendants of `pid` once there are at least `size` of them."""
    deadline = time.monotonic() + bound
    while len(_descendants(pid)) < size and time.monotonic() < deadline:
        time.sleep(0.1)
    return _descendants(pid)


@contextlib.contextmanager
def _victim(code):
    """A child python running `code`; if the test fails, it and what it started (`run`, filled by the test) are
    killed and the /dev/shm files they mapped (`shm`) removed, so that a failing test leaves nothing behind."""
    proc, run, shm = _python(code), [], set()
    try:
        yield proc, run, shm
    finally:
        for pid in [proc.pid] + run:
            try:
                with open("/proc/%d/cmdline" % pid, "rb") as f:
                    ours = b"multiprocessing" in f.read() or pid == proc.pid
                if ours:
                    os.kill(pid, signal.SIGKILL)
            except (OSError, ProcessLookupError):
                continue
        proc.wait()
        for path in shm:
            with contextlib.suppress(OSError):
                os.remove(path)


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_loader_leaves_no_process_and_no_shared_memory(tmp_path, sig):
    """kill -9 (or a SIGTERM nobody handles) of a process iterating a 2-worker loader: its workers, the fork
    server and the resource tracker end, and the slots and semaphores leave /dev/shm, within 30 s."""
    code = "from loader_helpers import run_loader_then_sleep\nrun_loader_then_sleep(%r)" % str(tmp_path / "images")
    with _victim(code) as (victim, run, shm):
        line = victim.stdout.readline()
        assert line, "the loader process did not start"
        run += _descendants(victim.pid)
        shm |= _shm_files([victim.pid] + run)
        assert set(json.loads(line)["workers"]) <= set(run) and len(run) >= 4  # + fork server, resource tracker
        assert any("sem." in name for name in shm)  # the task queues' semaphores
        alive, files = _kill_and_wait(victim, sig, run, shm)
        assert alive == [] and files == []


def test_killed_chip_mining_leaves_no_process(tmp_path):
    """kill -9 of a process mining chips in a 2-process pool: the pool's processes and the fork server end."""
    with _victim("from loader_helpers import run_mining_then_sleep\nrun_mining_then_sleep()") as (victim, run, shm):
        assert victim.stdout.readline().strip() == "mining"
        run += _wait_for_tree(victim.pid, 3)  # the fork server and 2 pool processes
        shm |= _shm_files([victim.pid] + run)
        assert len(run) >= 3
        alive, files = _kill_and_wait(victim, signal.SIGKILL, run, shm)
        assert alive == [] and files == []
