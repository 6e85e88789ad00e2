"""Reading a `.params` file and checking it against a network, for resuming, testing and the Detector."""
import mxnet as mx
from mxnet.base import MXNetError

from lib.model.checkpoint_names import CheckpointError


class CorruptCheckpoint(CheckpointError):
    """A checkpoint file that cannot be read (truncated or damaged); the message names the file."""


def read_params(path):
    """{name: NDArray} of a `.params` file; CorruptCheckpoint naming it when MXNet cannot read it."""
    try:
        return mx.nd.load(path)
    except MXNetError:
        raise CorruptCheckpoint("checkpoint %s is truncated or corrupt (MXNet cannot read it)" % path) from None


def check_param_shapes(net, arrays, path):
    """CheckpointError when a parameter in `arrays` (read from `path`) has another shape than in `net`; the
    classifier's rows name both class counts."""
    for name, param in net._collect_params_with_prefix().items():
        saved = arrays.get(name)
        if saved is None or 0 in param.shape or tuple(saved.shape) == tuple(param.shape):
            continue
        if name.endswith("cls_score.weight") and not name.startswith("rpn"):
            raise CheckpointError("checkpoint %s predicts %d classes but this config has dataset.NUM_CLASSES = %d "
                                  "(with background)" % (path, saved.shape[0], param.shape[0]))
        raise CheckpointError("checkpoint %s does not fit this network: %s is %s in the file, %s here (check the "
                              "config it was trained with)" % (path, name, tuple(saved.shape), tuple(param.shape)))
