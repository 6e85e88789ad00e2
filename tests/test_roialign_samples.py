"""network.ROIALIGN_SAMPLES: RoIAlign's bilinear samples per bin side, checked by hand on a quadratic map."""
import mxnet as mx
import numpy as np

from lib.config import load_config
from lib.model.rcnn_head import RCNNHead
from lib.model.sniper import SNIPER


def pooled_row(samples):
    """Pool a 1-channel map f(x, y) = x^2 over the RoI [0, 0, 14, 14] at stride 1: 7 bins of 2 px per side."""
    head = RCNNHead(in_channels=1, stride=1, num_classes=2, channels=1, pooling="roialign",
                    roialign_samples=samples)
    x = np.arange(16, dtype=np.float32)
    feat = mx.nd.array(np.broadcast_to(x ** 2, (1, 1, 16, 16)))
    rois = mx.nd.array([[0, 0, 0, 14, 14]])
    return head.pool(mx.nd, feat, rois).asnumpy()[0, 0, 0]


def test_one_and_two_samples_per_bin_by_hand():
    centres = 2 * np.arange(7) + 1.0
    # 1 sample: the bin centre 2p + 1, an integer, so x^2 is read exactly
    np.testing.assert_allclose(pooled_row(1), centres ** 2, rtol=1e-6)
    # 2 samples at 2p + 0.5 and 2p + 1.5, each the mean of its two integer neighbours:
    # ((2p)^2 + 2 (2p+1)^2 + (2p+2)^2) / 4 = (2p+1)^2 + 0.5
    np.testing.assert_allclose(pooled_row(2), centres ** 2 + 0.5, rtol=1e-6)


def test_the_key_reaches_both_roi_heads():
    cfg = load_config("configs/quickstart/shapes_mask_cpu.yml", ["network.ROIALIGN_SAMPLES", "3"])
    net = SNIPER.from_config(cfg, train=False)
    assert net.head._samples == 3 and net.mask_head._samples == 3
    default = SNIPER.from_config(load_config("configs/quickstart/deepforest_cpu.yml"), train=False)
    assert default.head._samples == 2  # the key's default
