"""Fault drill of the data side: killed writers and loaders, stalled workers, corrupt and malicious input.

Every case stops with one line naming the file (or worker), or is cleaned up; see README "Faults and bad input".
"""
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
