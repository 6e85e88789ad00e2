"""ImageNet weights of MXNet's Gluon model zoo -> `network.pretrained` files in the original's format.

The written `<prefix>-0000.params` holds `arg:<name>` / `aux:<name>` arrays named as the original's symbols
(`checkpoint_names.original_name`), like the original's data/pretrained_model files, so it loads through
`load_original_params(net, path, backbone_only=True)` as they do. The zoo networks take RGB in [0, 1]
normalised by ImageNet's mean and std; this project's input is RGB 0-255 minus `network.PIXEL_MEANS`, so the
conversion folds that map into the first layers:
* ResNet v2: into the data BN (`checkpoint_names.fold_input_normalisation`, exact);
* MobileNetV2 (no data BN): into the first conv's weights and the first BN's running mean, exact except on
  the first conv's zero-padded 1-pixel border, where the zoo saw padding at the normalised mean.
"""
import os
import re
from types import SimpleNamespace

import mxnet as mx
import numpy as np

from lib.model.backbones import build_backbone
from lib.model.checkpoint_names import CheckpointError, expected_params, load_gluon_resnet_v2
from lib.utils.atomic import atomic_write

# zoo model -> this project's network.BACKBONE (the zoo's mobilenetv2_1.0 keeps the 1x1 expansion of the t = 1
# block, as the original's mobilenetv2 symbol; gluoncv's own mobilenetv2_1.0 drops it and does not fit)
ZOO_BACKBONES = {"resnet101_v2": "resnet101", "resnet50_v2": "resnet50", "mobilenetv2_1.0": "mobilenetv2"}
IMAGENET_MEAN, IMAGENET_STD = np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225])
DEFAULT_MEANS_BGR = (103.939, 116.779, 123.68)  # network.PIXEL_MEANS of every paper config
AUX = re.compile(r"_moving_(mean|var)$")


def initialised_backbone(name):
    """This project's backbone `name` with every parameter allocated (one forward on a small input)."""
    backbone = build_backbone(name)
    backbone.initialize()
    backbone(mx.nd.zeros((1, 3, 64, 64)))
    return backbone


def save_original_format(backbone, path):
    """Write the backbone's weights as a Module checkpoint in the original's names; returns `path`."""
    arrays = {("aux:" if AUX.search(name) else "arg:") + name: param.data()
              for name, param in expected_params(backbone).items()}
    return atomic_write(path, lambda tmp: mx.nd.save(tmp, arrays))


def fold_into_first_conv(weight, bn_mean, pixel_means_bgr):
    """(first conv weight (O, 3, k, k), first BN running mean (O,)) for input RGB 0-255 minus PIXEL_MEANS.

    The zoo computes conv(W, z) with z_c = (x_c / 255 - mean_c) / std_c = (x'_c + P_c - 255 mean_c) / (255 std_c)
    where x' = x - P: that is conv(W / (255 std), x') plus the constant k_o = sum W[o, c] (P_c - 255 mean_c) /
    (255 std_c) away from the border, which the BN removes when its running mean drops by k.
    """
    means_rgb = np.array(pixel_means_bgr, dtype=np.float64)[::-1]
    scale = 1.0 / (255.0 * IMAGENET_STD)
    shift = (means_rgb - 255.0 * IMAGENET_MEAN) * scale
    weight = weight.astype(np.float64)
    k = (weight * shift[None, :, None, None]).sum(axis=(1, 2, 3))
    return weight * scale[None, :, None, None], bn_mean.astype(np.float64) - k


def load_zoo_mobilenet_v2(backbone, zoo_file, pixel_means_bgr=DEFAULT_MEANS_BGR):
    """The zoo's mobilenetv2_1.0 weights into this project's MobileNetV2, layer by layer in order.

    Both list the same layers in the same order (first conv + BN, 17 inverted residuals of expand / depthwise /
    project conv + BN, last conv + BN; the zoo's classifier `output` is unused); every pair must agree in its
    leaf name (weight, gamma, ...) and shape, else CheckpointError.
    """
    from mxnet.gluon.model_zoo import vision
    zoo = vision.get_model("mobilenetv2_1.0")
    zoo.load_parameters(os.path.expanduser(zoo_file))
    source = [(k, p.data()) for k, p in zoo._collect_params_with_prefix().items() if not k.startswith("output.")]
    target = list(backbone._collect_params_with_prefix().items())
    if len(source) != len(target):
        raise CheckpointError("%s has %d backbone arrays, MobileNetV2 here %d" % (zoo_file, len(source), len(target)))
    for (zoo_name, array), (name, param) in zip(source, target):
        if zoo_name.rsplit(".", 1)[-1] != name.rsplit(".", 1)[-1] or array.shape != param.shape:
            raise CheckpointError("%s: %s %s does not fit %s %s" % (zoo_file, zoo_name, array.shape, name,
                                                                     param.shape))
        param.set_data(array)
    first_conv, first_bn = backbone.first[0], backbone.first[1]
    weight, mean = fold_into_first_conv(first_conv.weight.data().asnumpy(),
                                        first_bn.running_mean.data().asnumpy(), pixel_means_bgr)
    first_conv.weight.set_data(mx.nd.array(weight, dtype="float32"))
    first_bn.running_mean.set_data(mx.nd.array(mean, dtype="float32"))


def convert_zoo_file(zoo_name, zoo_file, out_path, pixel_means_bgr=DEFAULT_MEANS_BGR):
    """Convert the zoo file of `zoo_name` (a ZOO_BACKBONES key) to `out_path`; returns `out_path`."""
    backbone = initialised_backbone(ZOO_BACKBONES[zoo_name])
    if zoo_name == "mobilenetv2_1.0":
        load_zoo_mobilenet_v2(backbone, zoo_file, pixel_means_bgr)
    else:
        load_gluon_resnet_v2(SimpleNamespace(backbone=backbone), zoo_file, pixel_means_bgr)
    return save_original_format(backbone, out_path)
