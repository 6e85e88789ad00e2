"""What main_test.py and demo.py need before they start, and one line on how to get what is missing.

The trained model is `<output_path>/<config name>/<training image set>/SNIPER-<epoch:04d>.params`, the place
where the original's download script unpacks its released detectors (e.g. the ResNet-101 COCO model at
output/sniper_res101_bn/sniper_res101_e2e/train2014_val2014/SNIPER-0007.params, which the original's demo.py
loads with its defaults).
"""
import os

from lib.config import config_name
from lib.dataset.errors import DatasetError
from lib.runtime.run_paths import checkpoint_stem, list_checkpoints, output_dir

QUICKSTART_CFG = "configs/quickstart/shapes_cpu.yml"
# Configs whose trained model the original released (its README: SNIPER ResNet-101 and MobileNetV2 on COCO,
# ResNet-101 on PASCAL VOC), fetched by scripts/download_sniper_detectors.py.
RELEASED = ("sniper_res101_e2e", "sniper_mobilenetv2_e2e", "sniper_res101_e2e_pascal_voc")
DOWNLOAD_DETECTORS = "python scripts/download_sniper_detectors.py"
DOWNLOAD_COCO = "python scripts/download_coco.py"


class MissingModel(FileNotFoundError):
    """The checkpoint to test is absent; the message says how to get it."""


def _model_ways(cfg):
    """How to get a model for this config, as one clause."""
    name = config_name(cfg)
    cfg_file = cfg.get("_cfg_file") or "<config>"
    ways = ["train it with `python main_train.py --cfg %s`" % cfg_file]
    if name in RELEASED:
        ways.insert(0, "download the released detectors with `%s`" % DOWNLOAD_DETECTORS)
    if os.path.normpath(cfg_file) != os.path.normpath(QUICKSTART_CFG):
        ways.append("run the CPU quickstart model with `--cfg %s` (`make quickstart` trains it)" % QUICKSTART_CFG)
    return ", or ".join(ways)


def model_params(cfg, epoch=None):
    """Path of the params to test: epoch `epoch`, default TEST.TEST_EPOCH.

    Raises MissingModel with one line: no checkpoint at all -> how to get one; another epoch present -> `--epoch`.
    """
    epoch = cfg.TEST.TEST_EPOCH if epoch is None else epoch
    folder = output_dir(cfg)
    path = checkpoint_stem(folder, epoch) + ".params"
    if os.path.exists(path):
        return path
    epochs = sorted({e for e, batch, _ in list_checkpoints(folder) if batch == 0})
    if not epochs:
        raise MissingModel("no trained model %s: %s" % (path, _model_ways(cfg)))
    raise MissingModel("checkpoint %s does not exist: pass `--epoch %d` or `--set TEST.TEST_EPOCH %d` "
                       "(epochs present in %s: %s)"
                       % (path, epochs[-1], epochs[-1], folder, ", ".join(map(str, epochs))))


def coco_set_missing(dataset_path, image_set):
    """True when one COCO set (no '+') lacks its json or its image folder, i.e. was never downloaded."""
    from lib.dataset.coco import SET_DIRS
    ann = os.path.join(dataset_path, "annotations")
    jsons = [os.path.join(ann, "%s_%s.json" % (kind, image_set)) for kind in ("instances", "image_info")]
    images = os.path.join(dataset_path, "images", SET_DIRS.get(image_set, image_set))
    return not any(os.path.isfile(j) for j in jsons) or not os.path.isdir(images)


def with_dataset_hint(cfg, image_set, err):
    """`err` (a DatasetError) with the way to download COCO appended when the set is absent, else `err`."""
    sets = [s for s in str(image_set).split("+") if s]
    if cfg.dataset.dataset == "coco" and any(coco_set_missing(cfg.dataset.dataset_path, s) for s in sets):
        dest = cfg.dataset.dataset_path
        command = DOWNLOAD_COCO if os.path.normpath(dest) == "data/coco" else "%s --dest %s" % (DOWNLOAD_COCO, dest)
        return DatasetError("%s: get COCO with `%s`" % (err, command))
    return err
