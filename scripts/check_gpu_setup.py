"""What a GPU user runs first: can this MXNet, these libraries and these GPUs train the config?

    python scripts/check_gpu_setup.py [--cfg configs/faster/sniper_res101_e2e.yml] [--set KEY VALUE ...]
                                      [--no-table]

Reports the MXNet build features (CUDA, cuDNN, NCCL, distributed kvstore), the GPUs MXNet sees with their
memory, the CUDA libraries found (and any library libmxnet.so needs that the loader cannot find), then the
training memory per chip from MXNet's own memory planner on the real training graph (network + losses,
bound with simple_bind on the CPU: the plan depends on shapes and dtypes, not on the device) for ResNet-101,
ResNet-50 and MobileNetV2 in fp32 and fp16, and whether each configured GPU can hold TRAIN.BATCH_IMAGES chips
of TRAIN.CHIP_SIZE. Exit 2 when the config cannot run here (GPUs requested that MXNet does not see, kvstore
nccl on a build without NCCL, a GPU too small), 0 otherwise.

The estimate per device is: planned activations for the batch (the plan of the network and the losses,
`storage_allocated_bytes` of nnvm's PlanMemory, printed by Executor.debug_str as "Total X MB allocated") +
weights and gradients + the SGD states (momentum; fp32 master weights with fp16) + a margin for the CUDA
context and cuDNN workspaces, which the plan does not contain.
"""
import argparse
import ctypes.util
import os
import re
import subprocess
import sys

os.environ.setdefault("MXNET_SUBGRAPH_BACKEND", "NONE")  # plan the plain graph, not the CPU's MKLDNN fusions
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import mxnet as mx  # noqa: E402
import numpy as np  # noqa: E402

from lib.config import ConfigError, add_config_args, config_from_args  # noqa: E402

FEATURES = ("CUDA", "CUDNN", "NCCL", "DIST_KVSTORE")
# sonames the mxnet-cu112 wheel is built against (CUDA 11.2, cuDNN 8, NCCL 2) and the driver's libcuda
CUDA_LIBRARIES = ("cuda", "cudart", "cublas", "cublasLt", "curand", "cufft", "cusolver", "nvrtc", "cudnn", "nccl")
PAPER_CONFIGS = ("configs/faster/sniper_res101_e2e.yml", "configs/faster/sniper_res50_e2e.yml",
                 "configs/faster/sniper_mobilenetv2_e2e.yml")
MARGIN_MB = 1024  # CUDA context (~300-500 MB) and cuDNN workspaces, not in the plan


def build_report(features):
    """The line for the build features."""
    return "MXNet %s build: %s" % (mx.__version__, ", ".join("%s %s" % (n, "yes" if features.is_enabled(n) else "no")
                                                            for n in FEATURES))


def gpu_report():
    """Lines for the visible GPUs with free / total memory; (lines, {gpu id: free MB})."""
    count = mx.context.num_gpus()
    if count == 0:
        return ["GPUs visible to MXNet: none"], {}
    lines, free = ["GPUs visible to MXNet: %d" % count], {}
    for i in range(count):
        free_bytes, total_bytes = mx.context.gpu_memory_info(i)
        free[i] = free_bytes / 2.0 ** 20
        lines.append("  gpu(%d): %.0f MB free of %.0f MB" % (i, free[i], total_bytes / 2.0 ** 20))
    return lines, free


def library_report():
    """Lines for the CUDA libraries the dynamic loader finds, and libmxnet.so's unresolved dependencies."""
    found = ["%s: %s" % (name, ctypes.util.find_library(name) or "not found") for name in CUDA_LIBRARIES]
    lines = ["CUDA libraries (ldconfig): " + "; ".join(found)]
    library = mx.libinfo.find_lib_path()[0]
    try:
        ldd = subprocess.run(["ldd", library], capture_output=True, text=True, timeout=60).stdout
    except (OSError, subprocess.SubprocessError) as err:
        return lines + ["ldd %s failed: %s" % (library, err)]
    missing = sorted({line.split("=>")[0].strip() for line in ldd.splitlines() if "not found" in line})
    lines.append("libmxnet.so dependencies not found: %s" % (", ".join(missing) or "none"))
    return lines


def training_symbol(cfg):
    """The training network and its losses as one symbol; returns (symbol, network)."""
    from lib.data.batchify import MASK_KEYS
    from lib.model.losses import loss_inputs
    from lib.model.mask_loss import build_loss_with_masks
    from lib.model.params import configure_params
    from lib.model.sniper import build_sniper
    net = build_sniper(cfg, train=True)
    configure_params(net, cfg)
    loss = build_loss_with_masks(cfg)
    v = {name: mx.sym.var(name) for name in input_shapes(cfg, 1)}
    outputs = net(v["data"], v["im_info"], v["gt_boxes"], v["valid_ranges"], *[v[k] for k in MASK_KEYS if k in v])
    losses = loss(*loss_inputs(outputs, v["rpn_label"], v["rpn_bbox_target"], v["rpn_bbox_weight"],
                               focus_label=v.get("focus_label")))
    return mx.sym.Group(list(losses)), net


def input_shapes(cfg, chips):
    """Shapes of the loader's arrays for `chips` chips of CHIP_SIZE (lib.data.batchify's batch layout, with the
    FocusPixel labels and mask grids when the config trains them)."""
    from lib.data.batchify import batch_layout
    from lib.specs.training import LoaderSpec
    layout = batch_layout(LoaderSpec.from_config(cfg), chips, cfg.TRAIN.CHIP_SIZE)
    return {name: shape for name, (shape, _) in layout.items()}


def element_bytes(symbol, shapes):
    """Mean bytes per element of the graph's activations (the forward outputs; their gradients share the dtype)."""
    internals = symbol.get_internals()
    skip = set(symbol.list_arguments()) | set(symbol.list_auxiliary_states())
    _, out_shapes, _ = internals.infer_shape(**shapes)
    _, out_types, _ = internals.infer_type(**{n: "float32" for n in shapes})
    sizes = [(float(np.prod(shape)), np.dtype(dtype).itemsize)
             for name, shape, dtype in zip(internals.list_outputs(), out_shapes, out_types) if name not in skip]
    return sum(n * b for n, b in sizes) / sum(n for n, _ in sizes)


def planned_mb(symbol, net, shapes):
    """MB of activations MXNet's memory planner allocates for a training pass (forward + backward).

    The planner sizes every entry at 4 bytes per element (src/nnvm/plan_memory.cc, Request: "assume 4 bytes
    for now"); the executor then allocates each shared block at its real dtype size, so the planned total is
    scaled by the graph's mean bytes per element / 4 (exact for fp32, an estimate for fp16 graphs).
    """
    params = net.collect_params()
    by_name = {p.var().name: p for p in params.values()}
    grad_req = {name: ("null" if name in shapes or by_name[name].grad_req == "null" else "write")
                for name in symbol.list_arguments()}
    executor = symbol.simple_bind(mx.cpu(), grad_req=grad_req, type_dict={n: "float32" for n in shapes}, **shapes)
    match = re.search(r"Total (\d+) MB allocated", executor.debug_str())
    del executor
    return float(match.group(1)) * element_bytes(symbol, shapes) / 4.0


def state_mb(net, fp16):
    """Weights, gradients and SGD states in MB: momentum fp32, plus fp32 master weights when fp16."""
    total = 0.0
    for param in net.collect_params().values():
        size = float(np.prod(param.shape))
        weight = size * np.dtype(param.dtype).itemsize
        if param.grad_req == "null":
            total += weight
            continue
        master = size * 4 if fp16 and np.dtype(param.dtype) == np.float16 else 0.0
        total += 2 * weight + size * 4 + master
    return total / 2.0 ** 20


def memory_row(cfg):
    """(MB per chip, MB fixed) of a device training cfg: the plans for 1 and 2 chips, and the states."""
    symbol, net = training_symbol(cfg)
    one, two = (planned_mb(symbol, net, input_shapes(cfg, n)) for n in (1, 2))
    per_chip = two - one
    return per_chip, one - per_chip + state_mb(net, bool(cfg.TRAIN.fp16)) + MARGIN_MB


def check_devices(cfg, gpu_free, features):
    """Lines and problems (ConfigError texts) for the config's devices and kvstore."""
    from lib.runtime.devices import parse_contexts
    from lib.train.kvstore import check_kvstore
    problems, lines = [], []
    try:
        contexts = parse_contexts(cfg.gpus)
        check_kvstore(cfg.default.kvstore, contexts, features)
    except ConfigError as err:
        return lines, [str(err)]
    gpus = [ctx.device_id for ctx in contexts if ctx.device_type == "gpu"]
    if not gpus:
        lines.append("config: gpus %r = the CPU (no GPU requested)" % cfg.gpus)
        return lines, problems
    per_chip, fixed = memory_row(cfg)
    need = fixed + per_chip * cfg.TRAIN.BATCH_IMAGES
    for gpu in gpus:
        ok = gpu_free[gpu] >= need
        lines.append("  gpu(%d): needs ~%.0f MB for %d chips of %d px, %.0f MB free: %s"
                     % (gpu, need, cfg.TRAIN.BATCH_IMAGES, cfg.TRAIN.CHIP_SIZE, gpu_free[gpu], "ok" if ok else "TOO SMALL"))
        if not ok:
            problems.append("gpu(%d) cannot hold TRAIN.BATCH_IMAGES %d chips (~%.0f MB needed, %.0f MB free): lower "
                            "TRAIN.BATCH_IMAGES or use TRAIN.fp16" % (gpu, cfg.TRAIN.BATCH_IMAGES, need, gpu_free[gpu]))
    return lines, problems


def table_lines():
    """The memory table of the paper configs (512 px chips) in fp32 and fp16."""
    from lib.config import load_config
    rows = ["Training memory per device, paper configs (MXNet memory planner on the training graph):",
            "  %-12s %-5s %5s %9s %9s %14s" % ("backbone", "dtype", "chip", "MB/chip", "fixed MB", "16 chips, MB")]
    for path in PAPER_CONFIGS:
        for fp16 in (False, True):
            cfg = load_config(os.path.join(ROOT, path), ["TRAIN.fp16", str(fp16)])
            per_chip, fixed = memory_row(cfg)
            rows.append("  %-12s %-5s %5d %9.0f %9.0f %14.0f" % (cfg.network.BACKBONE, "fp16" if fp16 else "fp32",
                                                               cfg.TRAIN.CHIP_SIZE, per_chip, fixed,
                                                               fixed + 16 * per_chip))
    rows.append("  (fixed = activations not per chip + weights, gradients, SGD states + %d MB for the CUDA "
                "context and cuDNN workspaces)" % MARGIN_MB)
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--no-table", action="store_true", help="skip the per-backbone memory table")
    add_config_args(parser, "configs/faster/sniper_res101_e2e.yml")
    args = parser.parse_args(argv)
    cfg = config_from_args(args)  # a config mistake: one line, exit 2
    features = mx.runtime.Features()
    print(build_report(features))
    gpu_lines, gpu_free = gpu_report()
    print("\n".join(gpu_lines + library_report()))
    if not args.no_table:
        print("\n".join(table_lines()))
    lines, problems = check_devices(cfg, gpu_free, features)
    print("\n".join(["config %s: gpus %r, kvstore %s, backbone %s, %s, TRAIN.BATCH_IMAGES %d"
                     % (args.cfg, cfg.gpus, cfg.default.kvstore, cfg.network.BACKBONE,
                        "fp16" if cfg.TRAIN.fp16 else "fp32", cfg.TRAIN.BATCH_IMAGES)] + lines))
    for problem in problems:
        sys.stderr.write("error: %s\n" % problem)
    if not gpu_free and not problems:
        print("no GPU here: training runs on the CPU with gpus ''")
    return 2 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
