"""The multiprocess loader: same batches as in-process, in order; errors and dead workers end the iteration."""
import os
import signal
import time

import numpy as np
import pytest

from lib.data.batchify import batch_layout
from lib.specs.training import LoaderSpec
from lib.data.loader import ChipLoader, LoaderError
from lib.dataset.errors import DatasetError
from loader_helpers import small_setup


def collect(loader):
    return [batch for batch in loader]


def gone(pid):
    return not os.path.exists("/proc/%d" % pid)


def test_batches_have_the_documented_layout(tmp_path):
    records, cfg, ep = small_setup(tmp_path, num_batches=2)
    loader = ChipLoader(records, cfg, ep)
    batches = collect(loader)
    assert len(loader) == len(batches) == 2
    for key, (shape, dtype) in batch_layout(LoaderSpec.from_config(cfg), 2, cfg.TRAIN.CHIP_SIZE).items():
        assert batches[0][key].shape == shape and batches[0][key].dtype == dtype, key
    assert batches[0]["rpn_label"].shape == (2, 21 * 8 * 8)
    assert batches[0]["gt_boxes"].shape == (2, 100, 5)


def test_two_workers_give_the_in_process_batches_in_order(tmp_path):
    records, cfg, ep = small_setup(tmp_path)
    serial = collect(ChipLoader(records, cfg, ep))
    cfg.TRAIN.NUM_PROCESS = 2
    parallel = collect(ChipLoader(records, cfg, ep))
    assert len(serial) == len(parallel) == 6
    for a, b in zip(serial, parallel):
        assert a.keys() == b.keys()
        for key in a:
            np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    assert not np.array_equal(serial[0]["data"], serial[1]["data"])
    assert np.sum(serial[0]["rpn_label"] == 0) > 0  # sampled labels, drawn per chip position


def test_truncated_gts_are_counted(tmp_path):
    records, cfg, ep = small_setup(tmp_path, num_batches=2)
    cfg.dataset.MAX_GTS = 1
    loader = ChipLoader(records, cfg, ep)
    batches = collect(loader)
    assert loader.num_gts_truncated == 4  # each of the 4 chips holds both gts
    assert np.all(batches[0]["gt_boxes"][:, 0, 4] > 0)


@pytest.mark.parametrize("workers", [0, 2])
def test_missing_image_raises_one_line_naming_the_file(tmp_path, workers):
    records, cfg, ep = small_setup(tmp_path, missing=1)
    cfg.TRAIN.NUM_PROCESS = workers
    with pytest.raises(DatasetError, match=r"^image file not found: \S*img1.png$"):
        collect(ChipLoader(records, cfg, ep, timeout=30))


def test_worker_bug_ends_iteration_with_its_traceback(tmp_path):
    records, cfg, ep = small_setup(tmp_path)
    cfg.TRAIN.NUM_PROCESS = 2
    cfg.dataset.MAX_GTS = -1  # np.full with a negative size: a ValueError that is no DatasetError
    with pytest.raises(LoaderError, match=r"(?s)worker 0 \(pid \d+\) failed on batch 0 of epoch 2:.*Traceback"):
        collect(ChipLoader(records, cfg, ep, timeout=30))


def signalled_worker_ends_iteration(tmp_path, worker, sig, timeout, match, after=1):
    """Two workers; after `after` batches, send `sig` to worker `worker`: the iteration must end with a
    LoaderError matching `match` (within a bound far below the 60 s default), and every worker must be gone."""
    records, cfg, ep = small_setup(tmp_path, num_batches=40)
    cfg.TRAIN.NUM_PROCESS = 2
    loader = ChipLoader(records, cfg, ep, timeout=timeout)
    iterator = iter(loader)
    for _ in range(after):
        next(iterator)
    pids = list(loader.worker_pids)
    os.kill(pids[worker], sig)
    start = time.monotonic()
    with pytest.raises(LoaderError, match=match % {"pid": pids[worker]}):
        for _ in iterator:
            pass
    assert time.monotonic() - start < 45
    assert all(gone(pid) for pid in pids)


def test_killed_worker_ends_iteration_with_an_error(tmp_path):
    signalled_worker_ends_iteration(tmp_path, 0, signal.SIGKILL, 60, r"worker 0 \(pid %(pid)d\) was killed by signal 9")


def test_break_and_interrupt_stop_the_workers(tmp_path):
    records, cfg, ep = small_setup(tmp_path, num_batches=20)
    cfg.TRAIN.NUM_PROCESS = 2
    loader = ChipLoader(records, cfg, ep)
    for _ in loader:
        pids = list(loader.worker_pids)
        break
    assert pids and all(gone(pid) for pid in pids) and loader.worker_pids == []
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C as in a plain Python program
    try:
        with pytest.raises(KeyboardInterrupt):
            for _ in loader:
                pids = list(loader.worker_pids)
                os.kill(os.getpid(), signal.SIGINT)
                time.sleep(1)
    finally:
        signal.signal(signal.SIGINT, previous)
    assert all(gone(pid) for pid in pids)


@pytest.mark.parametrize("workers", [0, 2])
def test_batch_indices_select_batches_in_the_given_order(tmp_path, workers):
    records, cfg, ep = small_setup(tmp_path, num_batches=5)
    everything = collect(ChipLoader(records, cfg, ep))
    cfg.TRAIN.NUM_PROCESS = workers
    loader = ChipLoader(records, cfg, ep, batch_indices=[4, 1, 3])
    assert len(loader) == 3
    for got, want in zip(collect(loader), [4, 1, 3]):
        np.testing.assert_array_equal(got["data"], everything[want]["data"])
        np.testing.assert_array_equal(got["rpn_label"], everything[want]["rpn_label"])
    assert collect(ChipLoader(records, cfg, ep, batch_indices=[])) == []
    with pytest.raises(ValueError, match="batch_indices"):
        ChipLoader(records, cfg, ep, batch_indices=[5])


def test_stalled_worker_is_reported_by_index_pid_and_task(tmp_path):
    # batch 1 (and every odd batch) is worker 1's: it has answered (so it has started) when it is stopped.
    # The timeout counts from its start-up, so a loaded machine starting the workers slowly cannot trip it;
    # building one batch of two 128 px chips takes milliseconds, so worker 0 (running) stays far below 15 s
    # even on a loaded machine, and only the stopped worker can reach it.
    doing = r"(waiting for a task|building batch \d+ of epoch 2: chip [12] of 2, image \S*img[012].png)"
    signalled_worker_ends_iteration(tmp_path, 1, signal.SIGSTOP, 15.0, r"worker 1 \(pid %(pid)d\) sent no batch in "
                                    r"15 s \(TRAIN.LOADER_TIMEOUT\); it was " + doing + r"; process state T",
                                    after=2)


def test_loader_timeout_comes_from_the_config(tmp_path):
    records, cfg, ep = small_setup(tmp_path)
    assert ChipLoader(records, cfg, ep).timeout == cfg.TRAIN.LOADER_TIMEOUT == 60.0
    cfg.TRAIN.LOADER_TIMEOUT = 7
    assert ChipLoader(records, cfg, ep).timeout == 7.0
    cfg.TRAIN.LOADER_TIMEOUT = 0
    with pytest.raises(ValueError, match="TRAIN.LOADER_TIMEOUT"):
        ChipLoader(records, cfg, ep)


def test_workers_run_after_the_main_process_used_opencv_threads(tmp_path):
    """Workers forked from a process whose OpenCV pool had run deadlocked (pthread_cond_destroy in
    cv2.setNumThreads); the forkserver workers must not."""
    import cv2
    records, cfg, ep = small_setup(tmp_path, num_batches=4)
    cfg.TRAIN.NUM_PROCESS = 2
    threads = cv2.getNumThreads()
    try:
        cv2.setNumThreads(2)
        for _ in range(3):
            cv2.resize(np.zeros((600, 600, 3), np.uint8), None, fx=2, fy=2)
            assert len(collect(ChipLoader(records, cfg, ep, timeout=30))) == 4
    finally:
        cv2.setNumThreads(threads)


def test_close_from_a_signal_handler_stops_the_workers(tmp_path):
    """What a SIGTERM handler does: close() while the main thread iterates; the iteration ends with LoaderError,
    the workers are gone, and a context manager closes too."""
    records, cfg, ep = small_setup(tmp_path, num_batches=200)
    cfg.TRAIN.NUM_PROCESS = 2
    with ChipLoader(records, cfg, ep, timeout=60) as loader:
        iterator = iter(loader)
        next(iterator)
        pids = list(loader.worker_pids)
        previous = signal.signal(signal.SIGALRM, lambda *_: loader.close())
        try:
            signal.setitimer(signal.ITIMER_REAL, 0.2)
            with pytest.raises(LoaderError, match="worker|closed"):
                for _ in iterator:
                    time.sleep(0.01)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)
        assert all(gone(pid) for pid in pids)
        iterator = iter(loader)
        next(iterator)
        pids = list(loader.worker_pids)
    assert pids and all(gone(pid) for pid in pids)
