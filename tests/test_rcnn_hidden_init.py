"""network.RCNN_HIDDEN_INIT: the original's N(0, 0.01) on the R-CNN hidden layers by default, He-scaled Gaussian
(std sqrt(2 / fan-in)) when asked; the output layers keep the original's N(0, 0.01) either way."""
import math

import pytest

from lib.config import load_config
from lib.model.params import initialize_sniper
from lib.model.sniper import build_sniper
from train_helpers import QUICKSTART_CFG

# tiny backbone (lib/model/backbones/tiny.py): conv_new_1 32 channels over 96 + 128 features, FCs of 128
FAN_IN = {"conv_new_1": 96 + 128, "fc_new_1": 32 * 7 * 7, "fc_new_2": 128}


def _stds(value):
    cfg = load_config(QUICKSTART_CFG, ["network.RCNN_HIDDEN_INIT", value])
    net = build_sniper(cfg)
    initialize_sniper(net)
    head = net.head
    return {name: float(getattr(head, name).weight.data().asnumpy().std())
            for name in ("conv_new_1", "fc_new_1", "fc_new_2", "cls_score")}, net


def test_default_is_the_originals_normal_001():
    stds, net = _stds("normal")
    assert net.head.conv_new_1.weight.shape[1] == FAN_IN["conv_new_1"]  # the fan-ins below are the tiny head's
    for name in ("conv_new_1", "fc_new_1", "fc_new_2", "cls_score"):
        assert stds[name] == pytest.approx(0.01, rel=0.15), name  # resnet_mx_101_e2e.py init_weight_rcnn


def test_xavier_scales_the_hidden_layers_by_their_fan_in():
    stds, _ = _stds("xavier")
    for name, fan_in in FAN_IN.items():
        assert stds[name] == pytest.approx(math.sqrt(2.0 / fan_in), rel=0.15), name
    assert stds["cls_score"] == pytest.approx(0.01, rel=0.15)


def test_an_unknown_value_names_the_key():
    cfg = load_config(QUICKSTART_CFG, ["network.RCNN_HIDDEN_INIT", "uniform"])
    with pytest.raises(ValueError, match="network.RCNN_HIDDEN_INIT"):
        build_sniper(cfg)
