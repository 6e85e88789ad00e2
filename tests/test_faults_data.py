"""Fault drill of the data side: killed writers and loaders, corrupt and malicious input (stalled and killed
workers: tests/test_loader_workers.py).

Every case stops with one line naming the file (or worker), or is cleaned up; see README "Faults and bad input".
"""
import contextlib
import json
import os
import pickle
import signal
import subprocess
import sys
import textwrap
import time

import cv2
import numpy as np
import pytest

from dataset_helpers import coco_json, write_coco_set
from lib.config import ConfigError
from lib.data.epoch import build_epoch
from lib.data.loader import ChipLoader
from lib.dataset.errors import DatasetError
from lib.dataset.image_io import read_image
from lib.dataset.proposals import load_proposals, save_proposals
from lib.dataset.roidb import ImageRecord
from lib.inference.pyramid import plan_batches, prepare_batch
from lib.utils.atomic import atomic_write, remove_stale_tmp
from loader_helpers import paper_cfg, record, small_setup
from process_helpers import alive, descendants, shm_files

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

def _kill_and_wait(victim, sig, run_pids, shm, bound=30.0):
    """Send `sig` to the victim; wait up to `bound` s for every pid of `run_pids` and file of `shm` to go.
    Returns (pids still alive, files still there)."""
    victim.send_signal(sig)
    victim.wait()
    deadline = time.monotonic() + bound
    while True:
        left = [pid for pid in run_pids if alive(pid)], sorted(p for p in shm if os.path.exists(p))
        if not any(left) or time.monotonic() > deadline:
            return left


def _wait_for_tree(pid, size, bound=60.0):
    """The descendants of `pid` once there are at least `size` of them."""
    deadline = time.monotonic() + bound
    while len(descendants(pid)) < size and time.monotonic() < deadline:
        time.sleep(0.1)
    return descendants(pid)


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
        run += descendants(victim.pid)
        shm |= shm_files([victim.pid] + run)
        assert set(json.loads(line)["workers"]) <= set(run) and len(run) >= 4  # + fork server, resource tracker
        assert any("sem." in name for name in shm)  # the task queues' semaphores
        running, files = _kill_and_wait(victim, sig, run, shm)
        assert running == [] and files == []


def test_killed_chip_mining_leaves_no_process(tmp_path):
    """kill -9 of a process mining chips in a 2-process pool: the pool's processes and the fork server end."""
    with _victim("from loader_helpers import run_mining_then_sleep\nrun_mining_then_sleep()") as (victim, run, shm):
        assert victim.stdout.readline().strip() == "mining"
        run += _wait_for_tree(victim.pid, 3)  # the fork server and 2 pool processes
        shm |= shm_files([victim.pid] + run)
        assert len(run) >= 3
        running, files = _kill_and_wait(victim, signal.SIGKILL, run, shm)
        assert running == [] and files == []


# ---- truncated images: loader, tester, demo ------------------------------------------------------------------

def _truncate(path, keep=0.6):
    """Cut the file at `path` to `keep` of its bytes (a download or copy that stopped)."""
    with open(path, "rb") as f:
        data = f.read()
    with open(path, "wb") as f:
        f.write(data[:int(len(data) * keep)])


def _textured(height=150, width=200):
    return (np.random.default_rng(0).random((height, width, 3)) * 255).astype(np.uint8)


@pytest.mark.parametrize("ext", ["jpg", "png"])
def test_truncated_image_is_one_line_naming_the_file(tmp_path, ext):
    path = str(tmp_path / ("cut." + ext))
    assert cv2.imwrite(path, _textured())
    whole = read_image(path)
    np.testing.assert_array_equal(whole, cv2.imread(path, cv2.IMREAD_UNCHANGED))  # same decode as OpenCV's
    _truncate(path)
    kind = "JPEG" if ext == "jpg" else "PNG"
    with pytest.raises(DatasetError, match=r"^image \S*cut\.%s: truncated %s \(the data ends [^\n]*\)$" % (ext, kind)):
        read_image(path)


def test_progressive_jpeg_and_trailing_bytes_are_accepted(tmp_path):
    """A complete progressive JPEG (several scans), and bytes after the end-of-image marker (as phones append)."""
    path = str(tmp_path / "p.jpg")
    cv2.imwrite(path, _textured(), [cv2.IMWRITE_JPEG_PROGRESSIVE, 1])
    assert read_image(path).shape == (150, 200, 3)
    with open(path, "ab") as f:
        f.write(b"trailing data \xff\xda\x00\x08")
    assert read_image(path).shape == (150, 200, 3)
    _truncate(path, 0.5)
    with pytest.raises(DatasetError, match="p.jpg: truncated JPEG"):
        read_image(path)


def _setup_with_jpegs(tmp_path):
    """small_setup whose images are JPEGs (textured, so that a cut loses real rows)."""
    records, cfg, ep = small_setup(tmp_path)
    for r in records:
        r.image = r.image[:-4] + ".jpg"
        cv2.imwrite(r.image, _textured())
    return records, cfg, ep


@pytest.mark.parametrize("workers", [0, 2])
def test_truncated_image_stops_the_loader_with_one_line(tmp_path, workers):
    records, cfg, ep = _setup_with_jpegs(tmp_path)
    _truncate(records[1].image)
    cfg.TRAIN.NUM_PROCESS = workers
    with pytest.raises(DatasetError, match=r"^image \S*img1\.jpg: truncated JPEG [^\n]*$"):
        list(ChipLoader(records, cfg, ep, timeout=60))


@pytest.mark.parametrize("workers", [0, 2])
def test_image_size_differing_from_the_annotation_stops_the_loader(tmp_path, workers):
    records, cfg, ep = small_setup(tmp_path)
    records[2].height = 140  # the json says 200 x 140, the file is 200 x 150
    cfg.TRAIN.NUM_PROCESS = workers
    with pytest.raises(DatasetError, match=r"^image \S*img2\.png: size 200x150 differs from the annotation's "
                                           r"200x140$"):
        list(ChipLoader(records, cfg, ep, timeout=60))


def test_tester_stops_on_a_truncated_image_and_a_wrong_size(tmp_path):
    from lib.inference.pipeline import Pipeline
    cfg = paper_cfg()
    path = str(tmp_path / "t.jpg")
    cv2.imwrite(path, _textured())
    good = ImageRecord(image=path, width=200, height=150, boxes=np.zeros((0, 4)), classes=[])
    wrong = ImageRecord(image=path, width=150, height=200, boxes=np.zeros((0, 4)), classes=[])
    batch = plan_batches([wrong], (1400, 2000), 1)[0]
    with pytest.raises(DatasetError, match=r"t\.jpg: size 200x150 differs from the annotation's 150x200$"):
        prepare_batch([wrong], batch, cfg.network.PIXEL_MEANS)
    _truncate(path)
    tester = Pipeline.from_config(cfg, None, [None], 2)  # the image is read before any forward
    with pytest.raises(DatasetError, match=r"^image \S*t\.jpg: truncated JPEG"):
        tester.run_scale([good], 0, handle=None, progress=False)


def test_demo_stops_on_a_truncated_image_with_exit_2(tmp_path):
    from lib.config import load_config
    from lib.train.checkpoint import checkpoint_stem, output_dir
    path, cfg_file, out = str(tmp_path / "photo.jpg"), "configs/quickstart/shapes_cpu.yml", str(tmp_path / "out")
    cfg = load_config(os.path.join(ROOT, cfg_file), ["output_path", out])
    params = checkpoint_stem(output_dir(cfg), cfg.TEST.TEST_EPOCH) + ".params"
    os.makedirs(os.path.dirname(params))
    open(params, "wb").close()  # the demo looks for a model first; the image is read before the model loads
    cv2.imwrite(path, _textured())
    _truncate(path)
    done = subprocess.run([sys.executable, os.path.join(ROOT, "demo.py"), "--cfg", cfg_file, "--im_path", path,
                           "--set", "output_path", out], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.strip().splitlines()[-1] == ("error: image %s: truncated JPEG (the data ends before the "
                                                    "end-of-image marker)" % path)
    assert "Traceback" not in done.stderr and not os.path.exists(str(tmp_path / "photo_detections.jpg"))


# ---- proposals ----------------------------------------------------------------------------------------------

def _boxes(n, offset=0.0):
    return np.array([[offset + 10 * k, 0, offset + 10 * k + 5, 5, 0.5] for k in range(n)], np.float32)


def _plain_records(n):
    return [ImageRecord(image="%d.jpg" % i, width=100, height=100, boxes=np.zeros((0, 4)), classes=[])
            for i in range(n)]


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_proposals_are_one_line_naming_file_and_image(tmp_path, bad):
    path = str(tmp_path / "set_rpn.pkl")
    arrays = [_boxes(2), _boxes(3)]
    arrays[1][2, 1] = bad
    with open(path, "wb") as f:
        pickle.dump(arrays, f)
    with pytest.raises(DatasetError, match=r"^proposals file \S*set_rpn\.pkl: image 1 has 1 NaN/inf values$"):
        load_proposals(path, _plain_records(2))


def test_replaced_proposals_with_an_older_time_stamp_are_used(tmp_path):
    path = str(tmp_path / "set_rpn.pkl")
    save_proposals(path, [_boxes(1), _boxes(1)])
    assert load_proposals(path, _plain_records(2))[0].proposals[0, 0] == 0  # NMS cache written
    save_proposals(path, [_boxes(2, offset=30), _boxes(2)])  # replaced by other proposals ...
    old = os.path.getmtime(path) - 3600
    os.utime(path, (old, old))  # ... whose time stamp is older than the cache's (copied with cp -p)
    records = load_proposals(path, _plain_records(2))
    np.testing.assert_array_equal(np.sort(records[0].proposals[:, 0]), [30, 40])


def test_malicious_proposals_pickle_runs_no_code(tmp_path):
    marker = tmp_path / "pwned"

    class Exploit:
        def __reduce__(self):
            return os.system, ("touch %s" % marker,)

    path = str(tmp_path / "set_rpn.pkl")
    with open(path, "wb") as f:
        pickle.dump([_boxes(1), Exploit()], f)
    with pytest.raises(DatasetError, match=r"^proposals file \S*set_rpn\.pkl is not a proposals pickle \(it refers "
                                           r"to posix\.system; only numpy arrays and plain containers are read\)"):
        load_proposals(path, _plain_records(2))
    assert not marker.exists()


def test_python2_style_proposals_pickle_still_loads(tmp_path):
    """The original's files are protocol-2 pickles of numpy arrays (with Python 2 strings)."""
    path = str(tmp_path / "set_rpn.pkl")
    with open(path, "wb") as f:
        pickle.dump([_boxes(2).astype(np.float64), np.zeros((0, 5))], f, protocol=2)
    records = load_proposals(path, _plain_records(2))
    assert records[0].proposals.shape == (2, 4) and records[1].proposals.shape == (0, 4)


# ---- training sets without boxes, epochs without chips ------------------------------------------------------

def _coco_cfg(root):
    cfg = paper_cfg()
    cfg.dataset.dataset, cfg.dataset.dataset_path, cfg.dataset.image_set = "coco", str(root), "train"
    cfg.dataset.NUM_CLASSES = 3
    cfg.TRAIN.USE_NEG_CHIPS = False
    return cfg


def test_all_boxes_dropped_says_which_and_why(tmp_path):
    from lib.train.records import training_records
    anns = [(1, 1, (5, 5, 0, 10), {}), (1, 2, (300, 5, 10, 10), {}), (2, 1, (5, 5, 10, 10), {"iscrowd": 1})]
    json_file = write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", 64, 48), (2, "b.jpg", 64, 48)], anns))
    with pytest.raises(DatasetError, match=r"^no training image has a gt box, so there is nothing to train on: "
                                           r"COCO_train \(%s\): 2 images, 0 boxes kept; dropped 1 boxes outside the "
                                           r"image, dropped 1 zero/negative-area boxes, dropped 1 crowd boxes$"
                                           % json_file):
        training_records(_coco_cfg(tmp_path))


def test_empty_annotation_list_names_the_file(tmp_path):
    from lib.train.records import training_records
    json_file = write_coco_set(tmp_path, "train", coco_json([(1, "a.jpg", 64, 48)], []))
    with pytest.raises(DatasetError, match=r"COCO_train \(%s\): 1 images, 0 boxes kept$" % json_file):
        training_records(_coco_cfg(tmp_path))


def test_epoch_without_chips_names_box_sizes_and_scale_keys():
    cfg = paper_cfg(SCALES=(1.0,), VALID_RANGES=((-1, 20),), NUM_PROCESS=0)
    records = [record("a.png", 400, 300, [[0, 0, 99, 99], [10, 10, 59, 59]])]  # sqrt(area) 100 and 50 px
    with pytest.raises(ConfigError, match=r"^the epoch has no chips: the 1 training records have 2 gt boxes of "
                                          r"sqrt\(area\) 50\.0 to 100\.0 px, .*TRAIN\.SCALES \(1\.0,\) and "
                                          r"TRAIN\.VALID_RANGES \(\(-1, 20\),\)$"):
        build_epoch(records, cfg, 0)
    with pytest.raises(DatasetError, match="none of the 1 training records has a gt box"):
        build_epoch([record("a.png", 400, 300, [])], cfg, 0)
