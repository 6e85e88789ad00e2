"""Fault drill of a training run: output folders that protect runs, signals, corrupt checkpoints and logs,
bad values, unwritable or full output disks. Each case ends in one line (exit 2 for a user mistake, 1 for a
fault of the machine, 128 + signal for a stopped run), never a traceback and never a mixed run."""
import contextlib
import json
import os
import shutil
import signal
import subprocess
import time

import pytest

import lib.train.logbook as logbook_module
from lib.config import ConfigError
from lib.model.checkpoint_names import CheckpointError
from lib.train.checkpoint import latest_checkpoint, list_checkpoints
from lib.train.output_errors import OutputError
from lib.train.run_dir import CONFIG_FILE, LOCK_FILE, RunFolderError
from lib.train.trainer import Session
from process_helpers import alive, descendants, shm_files
from train_helpers import QUICKSTART_CFG, ROOT, tiny_config, tiny_dataset, tiny_words, train_command, train_tiny

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tiny_dataset(tmp_path_factory.mktemp("shapes_tiny"))


@pytest.fixture(scope="module")
def two_epochs(data_dir, tmp_path_factory):
    """The output root of a tiny run of two epochs (SNIPER-0001 and SNIPER-0002); copy it before changing it."""
    out = tmp_path_factory.mktemp("two_epochs")
    train_tiny(data_dir, out, "TRAIN.end_epoch", "2")
    return out


def _copy_run(source, tmp_path):
    out = tmp_path / "out"
    shutil.copytree(source, out)
    return out


def _folder(out):
    return os.path.join(str(out), "shapes_cpu", "train")


def _rows(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def _one_line(text):
    """The line a command ended with (log lines and progress bars aside); no traceback anywhere."""
    lines = [line for line in text.splitlines() if line.startswith(("error:", "interrupted by"))]
    assert len(lines) == 1 and "Traceback" not in text and text.strip().endswith(lines[0]), text[-3000:]
    return lines[0]


def _truncate(path):
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:len(data) // 2])


# ---------------------------------------------------------------- output folders that protect runs

def test_new_run_into_a_folder_with_checkpoints_refuses(data_dir, two_epochs, tmp_path):
    out = _copy_run(two_epochs, tmp_path)
    folder = _folder(out)
    def files():  # every file of the old run but the lock, which each run rewrites
        return {name: os.path.getmtime(os.path.join(folder, name)) for name in os.listdir(folder) if name != LOCK_FILE}
    before = files()
    done = subprocess.run(train_command(data_dir, out), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2
    line = _one_line(done.stderr)
    assert folder in line and "--resume" in line and "--overwrite" in line and "output_path" in line
    assert files() == before


def test_overwrite_deletes_the_old_run_first(data_dir, two_epochs, tmp_path):
    out = _copy_run(two_epochs, tmp_path)
    Session(tiny_config(data_dir, out), overwrite=True).run()  # one epoch
    assert [e for e, _, _ in list_checkpoints(_folder(out))] == [1]  # the old run's SNIPER-0002 is gone
    assert {r["epoch"] for r in _rows(_folder(out))} == {1}
    with pytest.raises(RunFolderError, match="--resume .* --overwrite"):
        Session(tiny_config(data_dir, out), resume=True, overwrite=True)


def test_a_second_run_into_a_locked_folder_refuses(data_dir, tmp_path):
    first = Session(tiny_config(data_dir, tmp_path))
    with pytest.raises(RunFolderError, match=r"another training run \(pid %d\) is writing into" % os.getpid()):
        Session(tiny_config(data_dir, tmp_path))
    first.run()  # the lock goes with the run
    resumed = Session(tiny_config(data_dir, tmp_path, "TRAIN.end_epoch", "2"), resume=True)
    assert resumed.progress["epoch"] == 1


def test_resume_refuses_other_values_of_training_keys_and_names_them(data_dir, two_epochs, tmp_path):
    out = _copy_run(two_epochs, tmp_path)
    with open(os.path.join(_folder(out), CONFIG_FILE)) as f:
        assert json.load(f)["TRAIN"]["lr"] == 0.005
    with pytest.raises(RunFolderError) as err:
        Session(tiny_config(data_dir, out, "TRAIN.lr", "0.01", "TRAIN.FLIP", "True", "TRAIN.end_epoch", "3"),
                resume=True)
    assert "TRAIN.lr 0.005 -> 0.01" in str(err.value) and "TRAIN.FLIP False -> True" in str(err.value)
    # keys that do not change training may differ
    session = Session(tiny_config(data_dir, out, "TRAIN.end_epoch", "3", "TRAIN.DISPLAY", "5", "TRAIN.NUM_PROCESS",
                                  "1", "TEST.TEST_EPOCH", "2"), resume=True)
    assert session.progress["epoch"] == 2


def test_stale_temporary_files_are_removed_at_the_next_start(data_dir, tmp_path):
    folder = _folder(tmp_path)
    os.makedirs(folder)
    stale = os.path.join(folder, ".tmp-%d-SNIPER-0001.params-abc" % (2 ** 22 + 7))  # beyond any pid: dead
    open(stale, "w").close()
    os.utime(stale, (time.time() - 3600, time.time() - 3600))
    Session(tiny_config(data_dir, tmp_path))
    assert not os.path.exists(stale)


# ---------------------------------------------------------------- signals

def test_a_signal_inside_a_step_waits_for_its_end_and_a_second_one_is_folded():
    from lib.train.signals import InterruptGuard, Interrupted
    finished = []
    with InterruptGuard() as guard:
        with pytest.raises(Interrupted) as stopped:
            with guard.deferred():
                os.kill(os.getpid(), signal.SIGTERM)
                os.kill(os.getpid(), signal.SIGHUP)
                finished.append("step")  # the handler ran above and did not tear the block
        with guard.ignored():  # the checkpoint on the way out
            os.kill(os.getpid(), signal.SIGINT)
            finished.append("checkpoint")
    assert finished == ["step", "checkpoint"] and stopped.value.signum == signal.SIGTERM
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL  # the previous handlers are back


def test_a_nested_guard_restores_the_handlers_at_its_outermost_exit():
    from lib.train.signals import InterruptGuard
    before = signal.getsignal(signal.SIGINT)
    guard = InterruptGuard()
    with guard:
        with guard:  # entered again (a run inside a run's guard) must not record its own handler as "previous"
            pass
        assert signal.getsignal(signal.SIGINT) == guard._handle  # still guarded until the outer exit
    assert signal.getsignal(signal.SIGINT) == before


def _wait_for_rows(folder, proc, count):
    deadline = time.time() + 300
    path = os.path.join(folder, "metrics.jsonl")
    while time.time() < deadline and proc.poll() is None:
        if os.path.exists(path) and len(open(path).read().splitlines()) >= count:
            return
        time.sleep(0.1)
    raise AssertionError("the run logged fewer than %d rows (exit %s)" % (count, proc.poll()))


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGHUP, signal.SIGINT])
def test_a_signal_stops_the_run_with_a_checkpoint_and_nothing_left_running(data_dir, tmp_path, signum):
    """SIGINT goes to the process group, as Ctrl-C in a terminal; SIGTERM and SIGHUP to the trainer only."""
    folder = _folder(tmp_path)
    command = train_command(data_dir, tmp_path, "TRAIN.NUM_PROCESS", "1", "TRAIN.end_epoch", "40")
    proc = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    try:
        _wait_for_rows(folder, proc, 3)
        children = descendants(proc.pid)
        slots = shm_files(children | {proc.pid})
        assert children and slots, "the run has no loader worker"
        if signum == signal.SIGINT:
            os.killpg(proc.pid, signum)
        else:
            os.kill(proc.pid, signum)
        _, stderr = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 128 + signum, stderr[-3000:]
    line = _one_line(stderr)
    assert line.startswith("interrupted by %s: checkpoint " % signal.Signals(signum).name), line
    deadline = time.time() + 10
    while time.time() < deadline and any(alive(pid) for pid in children):
        time.sleep(0.2)
    assert not [pid for pid in children if alive(pid)], "processes of the run survived it"
    assert not [path for path in slots if os.path.exists(path)], "shared memory of the run survived it"
    progress, stem = latest_checkpoint(folder)
    logged = _rows(folder)[-1]["iteration"]
    assert progress["num_update"] == logged and stem + ".params" in line  # nothing trained is lost
    if signum != signal.SIGTERM:
        return
    end = progress["epoch"] + 1
    resumed = Session(tiny_config(data_dir, tmp_path, "TRAIN.end_epoch", str(end)), resume=True)
    assert resumed.progress["num_update"] == logged
    resumed.run()
    iterations = [r["iteration"] for r in _rows(folder)]
    assert iterations == list(range(1, len(iterations) + 1)) and iterations[-1] > logged


# ---------------------------------------------------------------- corrupt checkpoints and logs

@pytest.mark.parametrize("ext", [".params", ".states", ".json"])
def test_resume_skips_a_corrupt_checkpoint_for_the_newest_intact_one(data_dir, two_epochs, tmp_path, caplog, ext):
    out = _copy_run(two_epochs, tmp_path)
    damaged = os.path.join(_folder(out), "SNIPER-0002" + ext)
    _truncate(damaged)
    session = Session(tiny_config(data_dir, out, "TRAIN.end_epoch", "3"), resume=True)
    assert session.progress["epoch"] == 1
    assert any(damaged in r.getMessage() and r.levelname == "WARNING" for r in caplog.records)
    session.run()
    assert [r["epoch"] for r in _rows(_folder(out))] == sorted(r["epoch"] for r in _rows(_folder(out)))
    assert latest_checkpoint(_folder(out))[0]["epoch"] == 3


def test_resume_with_every_checkpoint_corrupt_says_so(data_dir, two_epochs, tmp_path):
    out = _copy_run(two_epochs, tmp_path)
    for name in ("SNIPER-0001.params", "SNIPER-0002.json"):
        _truncate(os.path.join(_folder(out), name))
    with pytest.raises(CheckpointError, match="no intact checkpoint in .*--overwrite"):
        Session(tiny_config(data_dir, out, "TRAIN.end_epoch", "3"), resume=True)


def test_a_half_written_metrics_line_is_dropped_on_resume(data_dir, two_epochs, tmp_path, caplog):
    out = _copy_run(two_epochs, tmp_path)
    path = os.path.join(_folder(out), "metrics.jsonl")
    kept = len(_rows(_folder(out)))
    with open(path, "a") as f:
        f.write('{"RPNLogLoss": 0.3, "iterat')
    session = Session(tiny_config(data_dir, out, "TRAIN.end_epoch", "3"), resume=True)
    session.run()
    assert any("metrics.jsonl line %d" % (kept + 1) in r.getMessage() for r in caplog.records)
    iterations = [r["iteration"] for r in _rows(_folder(out))]  # every line parses again
    assert iterations == list(range(1, len(iterations) + 1)) and len(iterations) > kept


def _cli(module, argv, capsys):
    with pytest.raises(SystemExit) as done:
        module.main(argv)
    return done.value.code, capsys.readouterr().err


def test_main_test_and_demo_name_a_truncated_checkpoint(data_dir, two_epochs, tmp_path, capsys):
    import demo
    import main_test
    out = _copy_run(two_epochs, tmp_path)
    params = os.path.join(_folder(out), "SNIPER-0001.params")
    _truncate(params)
    words = ["--cfg", QUICKSTART_CFG, "--set"] + tiny_words(data_dir, out)
    code, err = _cli(main_test, words, capsys)
    assert code == 2 and params in _one_line(err) and "truncated or corrupt" in err
    code, err = _cli(demo, ["--im_path", _any_image(data_dir), "--out", str(tmp_path / "drawn")] + words, capsys)
    assert code == 2 and params in _one_line(err) and "truncated or corrupt" in err


def _any_image(root):
    for folder, _, names in os.walk(root):
        for name in sorted(names):
            if name.endswith((".png", ".jpg")):
                return os.path.join(folder, name)
    raise AssertionError("no image in %s" % root)


def test_a_checkpoint_of_another_class_count_names_both_counts(data_dir, two_epochs, tmp_path, capsys):
    import demo
    params = os.path.join(_folder(two_epochs), "SNIPER-0001.params")
    words = ["--im_path", _any_image(data_dir), "--out", str(tmp_path / "drawn"), "--cfg", QUICKSTART_CFG,
             "--set"] + tiny_words(data_dir, two_epochs) + ["dataset.NUM_CLASSES", "4"]
    code, err = _cli(demo, words, capsys)
    line = _one_line(err)
    assert code == 2 and params in line and "predicts 6 classes" in line and "dataset.NUM_CLASSES = 4" in line


# ---------------------------------------------------------------- bad values

@pytest.mark.parametrize("words, key", [
    (["TRAIN.BATCH_IMAGES", "0"], "TRAIN.BATCH_IMAGES"),
    (["TRAIN.CHIP_SIZE", "0"], "TRAIN.CHIP_SIZE"),
    (["TRAIN.lr_step", "abc"], "TRAIN.lr_step"),
    (["TRAIN.SCALES", "(1.5, 0.833, 256.0)", "TRAIN.VALID_RANGES", "((-1, 80),)"], "TRAIN.VALID_RANGES"),
    (["TEST.BATCH_IMAGES", "(1,)"], "TEST.BATCH_IMAGES"),
    (["TRAIN.momentum", "1.5"], "TRAIN.momentum"),
    (["TRAIN.end_epoch", "-1"], "TRAIN.end_epoch"),
])
def test_bad_values_of_the_right_type_get_one_line(data_dir, tmp_path, capsys, words, key):
    import main_train
    code, err = _cli(main_train, ["--cfg", QUICKSTART_CFG, "--set"] + tiny_words(data_dir, tmp_path) + words, capsys)
    assert code == 2 and _one_line(err).startswith("error: config key %s: " % key)
    with pytest.raises(ConfigError, match="config key %s: " % key):
        tiny_config(data_dir, tmp_path, *words)


# ---------------------------------------------------------------- unwritable and full output disks

@contextlib.contextmanager
def _mounted(target, *steps):
    """Mount `target` with each argument list of `steps` in turn (root only: the test is skipped otherwise)."""
    os.makedirs(target, exist_ok=True)
    mounts = 0
    try:
        for step in steps:
            done = subprocess.run(["mount"] + list(step) + [target], capture_output=True, text=True)
            if done.returncode:
                pytest.skip("cannot mount here: %s" % done.stderr.strip())
            mounts += 1
        yield target
    finally:
        if mounts:  # a remount changes the one mount
            subprocess.run(["umount", target], capture_output=True)


def test_a_full_output_disk_is_one_line_and_exit_1(data_dir, tmp_path):
    out = str(tmp_path / "small")
    with _mounted(out, ["-t", "tmpfs", "-o", "size=3m", "tmpfs"]):  # the first checkpoint does not fit
        done = subprocess.run(train_command(data_dir, out), cwd=ROOT, capture_output=True, text=True, timeout=300)
        leftovers = [n for n in os.listdir(_folder(out)) if n.startswith(".tmp-")]
    assert done.returncode == 1, done.stderr[-3000:]
    line = _one_line(done.stderr)
    assert line.startswith("error: cannot write checkpoint %s/SNIPER-0001." % _folder(out))
    assert "No space left on device" in line or "the write was incomplete" in line  # Python's or MXNet's write
    assert not leftovers


def test_a_read_only_output_folder_is_one_line_and_exit_2(data_dir, tmp_path):
    out = str(tmp_path / "readonly")
    with _mounted(out, ["--bind", out], ["-o", "remount,bind,ro"]):
        done = subprocess.run(train_command(data_dir, out), cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-3000:]
    line = _one_line(done.stderr)
    assert out in line and "Read-only file system" in line and "output_path" in line


def test_a_metrics_write_on_a_full_disk_names_the_file(data_dir, tmp_path, monkeypatch):
    """Without root: the metrics log is appended to /dev/full (every write fails with ENOSPC)."""
    def full_open(path, mode="r", *args, **kwargs):
        if str(path).endswith("metrics.jsonl") and mode == "a":
            path = "/dev/full"
        return open(path, mode, *args, **kwargs)
    monkeypatch.setattr(logbook_module, "open", full_open, raising=False)
    with pytest.raises(OutputError) as err:
        train_tiny(data_dir, tmp_path)
    assert err.value.exit_code == 1
    assert str(err.value).startswith("cannot write the metrics log %s/metrics.jsonl: No space left on device"
                                     % _folder(tmp_path))
