"""Config defaults, YAML loading, --set overrides and every error path."""
import os
import subprocess
import sys

import pytest

from lib.config import ConfigError, config_name, load_config
from lib.config_defaults import DEFAULTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_CONFIGS = ["sniper_res101_e2e", "sniper_res50_e2e", "sniper_mobilenetv2_e2e", "sniper_res101_e2e_pascal_voc"]


def test_reference_defaults_present():
    cfg = load_config()
    assert cfg.TRAIN.VALID_RANGES == ((-1, 80), (32, 150), (120, -1))
    assert cfg.TRAIN.SCALES == (3.0, 1.667, 512.0)
    assert cfg.TRAIN.RPN_POSITIVE_OVERLAP == 0.7 and cfg.TRAIN.RPN_NEGATIVE_OVERLAP == 0.3
    assert cfg.TEST.RPN_POST_NMS_TOP_N == 300 and cfg.TEST.NMS == 0.3
    assert cfg.default.kvstore == "device" and cfg.CLASS_AGNOSTIC is True
    assert cfg.network.ANCHOR_SCALES == (8, 16, 32) and cfg.dataset.NUM_CLASSES == 21
    # keys the original's YAMLs added exist as defaults here
    for key in ("NUM_PROCESS", "NUM_THREAD"):
        assert key in cfg.TRAIN
    for key in ("MAX_PER_IMAGE", "SCALES", "CONCURRENT_JOBS", "VALID_RANGES", "TEST_EPOCH", "EXTRACT_PROPOSALS",
                "PROPOSAL_SAVE_PATH", "N_PROPOSAL_PER_SCALE", "VISUALIZATION_PATH", "VISUALIZE_INTERMEDIATE_SCALES"):
        assert key in cfg.TEST
    assert cfg.dataset.proposal == "rpn"


def test_defaults_are_not_shared_between_loads():
    a = load_config()
    a.TRAIN.lr = 5.0
    assert load_config().TRAIN.lr == 0.0 and DEFAULTS["TRAIN"]["lr"] == 0.0


@pytest.mark.parametrize("name", PAPER_CONFIGS)
def test_paper_configs_load(name):
    cfg = load_config(os.path.join(ROOT, "configs", "faster", name + ".yml"))
    assert config_name(cfg) == name
    assert cfg.TEST.SCALES == ((1400, 2000), (800, 1280), (480, 512))
    assert cfg.TEST.BATCH_IMAGES == (2, 2, 4) and cfg.TEST.NMS_SIGMA == 0.55
    assert cfg.TRAIN.RPN_POSITIVE_OVERLAP == 0.5 and cfg.TRAIN.RPN_NEGATIVE_OVERLAP == 0.4


def test_paper_config_values():
    res101 = load_config(os.path.join(ROOT, "configs/faster/sniper_res101_e2e.yml"))
    assert res101.TRAIN.SCALES == (3.0, 1.667, 512.0)  # the original's hidden COCO override, now explicit
    assert res101.network.ANCHOR_SCALES == (2, 4, 7, 10, 13, 16, 24) and res101.network.NUM_ANCHORS == 21
    assert res101.TRAIN.fp16 is True and res101.TRAIN.scale == 100.0 and res101.TRAIN.BATCH_IMAGES == 16
    mobile = load_config(os.path.join(ROOT, "configs/faster/sniper_mobilenetv2_e2e.yml"))
    assert mobile.network.RPN_FEAT_STRIDE == 32 and mobile.network.NUM_ANCHORS == 15
    assert mobile.TRAIN.lr == 0.025 and mobile.TRAIN.BATCH_IMAGES == 42 and mobile.TRAIN.warmup_step == 9000
    voc = load_config(os.path.join(ROOT, "configs/faster/sniper_res101_e2e_pascal_voc.yml"))
    assert voc.TRAIN.SCALES == ((1400, 2000), (800, 1280), (-1, 512)) and voc.dataset.NUM_CLASSES == 21
    res50 = load_config(os.path.join(ROOT, "configs/faster/sniper_res50_e2e.yml"))
    assert res50.network.BACKBONE == "resnet50" and res50.network.pretrained.endswith("resnet_mx_50_imgnet")


def test_set_overrides_and_type_conversion():
    cfg = load_config(None, ["TRAIN.USE_NEG_CHIPS", "False", "TRAIN.BATCH_IMAGES", "4",
                             "TRAIN.SCALES", "(3.0, 1.667, 512.0)", "TRAIN.lr", "1", "gpus", "0,1",
                             "output_path", "output/foo", "TEST.SCALES", "[(800,1280)]"])
    assert cfg.TRAIN.USE_NEG_CHIPS is False
    assert cfg.TRAIN.BATCH_IMAGES == 4 and isinstance(cfg.TRAIN.BATCH_IMAGES, int)
    assert cfg.TRAIN.lr == 1.0 and isinstance(cfg.TRAIN.lr, float)
    assert cfg.gpus == "0,1" and cfg.output_path == "output/foo"
    assert cfg.TEST.SCALES == ((800, 1280),)


def test_set_gpus_single_digit_stays_string():
    assert load_config(None, ["gpus", "0"]).gpus == "0"


def test_per_scale_key_accepts_int_or_list():
    assert load_config(None, ["TEST.BATCH_IMAGES", "[2,2,4]"]).TEST.BATCH_IMAGES == (2, 2, 4)
    assert load_config(None, ["TEST.BATCH_IMAGES", "3"]).TEST.BATCH_IMAGES == 3


def test_unknown_key_suggests_close_names():
    with pytest.raises(ConfigError, match=r"unknown config key TRAIN\.USE_NEG_CHIP .*TRAIN\.USE_NEG_CHIPS"):
        load_config(None, ["TRAIN.USE_NEG_CHIP", "False"])
    with pytest.raises(ConfigError, match="unknown config key NOPE.lr"):
        load_config(None, ["NOPE.lr", "1"])


@pytest.mark.parametrize("words, pattern", [
    (["TRAIN.BATCH_IMAGES", "four"], r"TRAIN\.BATCH_IMAGES: cannot use four \(expected int"),
    (["TRAIN.BATCH_IMAGES", "2.5"], r"TRAIN\.BATCH_IMAGES: cannot use 2\.5"),
    (["TRAIN.lr", "fast"], r"TRAIN\.lr: cannot use fast \(expected float"),
    (["TRAIN.FLIP", "maybe"], r"TRAIN\.FLIP: cannot use maybe \(expected bool"),
    (["TRAIN.SCALES", "3"], r"TRAIN\.SCALES: cannot use 3 \(expected tuple"),
    (["TRAIN", "1"], r"TRAIN is a section"),
])
def test_bad_values_name_key_value_and_type(words, pattern):
    with pytest.raises(ConfigError, match=pattern):
        load_config(None, words)


def test_option_after_set_is_explained():
    with pytest.raises(ConfigError, match="--set must come last: --cfg"):
        load_config(None, ["TRAIN.lr", "0.1", "--cfg", "x.yml"])


def test_odd_number_of_set_words():
    with pytest.raises(ConfigError, match="odd number"):
        load_config(None, ["TRAIN.lr", "0.1", "TRAIN.wd"])


def test_yaml_errors_name_the_file(tmp_path):
    bad_key = tmp_path / "bad_key.yml"
    bad_key.write_text("TRAIN:\n  BATCH_IMAGE: 3\n")
    with pytest.raises(ConfigError, match=r"bad_key\.yml: unknown config key TRAIN\.BATCH_IMAGE .*BATCH_IMAGES"):
        load_config(str(bad_key))
    bad_type = tmp_path / "bad_type.yml"
    bad_type.write_text("TRAIN:\n  lr: [1, 2]\n")
    with pytest.raises(ConfigError, match=r"bad_type\.yml: config key TRAIN\.lr"):
        load_config(str(bad_type))
    broken = tmp_path / "broken.yml"
    broken.write_text("TRAIN: [unclosed\n")
    with pytest.raises(ConfigError, match=r"broken\.yml is not valid YAML"):
        load_config(str(broken))
    with pytest.raises(ConfigError, match="does not exist"):
        load_config(str(tmp_path / "missing.yml"))


def test_yaml_python_tags_rejected(tmp_path):
    unsafe = tmp_path / "unsafe.yml"
    unsafe.write_text("TRAIN:\n  SCALES: !!python/tuple [1.0, 2.0]\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(str(unsafe))


def test_yaml_lists_become_tuples(tmp_path):
    path = tmp_path / "exp.yml"
    path.write_text("TRAIN:\n  VALID_RANGES: [[-1, 50], [40, -1]]\n  SCALES: [2.0, 512.0]\n")
    cfg = load_config(str(path))
    assert cfg.TRAIN.VALID_RANGES == ((-1, 50), (40, -1)) and config_name(cfg) == "exp"


@pytest.mark.parametrize("script", ["main_train.py"])
def test_cli_unknown_key_exits_2_with_one_line(script):
    proc = subprocess.run([sys.executable, os.path.join(ROOT, script), "--set", "TRAIN.NO_SUCH_KEY", "1"],
                          capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert proc.returncode == 2
    lines = [line for line in proc.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "TRAIN.NO_SUCH_KEY" in lines[0] and "Traceback" not in proc.stderr


def test_train_without_coco_points_to_the_quickstart(tmp_path):
    """The paper config on this CPU machine: the devices are checked first (before a dataset is looked for, as
    main_test.py: model, devices, data), and both lines point to the quickstart."""
    def last_line(*words):
        proc = subprocess.run([sys.executable, os.path.join(ROOT, "main_train.py"), "--set", "dataset.dataset_path",
                               str(tmp_path / "no_coco"), "output_path", str(tmp_path / "out")] + list(words),
                              capture_output=True, text=True, cwd=ROOT, timeout=300)
        assert proc.returncode == 2 and "Traceback" not in proc.stderr
        return proc.stderr.strip().splitlines()[-1]
    import mxnet as mx
    if mx.context.num_gpus():
        pytest.skip("the GPU check passes on a machine with GPUs")
    line = last_line()
    assert "config key gpus" in line and "no GPU here" in line and "quickstart" in line
    line = last_line("gpus", "", "TRAIN.fp16", "False")  # the CPU settings: the training set comes next
    assert "no_coco" in line and "instances_train2014.json" in line and "quickstart" in line
