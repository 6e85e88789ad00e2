"""The test network from a training checkpoint (this project's, or a released one of the original)."""
import re

from mxnet import gluon

from lib.model.checkpoint_names import CheckpointError, load_original_params
from lib.model.sniper import build_sniper
from lib.runtime.params_file import check_param_shapes, read_params
from lib.runtime.devices import set_cudnn_autotune

FOCUS_LAYERS = re.compile(r"^focus\.")  # the FocusPixel branch's saved names (lib/model/focus_head.py)


def build_test_network(cfg, params_path, contexts, rpn_only=False):
    """SNIPER in test mode on `contexts` with the weights of `params_path`, hybridized.

    float16 (TRAIN.fp16) only on GPUs: on a CPU the same weights run in float32 (cast on load).
    rpn_only: backbone + RPN only, outputs rois and roi_scores (proposal extraction); loads an RPN-only
        checkpoint (TRAIN.ONLY_PROPOSAL) or the RPN part of a full one.
    Constants (the anchors) come from the config; every other parameter must be in the file; a checkpoint's
    FocusPixel layers are skipped when TEST.AUTO_FOCUS is off. A file with `arg:` /
    `aux:` keys is an MXNet Module checkpoint of the original (its released detectors) and loads by its names.
    """
    set_cudnn_autotune(False)  # every canvas size would start a new cuDNN algorithm search
    fp16 = cfg.TRAIN.fp16 and all(ctx.device_type == "gpu" for ctx in contexts)
    net = build_sniper(cfg, train=False, dtype="float16" if fp16 else "float32", rpn_only=rpn_only)
    net.initialize(ctx=contexts)
    arrays = read_params(params_path)  # a truncated file: CorruptCheckpoint naming it
    if any(key.startswith(("arg:", "aux:")) for key in arrays):
        load_original_params(net, params_path, rpn_only=rpn_only)
        net.hybridize(static_alloc=True)
        return net
    check_param_shapes(net, arrays, params_path)  # another class count: both counts named
    saved = set(arrays)
    missing = [name for name, p in net._collect_params_with_prefix().items()
               if name not in saved and not isinstance(p, gluon.Constant)]
    if missing:
        raise CheckpointError("%s does not fit this network (check the config it was trained with): missing %s%s"
                              % (params_path, ", ".join(missing[:5]), " ..." if len(missing) > 5 else ""))
    extra = saved - set(net._collect_params_with_prefix())
    focus_only = bool(extra) and all(FOCUS_LAYERS.match(name) for name in extra)  # a test without TEST.AUTO_FOCUS
    net.load_parameters(params_path, ctx=contexts, allow_missing=True, ignore_extra=rpn_only or focus_only,
                        cast_dtype=True, dtype_source="current")
    net.hybridize(static_alloc=True)
    return net
