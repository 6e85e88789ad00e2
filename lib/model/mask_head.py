"""The mask branch of the original's mask variant (symbols/faster/resnet_mx_101_e2e_mask.py, "Mask Branch").

Training, per batch of B chips (the fork's MultiProposalTargetMask and MaskRcnnTarget ops):
  mask RoIs   the first B x MASKS_PER_CHIP positive RoIs of the batch (label > 0), chip-major then RoI order,
              each with the gt it matched (max IoU, first on ties), as the op's out_pos_boxes / out_pos_ids
              (multi_proposal_target_mask.cu:546-566); free slots are fillers without targets (id -1).
  pooling     14 x 14 deformable PS-RoI pooling on conv_new_1_relu, offsets from the `mask_offset` FC (392
              outputs, zero-initialised, lr_mult 0.01) (resnet_mx_101_e2e_mask.py:376-386), or ROIAlign 14 x 14
  head        mask_conv_3x3_{1..4} (3x3, MASK_CHANNELS, bias) + ReLU, mask_deconv (2x2 stride 2, no bias) + ReLU,
              mask_out (1x1): 2 (K - 1) channels for the per-class 2-way loss (channel c: background logit of
              class c + 1, channel c + K - 1: its mask logit, as the op's pick of ncls / ncls + 80), or K for the
              (K)-way softmax loss (new) -> (M, channels, 28, 28)
  targets     the gt grids of the loader (lib/data/mask_targets.chip_gt_masks) resampled at each mask RoI's
              28 x 28 cell centres. Made here, in the graph, because the mask RoIs are network proposals; the
              loader only knows the gts (lib/data/mask_targets.py says why grids and not polygons).
Test: `MaskPredictor` runs the backbone, conv_new_1 and this head on given boxes -> per-box 28 x 28 foreground
probabilities of the box's class.
"""
from mxnet import gluon, init
from mxnet.gluon import nn

from lib.geometry.ops import iou_fork_gpu
from lib.model.rcnn_head import batched_rois

POOLED = 14  # the mask pooling's pooled_size (resnet_mx_101_e2e_mask.py:376)
MASK_SIZE = 28  # the mask output side: 14 x 2 (the deconvolution), MaskRcnnTarget's mask_size (line 393)
MASK_LOSSES = ("binary", "softmax")
MASK_INITS = ("normal", "he")  # N(0, 0.01) as the original's init_weight_mask | He-normal (fan in), new
HE_NORMAL = init.Xavier(rnd_type="gaussian", factor_type="in", magnitude=2)
FILLER_BOX = (0.0, 0.0, 15.0, 15.0)  # a filler mask RoI (x1, y1, x2, y2): pooled, never trained


def mask_channels(num_classes, loss):
    """mask_out channels: 2 per foreground class for 'binary' (the original's 80 * 2), K for 'softmax'."""
    if loss not in MASK_LOSSES:
        raise ValueError("TRAIN.MASK_LOSS must be one of %s, got %r" % (MASK_LOSSES, loss))
    return 2 * (num_classes - 1) if loss == "binary" else num_classes


class MaskHead(gluon.HybridBlock):
    """(conv_new_1_relu (B, C, H, W), rois (M, 5) [b, x1, y1, x2, y2] chip px) -> (M, mask_channels, 28, 28)."""

    def __init__(self, *, in_channels, stride, num_classes, loss="binary", channels=256, pooling="deformable",
                 roialign_samples=2, weight_init="normal", **kwargs):
        super().__init__(**kwargs)
        self._pooling, self._scale, self._samples = pooling, 1.0 / stride, roialign_samples
        self._pool = dict(spatial_scale=self._scale, output_dim=in_channels, group_size=1, pooled_size=POOLED,
                          part_size=POOLED, sample_per_part=4)
        if weight_init not in MASK_INITS:
            raise ValueError("network.MASK_INIT must be one of %s, got %r" % (MASK_INITS, weight_init))
        weights = init.Normal(0.01) if weight_init == "normal" else HE_NORMAL  # normal: MASK:524-541
        normal = dict(weight_initializer=weights, bias_initializer=init.Zero())
        with self.name_scope():
            if pooling == "deformable":
                self.mask_offset = nn.Dense(2 * POOLED * POOLED, in_units=in_channels * POOLED * POOLED,
                                            prefix="mask_offset_", weight_initializer=init.Zero(),
                                            bias_initializer=init.Zero())
            self.convs = nn.HybridSequential(prefix="")
            for k in range(4):
                self.convs.add(nn.Conv2D(channels, 3, padding=1, in_channels=in_channels if k == 0 else channels,
                                         activation="relu", prefix="mask_conv_3x3_%d_" % (k + 1), **normal))
            self.mask_deconv = nn.Conv2DTranspose(channels, 2, strides=2, in_channels=channels, use_bias=False,
                                                  prefix="mask_deconv_", weight_initializer=weights)
            self.mask_out = nn.Conv2D(mask_channels(num_classes, loss), 1, in_channels=channels,
                                      prefix="mask_out_", **normal)

    def pool(self, F, feat, rois):
        """(B, C, H, W), (M, 5) -> (M, C, 14, 14)."""
        if self._pooling == "roialign":
            return F.contrib.ROIAlign(feat, rois, pooled_size=(POOLED, POOLED), spatial_scale=self._scale,
                                      sample_ratio=self._samples)
        plain = F.contrib.DeformablePSROIPooling(feat, rois, no_trans=True, **self._pool)
        offsets = F.reshape(self.mask_offset(plain), (-1, 2, POOLED, POOLED))
        return F.contrib.DeformablePSROIPooling(feat, rois, offsets, trans_std=0.1, no_trans=False, **self._pool)

    def hybrid_forward(self, F, feat, rois):
        x = self.convs(self.pool(F, feat, rois))
        return self.mask_out(F.relu(self.mask_deconv(x)))


def matched_gt_rows(F, rois, gt_boxes):
    """rois (B, R, 4), gt_boxes (B, G, 5) -> (B, R) the row b * G + g of each roi's max-IoU gt (first on ties,
    as the op's strict > update, multi_proposal_target_mask.cu:487), with the proposal target's IoU."""
    iou = iou_fork_gpu(F, rois, F.slice_axis(gt_boxes, axis=2, begin=0, end=4))  # (B, R, G)
    is_gt = F.transpose(F.slice_axis(gt_boxes, axis=2, begin=4, end=5) != -1, axes=(0, 2, 1))
    iou = F.where(F.broadcast_like(is_gt, iou), iou, F.ones_like(iou) * -1.0)
    image = F.contrib.arange_like(iou, axis=0)  # (B,)
    per_image = F.sum(F.ones_like(F.slice_axis(iou, axis=1, begin=0, end=1)), axis=2)  # (B, 1): G
    return F.broadcast_add(F.argmax(iou, axis=2), F.reshape(image, (-1, 1)) * per_image)


def select_mask_rois(F, rois, labels, gt_boxes, num_masks):
    """The batch's mask RoIs: (rois (B, R, 4), labels (B, R), gt_boxes (B, G, 5)) ->
    mask_rois (M, 5) [b, x1, y1, x2, y2], gt_rows (M,) (b * G + g, -1 for fillers), classes (M,) (0 for fillers),
    M = num_masks: the first M rois with label > 0 in (chip, roi) order, then fillers."""
    rows = batched_rois(F, rois)  # (N, 5)
    fg = F.reshape(labels > 0, (-1,))
    gt_rows = F.reshape(matched_gt_rows(F, rois, gt_boxes), (-1,))
    classes = F.reshape(labels, (-1,))
    # num_masks filler slots after the N rois, so that M slots exist whatever the batch size
    pad_fg = F.zeros((num_masks,))
    filler = F.broadcast_like(F.reshape(_filler_row(F), (1, 5)), F.reshape(pad_fg, (-1, 1)), lhs_axes=(0,),
                              rhs_axes=(0,))
    rows, fg = F.concat(rows, filler, dim=0), F.concat(fg, pad_fg, dim=0)
    gt_rows, classes = F.concat(gt_rows, pad_fg, dim=0), F.concat(classes, pad_fg, dim=0)
    position = F.contrib.arange_like(fg, axis=0)
    key = position + (1 - fg) * 1e7  # positives first, each group in position order
    order = F.topk(key, k=num_masks, ret_typ="indices", is_ascend=True)
    chosen = F.take(fg, order)
    mask_rois = F.take(rows, order)
    gt_rows = F.where(chosen, F.take(gt_rows, order), F.ones_like(chosen) * -1.0)
    classes = F.where(chosen, F.take(classes, order), F.zeros_like(chosen))
    return mask_rois, gt_rows, classes


def _filler_row(F):
    """(5,) [0, x1, y1, x2, y2] of FILLER_BOX: chip 0."""
    return F.concat(F.zeros((1,)), *[F.ones((1,)) * v for v in FILLER_BOX], dim=0)


def _cell_centres(F, start, end, mask_size):
    """(M, 1) starts and ends -> (M, S) cell centres start + (j + 0.5) * max(end - start, 1) / S."""
    steps = F.reshape(F.arange(0, mask_size) + 0.5, (1, -1)) / mask_size
    return F.broadcast_add(start, F.broadcast_mul(F.maximum(end - start, 1.0), steps))


def sample_mask_targets(F, mask_rois, gt_rows, frames, grids, *, grid, mask_size=MASK_SIZE):
    """The graph twin of lib.data.mask_targets.roi_mask_targets.

    mask_rois (M, 5), gt_rows (M,) (-1: no target), frames (B, G, 4) and grids (B, G, grid, grid) uint8 from the
    loader -> (M, S, S) float32: 1 mask, 0 background, -1 ignored. A cell is mask where the bilinear value of its
    gt's grid (zero outside it) at the cell's centre is >= 0.5; BilinearSampler reads -1 / +1 as the first /
    last grid cell's centre.
    """
    index = F.relu(gt_rows)
    frame = F.take(F.reshape(frames, (-3, 0)), index)  # (M, 4)
    cells = F.take(F.reshape(F.cast(grids, "float32"), (-3, -2)), index)  # (M, grid, grid)

    def axis_coords(k):  # sampling coordinates in [-1, 1] along x (k = 0) or y (k = 1) -> (M, S)
        col = lambda a, j: F.slice_axis(a, axis=1, begin=j, end=j + 1)  # noqa: E731
        centres = _cell_centres(F, col(mask_rois, 1 + k), col(mask_rois, 3 + k), mask_size)
        lo, hi = col(frame, k), col(frame, 2 + k)
        in_cells = F.broadcast_div(F.broadcast_sub(centres, lo), hi - lo) * grid - 0.5
        return in_cells * (2.0 / (grid - 1)) - 1.0

    gx = F.repeat(F.reshape(axis_coords(0), (0, 1, 1, mask_size)), repeats=mask_size, axis=2)
    gy = F.repeat(F.reshape(axis_coords(1), (0, 1, mask_size, 1)), repeats=mask_size, axis=3)
    value = F.BilinearSampler(F.expand_dims(cells, axis=1), F.concat(gx, gy, dim=1))  # (M, 1, S, S)
    target = F.reshape(value >= 0.5, (0, mask_size, mask_size))
    keep = F.broadcast_like(F.reshape(gt_rows >= 0, (-1, 1, 1)), target)
    return F.where(keep, target, F.ones_like(target) * -1.0)


def class_channels(F, mask_score, classes, num_classes):
    """The per-class 2-way layout: (M, 2 (K - 1), S, S), (M,) classes -> (background logits, mask logits), each
    (M, 1, S, S), channels c - 1 and c - 1 + K - 1 of class c (the op's ncls / ncls + 80). Class 0 (a filler)
    reads class 1's channels."""
    one = F.slice_axis(mask_score, axis=1, begin=0, end=1)  # (M, 1, S, S)
    index = F.broadcast_like(F.reshape(F.relu(classes - 1), (-1, 1, 1, 1)), one)
    return (F.pick(mask_score, index, axis=1, keepdims=True),
            F.pick(mask_score, index + (num_classes - 1), axis=1, keepdims=True))


def foreground_probs(F, mask_score, classes, loss, num_classes):
    """(M, channels, S, S) logits, (M,) classes 1..K-1 -> (M, S, S) probability of the class's mask."""
    if loss == "binary":
        neg, pos = class_channels(F, mask_score, classes, num_classes)
        return F.reshape(F.sigmoid(pos - neg), (0, -3, 0))  # the 2-way softmax's mask column
    one = F.slice_axis(mask_score, axis=1, begin=0, end=1)
    index = F.broadcast_like(F.reshape(classes, (-1, 1, 1, 1)), one)
    return F.reshape(F.pick(F.softmax(mask_score, axis=1), index, axis=1, keepdims=True), (0, -3, 0))


class MaskPredictor(gluon.HybridBlock):
    """Masks of given boxes with a test SNIPER's weights (shared, not copied).

    (data (1, 3, H, W), boxes (1, D, 4) resized-image px, classes (1, D) 1..K-1) -> (1, D, 28, 28) probabilities
    that each cell of a box's 28 x 28 grid belongs to its class's object.
    """

    def __init__(self, net, *, loss, num_classes, **kwargs):
        super().__init__(**kwargs)
        self._loss, self._num_classes = loss, num_classes
        self.backbone, self.conv_new_1, self.mask_head = net.backbone, net.head.conv_new_1, net.mask_head

    def hybrid_forward(self, F, data, boxes, classes):
        feat = F.relu(self.conv_new_1(self.backbone(data)))
        score = self.mask_head(F.cast(feat, "float32"), batched_rois(F, boxes))
        probs = foreground_probs(F, score, F.reshape(classes, (-1,)), self._loss, self._num_classes)
        return F.reshape(probs, (1, -1, MASK_SIZE, MASK_SIZE))
