"""A released checkpoint of the original's mask variant (symbols/faster/resnet_mx_101_e2e_mask.py) loads into this
SNIPER with TRAIN.WITH_MASK: its RPN on conv4 only (1024 channels, MASK:285) and the mask head's layers
(tests/original_param_names.mask_layers: mask_offset, mask_conv_3x3_1..4, mask_deconv, mask_out 160 channels)
each land in the block that plays their part, found through block attributes, not names."""
import mxnet as mx
import numpy as np
import pytest

from lib.model.checkpoint_names import CheckpointError, load_original_params
from lib.model.params import initialize_sniper
from lib.model.sniper import build_sniper
from tests.model_utils import model_config
from tests.original_param_names import checkpoint_key, detector_layout, mask_layers


@pytest.fixture(scope="module")
def mask_net():
    net = build_sniper(model_config("resnet101", "TRAIN.WITH_MASK", "True", "dataset.NUM_CLASSES", "81"),
                       train=False)
    initialize_sniper(net)
    return net


def _mask_layout():
    shapes = dict(detector_layout("resnet101"), **mask_layers())
    shapes["rpn_conv_3x3_weight"] = (512, 1024, 3, 3)  # get_rpn(conv_feat): conv4, 1024 channels
    return shapes


def _write(path, shapes):
    values = {name: 1.0 + i for i, name in enumerate(sorted(shapes))}
    mx.nd.save(str(path), {checkpoint_key(n): mx.nd.array(np.full(shapes[n], values[n], np.float32))
                           for n in shapes})
    return values


def test_mask_checkpoint_fills_the_mask_head_and_the_conv4_rpn(mask_net, tmp_path):
    path = tmp_path / "SNIPER-mask-0007.params"
    values = _write(path, _mask_layout())
    load_original_params(mask_net, path)
    head = mask_net.mask_head
    blocks = {"mask_offset": head.mask_offset, "mask_deconv": head.mask_deconv, "mask_out": head.mask_out,
              "rpn_conv_3x3": mask_net.rpn.conv}
    blocks.update({"mask_conv_3x3_%d" % (k + 1): head.convs[k] for k in range(4)})
    for layer, block in blocks.items():
        for leaf in ("weight", "bias"):
            name = "%s_%s" % (layer, leaf)
            if name not in values:
                assert layer == "mask_deconv" and getattr(block, "bias") is None  # no bias in the original
                continue
            data = getattr(block, leaf).data().asnumpy()
            assert data.min() == data.max() == values[name], name


def test_box_checkpoint_does_not_fit_the_mask_network(mask_net, tmp_path):
    path = tmp_path / "SNIPER-0007.params"
    _write(path, detector_layout("resnet101"))
    with pytest.raises(CheckpointError, match="missing .*mask_"):
        load_original_params(mask_net, path)
