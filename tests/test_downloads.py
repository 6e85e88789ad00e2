"""lib/utils/download.py and the scripts/download_*.py against files served from 127.0.0.1 (built here)."""
import hashlib
import importlib.util
import io
import json
import os
import socket
import subprocess
import sys
import tarfile
import threading
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from lib.utils.download import DownloadError, Item, fetch, install, unpack

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
RES101 = "output/sniper_res101_bn/sniper_res101_e2e/train2014_val2014/SNIPER-0007.params"


class Files(BaseHTTPRequestHandler):
    """Serves `server.files` {path: bytes} with Range support; paths in `server.truncate` send half the body
    once (with the full Content-Length) and close."""

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.server.requests.append((self.path, self.headers.get("Range")))
        body = self.server.files.get(self.path)
        if body is None:
            self.send_error(404)
            return
        start, status = 0, 200
        if self.headers.get("Range"):
            start, status = int(self.headers["Range"].split("=")[1].rstrip("-")), 206
        self.send_response(status)
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if self.path in self.server.truncate:
            self.server.truncate.discard(self.path)
            self.wfile.write(body[start:start + (len(body) - start) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server():
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Files)
    httpd.files, httpd.truncate, httpd.requests = {}, set(), []
    httpd.url = "http://127.0.0.1:%d" % httpd.server_address[1]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()


def tar_gz(members):
    """{name: bytes, or ('symlink', target)} -> .tar.gz bytes."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            if isinstance(data, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, data[1]
                tar.addfile(info)
            else:
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def zip_bytes(members):
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def all_files(folder):
    return sorted(os.path.relpath(os.path.join(d, f), folder) for d, _, fs in os.walk(folder) for f in fs)


def closed_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_script(name, *args):
    done = subprocess.run([sys.executable, os.path.join(ROOT, "scripts", name)] + list(args), cwd=ROOT,
                          capture_output=True, text=True, timeout=300, env=dict(os.environ, OMP_NUM_THREADS="1"))
    return done.returncode, [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_install_downloads_unpacks_and_places(server, tmp_path, kind):
    members = {"pretrained_model/net-0000.params": b"weights" * 1000, "pretrained_model/sub/notes.txt": b"hi"}
    server.files["/models." + kind] = tar_gz(members) if kind == "tar.gz" else zip_bytes(members)
    item = Item(name="m", url=server.url + "/models." + kind, archive="models." + kind, dest="data",
                expect=("pretrained_model/net-0000.params",))
    dest = install(item, base=str(tmp_path / "root"), cache=str(tmp_path / "cache"), progress=False)
    assert dest == str(tmp_path / "root" / "data")
    assert all_files(dest) == ["pretrained_model/net-0000.params", "pretrained_model/sub/notes.txt"]
    with open(os.path.join(dest, "pretrained_model", "net-0000.params"), "rb") as f:
        assert f.read() == b"weights" * 1000
    assert all_files(tmp_path / "cache") == []  # the archive is removed after unpacking, no .part left


def test_unpack_merges_into_an_existing_folder(tmp_path):
    target = tmp_path / "data"
    (target / "pretrained_model").mkdir(parents=True)
    (target / "pretrained_model" / "mine-0000.params").write_bytes(b"kept")
    (target / "pretrained_model" / "net-0000.params").write_bytes(b"old")
    archive = tmp_path / "a.tar.gz"
    archive.write_bytes(tar_gz({"pretrained_model/net-0000.params": b"new", "proposals/p.pkl": b"p"}))
    assert sorted(unpack(str(archive), str(target))) == ["pretrained_model/net-0000.params", "proposals/p.pkl"]
    assert (target / "pretrained_model" / "mine-0000.params").read_bytes() == b"kept"
    assert (target / "pretrained_model" / "net-0000.params").read_bytes() == b"new"
    assert all_files(target) == ["pretrained_model/mine-0000.params", "pretrained_model/net-0000.params",
                                 "proposals/p.pkl"]  # no staging folder left


@pytest.mark.parametrize("members", [
    {"ok.txt": b"1", "../escaped.txt": b"2"},
    {"ok.txt": b"1", "/tmp/absolute-escape.txt": b"2"},
    {"ok.txt": b"1", "link": ("symlink", "/etc/passwd")},
    {"ok.txt": b"1", "sub/../../escaped.txt": b"2"},
], ids=["dotdot", "absolute", "symlink", "nested-dotdot"])
def test_unpack_refuses_members_escaping_the_target(tmp_path, members):
    archive = tmp_path / "evil.tar.gz"
    archive.write_bytes(tar_gz(members))
    target = tmp_path / "target"
    with pytest.raises(DownloadError, match="refused archive member"):
        unpack(str(archive), str(target))
    assert all_files(target) == []  # checked before anything is written
    assert not (tmp_path / "escaped.txt").exists()


def test_unpack_refuses_a_zip_member_escaping_the_target(tmp_path):
    archive = tmp_path / "evil.zip"
    archive.write_bytes(zip_bytes({"ok.txt": b"1", "../escaped.txt": b"2"}))
    with pytest.raises(DownloadError, match=r"refused archive member '\.\./escaped\.txt'"):
        unpack(str(archive), str(tmp_path / "target"))
    assert all_files(tmp_path / "target") == [] and not (tmp_path / "escaped.txt").exists()


def test_damaged_archive_is_one_clear_error(tmp_path):
    archive = tmp_path / "broken.tar.gz"
    whole = tar_gz({"a.txt": bytes(range(256)) * 400, "b.txt": b"y"})
    archive.write_bytes(whole[:len(whole) // 2])
    with pytest.raises(DownloadError, match="broken.tar.gz is damaged"):
        unpack(str(archive), str(tmp_path / "target"))
    assert all_files(tmp_path / "target") == []


def test_truncated_download_keeps_only_the_part_file_and_resumes(server, tmp_path):
    body = bytes(range(256)) * 4000
    server.files["/big.bin"] = body
    server.truncate.add("/big.bin")
    dest = tmp_path / "big.bin"
    with pytest.raises(DownloadError, match="big.bin") as err:
        fetch(server.url + "/big.bin", str(dest), progress=False)
    assert "rerun to resume" in str(err.value) and "\n" not in str(err.value)
    assert not dest.exists()  # the final name never holds a partial file
    part = tmp_path / "big.bin.part"
    assert part.stat().st_size == len(body) // 2
    fetch(server.url + "/big.bin", str(dest), progress=False)
    assert dest.read_bytes() == body and not part.exists()
    assert server.requests[-1] == ("/big.bin", "bytes=%d-" % (len(body) // 2))


def test_http_error_is_one_line(server, tmp_path):
    with pytest.raises(DownloadError, match=r"could not download http://127\.0\.0\.1:\d+/missing: HTTP 404"):
        fetch(server.url + "/missing", str(tmp_path / "x"), progress=False)
    assert all_files(tmp_path) == []


@pytest.mark.parametrize("script", ["download_sniper_detectors.py", "download_neg_props.py",
                                    "download_pretrained_models.py"])
def test_unreachable_url_stops_with_one_line(script, tmp_path):
    url = "http://127.0.0.1:%d/x" % closed_port()
    code, lines = run_script(script, "--url", url, "--dest", str(tmp_path), "--cache", str(tmp_path / "cache"))
    assert code == 1
    assert len(lines) == 1 and lines[0].startswith("error: could not download %s" % url), lines
    assert all_files(tmp_path) == []


def test_coco_script_unreachable_and_bad_arguments(tmp_path):
    url = "http://127.0.0.1:%d/val2014.zip" % closed_port()
    code, lines = run_script("download_coco.py", "val2014", "--url", url, "--dest", str(tmp_path),
                             "--cache", str(tmp_path / "c"))
    assert code == 1 and len(lines) == 1 and url in lines[0], lines
    code, lines = run_script("download_coco.py", "--url", url)  # --url with the five default names
    assert code == 2 and "--url needs exactly one NAME" in lines[-1]
    code, lines = run_script("download_coco.py", "val2015")
    assert code == 2 and "unknown NAME val2015" in lines[-1]


def test_neg_props_script_places_proposals_and_drops_foreign_caches(server, tmp_path):
    server.files["/proposals.tar.gz"] = tar_gz({"proposals/COCO_train2014_rpn.pkl": b"a",
                                                "proposals/COCO_val2014_rpn.pkl": b"b",
                                                "proposals/COCO_train2014_rpn_after_nms.pkl": b"c"})
    args = ["--url", server.url + "/proposals.tar.gz", "--dest", str(tmp_path / "data"),
            "--cache", str(tmp_path / "cache"), "--no-progress"]
    code, lines = run_script("download_neg_props.py", *args)
    assert code == 0, lines
    assert all_files(tmp_path / "data") == ["proposals/COCO_train2014_rpn.pkl", "proposals/COCO_val2014_rpn.pkl"]
    code, lines = run_script("download_neg_props.py", *args)  # installed: nothing is downloaded again
    assert code == 0 and len(server.requests) == 1 and "already in" in lines[-1]


def test_detectors_script_writes_coco_class_names_beside_the_released_model(server, tmp_path):
    server.files["/sniper_models.tar.gz"] = tar_gz({RES101: b"params"})
    code, lines = run_script("download_sniper_detectors.py", "--url", server.url + "/sniper_models.tar.gz",
                             "--dest", str(tmp_path), "--cache", str(tmp_path / "cache"), "--no-progress")
    assert code == 0, lines
    with open(tmp_path / os.path.dirname(RES101) / "classes.json") as f:
        classes = json.load(f)
    # The original's demo.py lists 'BG' + COCO's 80 names, 'person' first and 'toothbrush' last; COCO's category
    # ids run 1..90 with ten gaps, 'person' = 1, 'bicycle' = 2, 'toothbrush' = 90 (instances_val2014.json).
    assert len(classes["class_names"]) == 81 and classes["category_ids"][0] is None
    assert classes["class_names"][1:3] == ["person", "bicycle"] and classes["class_names"][-1] == "toothbrush"
    assert classes["category_ids"][1:3] == [1, 2] and classes["category_ids"][-1] == 90
    assert 12 not in classes["category_ids"] and 83 not in classes["category_ids"]


def load_script(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(ROOT, "scripts", name + ".py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_pretrained_script_refuses_a_zoo_file_with_another_sha1(server, tmp_path, monkeypatch):
    script = load_script("download_pretrained_models")
    sha1 = "0123456789abcdef0123456789abcdef01234567"  # what the store says; the served file differs
    monkeypatch.setattr(script, "zoo_store", lambda: (server.url + "/", {"resnet50_v2": sha1}))
    name = "resnet50_v2-01234567"
    server.files["/gluon/models/%s.zip" % name] = zip_bytes({name + ".params": b"not the store's file"})
    with pytest.raises(DownloadError, match="does not match the model store's sha1 " + sha1):
        install(script.zoo_item("resnet50_v2"), base=str(tmp_path / "data"), cache=str(tmp_path / "c"),
                progress=False)
    assert all_files(tmp_path) == []  # the archive and the unpacked file are removed


@pytest.mark.slow
def test_pretrained_script_checks_and_converts_a_zoo_mobilenet(server, tmp_path, monkeypatch):
    import mxnet as mx
    from mxnet.gluon.model_zoo import vision
    zoo = vision.get_model("mobilenetv2_1.0")
    zoo.initialize(mx.init.Uniform(0.1))
    zoo(mx.nd.zeros((1, 3, 64, 64)))
    params = tmp_path / "zoo.params"
    zoo.save_parameters(str(params))
    sha1 = hashlib.sha1(params.read_bytes()).hexdigest()
    script = load_script("download_pretrained_models")
    monkeypatch.setattr(script, "zoo_store", lambda: (server.url + "/", {"mobilenetv2_1.0": sha1}))
    name = "mobilenetv2_1.0-%s" % sha1[:8]
    server.files["/gluon/models/%s.zip" % name] = zip_bytes({name + ".params": params.read_bytes()})
    dest = install(script.zoo_item("mobilenetv2_1.0"), base=str(tmp_path / "data"), cache=str(tmp_path / "c"),
                   progress=False)
    assert all_files(dest) == ["gluon_mobilenetv2_1.0-0000.params"]  # the zoo file is replaced by the conversion
    arrays = mx.nd.load(os.path.join(dest, "gluon_mobilenetv2_1.0-0000.params"))
    # the original's names (symbols/faster/mobilenetv2_e2e.py): a 0-based seq-<i>-block<j>, Module prefixes
    assert "arg:seq-0-block0-exp-conv2d_weight" in arrays and "aux:last-1x1-conv-batchnorm_moving_var" in arrays
    zoo_last = zoo._collect_params_with_prefix()["features.21.running_var"].data().asnumpy()
    assert (arrays["aux:last-1x1-conv-batchnorm_moving_var"].asnumpy() == zoo_last).all()


def random_zoo(name, seed=0):
    """MXNet's zoo network `name` with random weights and BN statistics (saved by the caller)."""
    import mxnet as mx
    import numpy as np
    from mxnet.gluon.model_zoo import vision
    zoo = vision.get_model(name)
    zoo.initialize(mx.init.Uniform(0.1))
    zoo(mx.nd.zeros((1, 3, 64, 64)))
    rng = np.random.RandomState(seed)
    for key, param in zoo._collect_params_with_prefix().items():
        if key.endswith("running_var"):
            param.set_data(mx.nd.array(rng.uniform(0.5, 2.0, param.shape)))
        elif key.endswith("running_mean"):
            param.set_data(mx.nd.array(rng.uniform(-0.5, 0.5, param.shape)))
    return zoo


def converted_backbone(zoo, zoo_name, tmp_path, means_bgr):
    """The zoo weights through convert_zoo_file, loaded back as a `network.pretrained` file."""
    from types import SimpleNamespace
    from lib.model.checkpoint_names import load_original_params
    from lib.model.zoo_convert import ZOO_BACKBONES, convert_zoo_file, initialised_backbone
    zoo_file = str(tmp_path / (zoo_name + "-zoo.params"))
    zoo.save_parameters(zoo_file)
    out = convert_zoo_file(zoo_name, zoo_file, str(tmp_path / "converted-0000.params"), means_bgr)
    backbone = initialised_backbone(ZOO_BACKBONES[zoo_name])
    load_original_params(SimpleNamespace(backbone=backbone), out, backbone_only=True)
    return backbone


IMAGENET_MEAN_RGB, IMAGENET_STD_RGB = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)  # the zoo's input transform


def zoo_input(x_rgb):
    import numpy as np
    mean, std = np.array(IMAGENET_MEAN_RGB)[:, None, None], np.array(IMAGENET_STD_RGB)[:, None, None]
    return ((x_rgb / 255.0 - mean) / std).astype("float32")


@pytest.mark.slow
def test_converted_mobilenet_computes_the_zoo_features(tmp_path):
    import mxnet as mx
    import numpy as np
    zoo = random_zoo("mobilenetv2_1.0")
    means_rgb = 255 * np.array(IMAGENET_MEAN_RGB)  # pixel means at the zoo's mean: no shift, exact at borders too
    backbone = converted_backbone(zoo, "mobilenetv2_1.0", tmp_path, tuple(means_rgb[::-1]))
    x = np.random.RandomState(1).uniform(0, 255, (1, 3, 96, 96))
    expected = zoo.features(mx.nd.array(zoo_input(x))).asnumpy().ravel()  # the zoo's global-pooled 1280
    ours = backbone(mx.nd.array((x - means_rgb[:, None, None]).astype("float32"))).asnumpy().mean(axis=(2, 3))
    np.testing.assert_allclose(ours.ravel(), expected, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_mobilenet_input_fold_is_exact_inside_the_border(tmp_path):
    import mxnet as mx
    import numpy as np
    zoo = random_zoo("mobilenetv2_1.0", seed=2)
    means_bgr = (103.939, 116.779, 123.68)  # the paper configs' network.PIXEL_MEANS
    backbone = converted_backbone(zoo, "mobilenetv2_1.0", tmp_path, means_bgr)
    x = np.random.RandomState(3).uniform(0, 255, (1, 3, 64, 64))
    first = mx.gluon.nn.HybridSequential()
    first.add(*[zoo.features[i] for i in range(3)])  # the zoo's first conv, BN, ReLU6
    expected = first(mx.nd.array(zoo_input(x))).asnumpy()
    ours = backbone.first(mx.nd.array((x - np.array(means_bgr[::-1])[:, None, None]).astype("float32"))).asnumpy()
    np.testing.assert_allclose(ours[..., 1:-1, 1:-1], expected[..., 1:-1, 1:-1], rtol=1e-4, atol=1e-4)
    assert np.abs(ours[..., 0, :] - expected[..., 0, :]).max() > 1e-3  # the zero-padded border differs


@pytest.mark.slow
def test_converted_resnet50_loads_as_network_pretrained(tmp_path):
    import numpy as np
    zoo = random_zoo("resnet50_v2", seed=4)
    means_bgr = (103.939, 116.779, 123.68)
    backbone = converted_backbone(zoo, "resnet50_v2", tmp_path, means_bgr)
    zoo_params = {k: p.data().asnumpy() for k, p in zoo._collect_params_with_prefix().items()}
    ours = {k: p.data().asnumpy() for k, p in backbone.collect_params().items()}
    # zoo features.1 = conv0, features.5.0 = stage1 unit1, features.8.2 = stage4 unit3 (gluon ResNetV2 layout)
    assert (ours["conv0_weight"] == zoo_params["features.1.weight"]).all()
    assert (ours["stage1_unit1_conv1_weight"] == zoo_params["features.5.0.conv1.weight"]).all()
    assert (ours["stage4_unit3_bn2_gamma"] == zoo_params["features.8.2.bn2.gamma"]).all()
    # data BN for x' = x - PIXEL_MEANS: mean 255 std m + 255 mean - P (RGB), by hand from z = (x/255 - mean)/std
    mean, std = np.array(IMAGENET_MEAN_RGB), np.array(IMAGENET_STD_RGB)
    expected = 255 * std * zoo_params["features.0.running_mean"] + 255 * mean - np.array(means_bgr[::-1])
    np.testing.assert_allclose(ours["bn_data_running_mean"], expected, rtol=1e-5, atol=1e-3)


def test_test_network_reads_a_released_module_checkpoint(tmp_path):
    """A released detector is an MXNet Module checkpoint: `arg:` / `aux:` keys in the original's names
    (BN `_moving_mean` / `_moving_var` under aux:, as mx.model.save_checkpoint writes them)."""
    import mxnet as mx
    import numpy as np
    from lib.config import load_config
    from lib.inference.network import build_test_network
    from lib.model.checkpoint_names import expected_params
    from lib.model.sniper import build_sniper
    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "shapes_cpu.yml"))
    net = build_sniper(cfg, train=False)
    net.initialize(mx.init.Uniform(0.5))
    original = {("aux:" if n.endswith(("_moving_mean", "_moving_var")) else "arg:") + n: p.data()
                for n, p in expected_params(net).items()}
    original["arg:bbox_pred_weight_test"] = original["arg:bbox_pred_weight"]  # the original's tester copy
    mx.nd.save(str(tmp_path / "SNIPER-0007.params"), original)
    loaded = build_test_network(cfg, str(tmp_path / "SNIPER-0007.params"), [mx.cpu()])
    ours = expected_params(loaded)
    assert sorted(ours) == sorted(expected_params(net))
    for name, param in expected_params(net).items():
        np.testing.assert_array_equal(ours[name].data().asnumpy(), param.data().asnumpy(), err_msg=name)
