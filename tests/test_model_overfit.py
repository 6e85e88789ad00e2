"""A tiny-backbone SNIPER overfits two fixed synthetic chips: every loss falls by a large factor."""
import mxnet as mx
import numpy as np
import pytest

from lib.geometry.anchors import generate_base_anchors, shifted_anchors
from lib.model.losses import LOSS_OUTPUTS, build_loss, loss_inputs
from lib.model.params import configure_params, initialize_sniper, trainable_params
from lib.model.sniper import TrainOutput, build_sniper
from lib.geometry.boxes import bbox_overlaps, bbox_transform
from tests.model_utils import model_config, synthetic_batch

CHIP = 128


def simple_rpn_targets(cfg, gt_boxes):
    """Loader-layout RPN targets: IoU >= 0.5 (or best) positive, < 0.4 negative; no sampling."""
    a, f = cfg.network.NUM_ANCHORS, CHIP // 16
    anchors = shifted_anchors(generate_base_anchors(16, cfg.network.ANCHOR_RATIOS, cfg.network.ANCHOR_SCALES),
                              f, f, 16)  # position-major (y, x, a)
    labels, targets, weights = [], [], []
    for gts in gt_boxes:
        gts = gts[gts[:, 4] > 0, :4]
        iou = bbox_overlaps(anchors, gts)
        label = np.where(iou.max(1) < 0.4, 0.0, -1.0)
        label[iou.max(1) >= 0.5] = 1
        label[iou.argmax(0)] = 1
        target = bbox_transform(anchors, gts[iou.argmax(1)]) * (label == 1)[:, None]
        labels.append(label.reshape(f, f, a).transpose(2, 0, 1).ravel())
        targets.append(target.reshape(f, f, 4 * a).transpose(2, 0, 1))
        weights.append(np.repeat((label == 1).reshape(f, f, a), 4, axis=2).transpose(2, 0, 1))
    return [mx.nd.array(np.stack(x).astype(np.float32)) for x in (labels, targets, weights)]


@pytest.mark.slow
def test_tiny_net_overfits_two_chips():
    mx.random.seed(0)
    cfg = model_config("tiny")
    net = build_sniper(cfg)
    initialize_sniper(net)
    configure_params(net, cfg)
    net.hybridize()
    loss = build_loss(cfg)
    loss.hybridize()
    batch = synthetic_batch(cfg, 2, CHIP)
    rpn = simple_rpn_targets(cfg, batch[2].asnumpy())
    trainer = mx.gluon.Trainer(trainable_params(net), "sgd",
                               {"learning_rate": 0.02, "momentum": 0.9, "wd": 1e-4})
    history = []
    for _ in range(60):
        with mx.autograd.record():
            outs = dict(zip(LOSS_OUTPUTS, loss(*loss_inputs(TrainOutput(*net(*batch)), *rpn))))
        outs["total"].backward()
        trainer.step(1)
        history.append([outs[k].asscalar() for k in LOSS_OUTPUTS[:5]])
    first, last = np.mean(history[:3], axis=0), np.mean(history[-3:], axis=0)
    assert last[0] < first[0] / 5, (first, last)
    assert last[1] < first[1] / 5 and last[3] < first[3] / 3, (first, last)
