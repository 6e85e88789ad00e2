"""main_test.py / demo.py with a missing prerequisite: exit 2 and one line saying how to get it.

The original's command lines (`python main_test.py`, `python demo.py`) take configs/faster/sniper_res101_e2e.yml
and look for its model at output_path / config name / '_'.join(image sets) / SNIPER-<TEST_EPOCH:04d>.params
(create_logger in the original's lib/train_utils/utils.py lines 126-132, load_param with TEST.TEST_EPOCH 7 in
its main_test.py and demo.py; output_path ./output/sniper_res101_bn in its configs/faster/sniper_res101_e2e.yml).
"""
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PAPER_MODEL = "output/sniper_res101_bn/sniper_res101_e2e/train2014_val2014/SNIPER-0007.params"
SCRIPTS = ("main_test.py", "demo.py")


def run_script(script, *args):
    """(exit code, non-empty output lines of stdout + stderr)."""
    env = dict(os.environ, OMP_NUM_THREADS="1")
    done = subprocess.run([sys.executable, os.path.join(ROOT, script)] + list(args), cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=300)
    lines = [line for line in (done.stdout + done.stderr).splitlines() if line.strip()]
    return done.returncode, lines


def fake_checkpoints(folder, epochs):
    """Empty epoch checkpoints (params + the progress json that marks them complete); never read here."""
    os.makedirs(folder, exist_ok=True)
    for epoch in epochs:
        for ext in (".params", ".json"):
            open(os.path.join(folder, "SNIPER-%04d%s" % (epoch, ext)), "w").close()


def test_model_params_finds_the_epoch_or_says_what_is_there(tmp_path):
    from lib.config import load_config
    from lib.inference.prerequisites import MissingModel, model_params
    cfg = load_config(os.path.join(ROOT, "configs", "quickstart", "shapes_cpu.yml"),
                      ["output_path", str(tmp_path), "dataset.image_set", "train+val"])
    folder = tmp_path / "shapes_cpu" / "train_val"  # '+' -> '_' as the original's create_logger
    with pytest.raises(MissingModel, match=r"^no trained model .*SNIPER-0003\.params: train it with"):
        model_params(cfg)
    fake_checkpoints(folder, [1, 2])
    open(folder / "SNIPER-0002-000100.params", "w").close()  # an iteration checkpoint is not an epoch
    open(folder / "SNIPER-0002-000100.json", "w").close()
    assert model_params(cfg, 2) == str(folder / "SNIPER-0002.params")
    with pytest.raises(MissingModel, match=r"SNIPER-0003\.params does not exist: pass `--epoch 2` .*: 1, 2\)$"):
        model_params(cfg)


@pytest.mark.skipif(os.path.exists(os.path.join(ROOT, PAPER_MODEL)), reason="the released model is installed")
@pytest.mark.parametrize("script", SCRIPTS)
def test_no_arguments_without_the_released_model(script):
    code, lines = run_script(script)
    assert code == 2
    assert len(lines) == 1, lines
    line = lines[0]
    assert line.startswith("error: ") and PAPER_MODEL in line
    assert "python scripts/download_sniper_detectors.py" in line
    assert "--cfg configs/quickstart/shapes_cpu.yml" in line


@pytest.mark.parametrize("script", SCRIPTS)
def test_missing_test_epoch_names_the_epoch_flag(script, tmp_path):
    fake_checkpoints(tmp_path / "shapes_cpu" / "train", [1, 2])  # the quickstart config tests epoch 3
    code, lines = run_script(script, "--cfg", "configs/quickstart/shapes_cpu.yml", "--set", "output_path",
                             str(tmp_path))
    assert code == 2
    assert len(lines) == 1, lines
    assert str(tmp_path / "shapes_cpu" / "train" / "SNIPER-0003.params") in lines[0]
    assert "`--epoch 2`" in lines[0] and "epochs present" in lines[0] and ": 1, 2)" in lines[0]


@pytest.mark.parametrize("script", SCRIPTS)
def test_quickstart_without_a_model_says_how_to_train_it(script, tmp_path):
    code, lines = run_script(script, "--cfg", "configs/quickstart/shapes_cpu.yml", "--set", "output_path",
                             str(tmp_path))
    assert code == 2
    assert len(lines) == 1, lines
    assert "python main_train.py --cfg configs/quickstart/shapes_cpu.yml" in lines[0]
    assert "download_sniper_detectors" not in lines[0]  # no released model for this config


def test_main_test_with_a_model_but_no_coco_names_the_download(tmp_path):
    fake_checkpoints(tmp_path / "out" / "sniper_res101_e2e" / "train2014_val2014", [7])
    coco = tmp_path / "coco"
    code, lines = run_script("main_test.py", "--set", "output_path", str(tmp_path / "out"), "gpus", "cpu:0",
                             "dataset.dataset_path", str(coco))
    assert code == 2
    assert len(lines) == 1, lines
    assert "image_info_test-dev2015.json" in lines[0]
    assert "python scripts/download_coco.py --dest %s" % coco in lines[0]


def test_demo_reports_the_missing_model_before_a_missing_image(tmp_path):
    image = tmp_path / "none.jpg"
    code, lines = run_script("demo.py", "--im_path", str(image), "--set", "output_path", str(tmp_path))
    assert code == 2 and len(lines) == 1 and "no trained model" in lines[0], lines


def test_main_train_without_coco_names_the_download(tmp_path):
    coco = tmp_path / "coco"
    code, lines = run_script("main_train.py", "--set", "gpus", "", "TRAIN.fp16", "False", "output_path",
                             str(tmp_path / "out"), "dataset.dataset_path", str(coco))
    assert code == 2
    assert len(lines) == 1, lines
    assert "instances_train2014.json" in lines[0]
    assert "python scripts/download_coco.py --dest %s" % coco in lines[0] and "shapes_cpu.yml" in lines[0]
