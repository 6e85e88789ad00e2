"""Forward+backward seconds per chip on this CPU: SNIPER (tiny, ResNet-50, ResNet-101) next to gluoncv's
Faster R-CNN (faster_rcnn_resnet50_v1b_coco, faster_rcnn_resnet101_v1d_coco; random weights) on the same
pixels, plus parameter counts. Prints a table.

    python scripts/bench_model.py [--chip 512] [--batch 1] [--iters 3] [--models tiny,resnet50,...]
"""
import argparse
import os
import sys
import time

import mxnet as mx
import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from lib.config import load_config  # noqa: E402
from lib.model.losses import build_loss, loss_inputs  # noqa: E402
from lib.model.params import configure_params, initialize_sniper  # noqa: E402
from lib.model.sniper import TrainOutput, build_sniper  # noqa: E402
from lib.utils.atomic import atomic_write_json  # noqa: E402

CONFIGS = {"tiny": "configs/quickstart/shapes_cpu.yml", "resnet50": "configs/faster/sniper_res50_e2e.yml",
           "resnet101": "configs/faster/sniper_res101_e2e.yml"}
GLUONCV = {"gcv_resnet50": "faster_rcnn_resnet50_v1b_coco", "gcv_resnet101": "faster_rcnn_resnet101_v1d_coco"}


def sniper_step(name, chip, batch):
    """(step function, net) for a SNIPER training step on `batch` random chips."""
    cfg = load_config(CONFIGS[name], ["TRAIN.fp16", "False", "TRAIN.AUTO_FOCUS", "False"])  # the detector alone
    net = build_sniper(cfg)
    initialize_sniper(net)
    configure_params(net, cfg)
    net.hybridize(static_alloc=True)
    loss = build_loss(cfg)
    rng = np.random.RandomState(0)
    gts = -np.ones((batch, cfg.dataset.MAX_GTS, 5), np.float32)
    gts[:, :3] = [[40, 50, 200, 220, 1], [300, 100, 420, 300, 2], [10, 300, 90, 380, 3]]
    inputs = [mx.nd.array(rng.normal(0, 50, (batch, 3, chip, chip))), mx.nd.array([[chip, chip, 1]] * batch),
              mx.nd.array(gts), mx.nd.array([[0, chip]] * batch)]
    f, a = chip // 16, cfg.network.NUM_ANCHORS
    rpn = [mx.nd.array(rng.choice([-1, 0, 1], (batch, a * f * f), p=[0.98, 0.015, 0.005])),
           mx.nd.zeros((batch, 4 * a, f, f)), mx.nd.zeros((batch, 4 * a, f, f))]

    def step():
        with mx.autograd.record():
            total = loss(*loss_inputs(TrainOutput(*net(*inputs)), *rpn))[0]
        total.backward()
        mx.nd.waitall()
    return step, net


def gluoncv_step(name, chip, batch):
    """(step function, net) for gluoncv Faster R-CNN's training forward+backward."""
    import gluoncv
    net = gluoncv.model_zoo.get_model(GLUONCV[name], pretrained=False, pretrained_base=False)
    net.initialize()
    net.hybridize(static_alloc=True)
    data = mx.nd.array(np.random.RandomState(0).normal(0, 1, (batch, 3, chip, chip)))
    gt = mx.nd.array([[[40, 50, 200, 220], [300, 100, 420, 300]]] * batch)
    gt_label = mx.nd.array([[[0], [1]]] * batch)

    def step():
        with mx.autograd.record():
            outs = net(data, gt, gt_label)
            total = outs[0].sum() + outs[1].sum() + outs[2].sum()
        total.backward()
        mx.nd.waitall()
    return step, net


def count_params(net):
    return sum(int(np.prod(p.shape)) for p in net.collect_params().values() if p.shape and
               not isinstance(p, mx.gluon.Constant))


def timed(step, iters):
    step()  # warm-up (graph build, allocation)
    start = time.time()
    for _ in range(iters):
        step()
    return (time.time() - start) / iters


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--chip", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--iters", type=int, default=3)
    parser.add_argument("--models", default="tiny,resnet50,gcv_resnet50,resnet101,gcv_resnet101")
    parser.add_argument("--json", default=None, help="also write the figures to this json file")
    args = parser.parse_args()
    rows = []
    for name in args.models.split(","):
        builder = gluoncv_step if name in GLUONCV else sniper_step
        step, net = builder(name, args.chip, args.batch)
        seconds = timed(step, args.iters) / args.batch
        params = count_params(net)  # after running: gluoncv's shapes are inferred lazily
        rows.append((name, seconds, params))
        print("%-14s %.3f s/chip  %.1fM params" % (name, seconds, params / 1e6), flush=True)
    per_pixel = {n: s / (args.chip * args.chip) for n, s, _ in rows}
    print("\n| model | fwd+bwd s per %dx%d chip | params (M) | time vs gluoncv (same pixels) |" % (args.chip, args.chip))
    print("|---|---|---|---|")
    for name, seconds, params in rows:
        ref = "gcv_resnet101" if "101" in name else "gcv_resnet50"
        ratio = "%.2f" % (per_pixel[name] / per_pixel[ref]) if ref in per_pixel and name not in GLUONCV else "-"
        print("| %s | %.3f | %.1f | %s |" % (name, seconds, params / 1e6, ratio))
    if args.json:
        atomic_write_json(args.json, {name: {"s_per_chip": seconds, "params": params, "s_per_megapixel":
                                             per_pixel[name] * 1e6} for name, seconds, params in rows}, indent=1)


if __name__ == "__main__":
    main()
