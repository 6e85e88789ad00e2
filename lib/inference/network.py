"""The test network from a training checkpoint."""
from lib.model.sniper import build_sniper


def build_test_network(cfg, params_path, contexts, rpn_only=False):
    """SNIPER in test mode on `contexts` with the weights of `params_path`, hybridized.

    float16 (TRAIN.fp16) only on GPUs: on a CPU the same weights run in float32 (cast on load).
    rpn_only: the network of an RPN-only checkpoint (TRAIN.ONLY_PROPOSAL): outputs rois and roi_scores.
    """
    fp16 = cfg.TRAIN.fp16 and all(ctx.device_type == "gpu" for ctx in contexts)
    net = build_sniper(cfg, train=False, dtype="float16" if fp16 else "float32", rpn_only=rpn_only)
    net.load_parameters(params_path, ctx=contexts, cast_dtype=True, dtype_source="current")
    net.hybridize(static_alloc=True)
    return net
