"""RCNN head (the original's symbols/faster/resnet_mx_101_e2e.py): conv_new_1, RoI pooling 7x7, two FCs, classifier
and class-agnostic regressor.

    feat (B, C, H, W), rois (B, R, 4) chip pixels
    -> conv_new_1 (1x1, 256, bias) -> ReLU
    -> deformable RoI pooling (DeformablePSROIPooling, group_size 1, 7x7, 4 samples per bin; offsets from
       the `offset` FC, 98 outputs, zero-initialised, trans_std 0.1)  |  or ROIAlign 7x7 (`roialign`, network.ROIALIGN_SAMPLES
       bilinear samples per bin side)
    -> fc_new_1 (1024) -> ReLU -> fc_new_2 (1024) -> ReLU
    -> cls_score (B, R, num_classes), bbox_pred (B, R, 4)
"""
from mxnet import gluon, init
from mxnet.gluon import nn

from lib.model.rpn import new_conv

POOLED = 7
ROI_POOLINGS = ("deformable", "roialign")
HIDDEN_INITS = ("normal", "xavier")


def hidden_initializer(name):
    """network.RCNN_HIDDEN_INIT -> the initializer of conv_new_1, fc_new_1 and fc_new_2 (None: the original's
    N(0, 0.01)). "xavier": He-scaled Gaussian (variance 2 / fan-in), so the 12544-input FC starts with unit-scale
    outputs instead of ~0.1 and the classifier leaves its prior within a few hundred updates."""
    if name not in HIDDEN_INITS:
        raise ValueError("network.RCNN_HIDDEN_INIT must be one of %s, got %r" % (HIDDEN_INITS, name))
    return init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2) if name == "xavier" else None


def new_dense(prefix, units, in_units, weight_init=None):
    """A new FC with bias: N(0, 0.01) weights unless given, zero bias (the original's `init_weight_rcnn`)."""
    return nn.Dense(units, in_units=in_units, prefix=prefix, weight_initializer=weight_init or init.Normal(0.01),
                    bias_initializer=init.Zero())


def batched_rois(F, rois):
    """(B, R, 4) -> (B*R, 5) rows [b, x1, y1, x2, y2] for the pooling ops."""
    index = F.reshape(F.contrib.arange_like(rois, axis=0), (-1, 1, 1))
    index = F.broadcast_like(index, F.slice_axis(rois, axis=2, begin=0, end=1))
    return F.reshape(F.concat(index, rois, dim=2), (-1, 5))


class RCNNHead(gluon.HybridBlock):
    """(feat (B, C, H, W), rois (B, R, 4)) -> (cls_score (B, R, K), bbox_pred (B, R, 4)), float32; with_features
    adds conv_new_1_relu (B, channels, H, W), the mask branch's input."""

    def __init__(self, *, in_channels, stride, num_classes, num_rois=300, channels=256, fc_channels=1024,
                 pooling="deformable", roialign_samples=2, hidden_init="normal", with_features=False, **kwargs):
        super().__init__(**kwargs)
        if pooling not in ROI_POOLINGS:
            raise ValueError("network.ROI_POOLING must be one of %s, got %r" % (ROI_POOLINGS, pooling))
        self._pooling, self._num_rois, self._with_features = pooling, num_rois, with_features
        self._samples = roialign_samples
        self._pool = dict(spatial_scale=1.0 / stride, output_dim=channels, group_size=1, pooled_size=POOLED,
                          part_size=POOLED, sample_per_part=4)
        with self.name_scope():
            hidden = hidden_initializer(hidden_init)
            self.conv_new_1 = new_conv("conv_new_1_", channels, in_channels, 1, hidden)
            if pooling == "deformable":
                self.offset = new_dense("offset_", 2 * POOLED * POOLED, channels * POOLED * POOLED, init.Zero())
            self.fc_new_1 = new_dense("fc_new_1_", fc_channels, channels * POOLED * POOLED, hidden)
            self.fc_new_2 = new_dense("fc_new_2_", fc_channels, fc_channels, hidden)
            self.cls_score = new_dense("cls_score_", num_classes, fc_channels)
            self.bbox_pred = new_dense("bbox_pred_", 4, fc_channels)

    def pool(self, F, feat, rois):
        """(B, C', H, W), (B*R, 5) -> (B*R, C', 7, 7)."""
        if self._pooling == "roialign":
            return F.contrib.ROIAlign(feat, rois, pooled_size=(POOLED, POOLED),
                                      spatial_scale=self._pool["spatial_scale"],
                                      sample_ratio=self._samples)
        plain = F.contrib.DeformablePSROIPooling(feat, rois, no_trans=True, **self._pool)
        offsets = F.reshape(self.offset(plain), (-1, 2, POOLED, POOLED))
        return F.contrib.DeformablePSROIPooling(feat, rois, offsets, trans_std=0.1, no_trans=False, **self._pool)

    def hybrid_forward(self, F, feat, rois):
        conv = F.relu(self.conv_new_1(feat))
        x = F.relu(self.fc_new_2(F.relu(self.fc_new_1(self.pool(F, conv, batched_rois(F, rois))))))
        per_image = (-4, -1, self._num_rois, -2)
        outputs = (F.reshape(self.cls_score(x), per_image), F.reshape(self.bbox_pred(x), per_image))
        return outputs + (conv,) if self._with_features else outputs
