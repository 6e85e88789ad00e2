"""The assembled SNIPER detector (the original's symbols/faster/resnet_mx_101_e2e.py): backbone -> RPN -> proposals
-> RCNN head.

    net = build_sniper(cfg, train=True)      # or train=False for the tester
    initialize_sniper(net, ctx)               # lib.model.params; then load weights if any
    configure_params(net, cfg)                # FIXED_PARAMS, wd_mult, lr_mult
    net.hybridize()

Training forward: net(data, im_info, gt_boxes, valid_ranges)
    data (B, 3, C, C) f32, im_info (B, 3) [h, w, scale], gt_boxes (B, MAX_GTS, 5) [x1, y1, x2, y2, cls]
    padded with -1 rows, valid_ranges (B, 2) [lo, hi] sqrt-area bounds in chip pixels.
    Returns a tuple in TRAIN_OUTPUTS order (wrap with `TrainOutput(*outs)`), all float32; A anchors,
    fh = fw = C / stride, R = 300 rois per chip, K = NUM_CLASSES:
      rpn_cls_score    (B, 2, A*fh*fw)  logits; index a*fh*fw + y*fw + x (the loader's rpn_label layout)
      rpn_cls_prob     (B, 2, A*fh*fw)  softmax over axis 1 (channel 1 = object)
      rpn_bbox_pred    (B, 4A, fh, fw)  channel 4a + coordinate (the loader's rpn_bbox_target layout)
      rcnn_cls_score   (B, R, K)        logits
      rcnn_bbox_pred   (B, R, 4)        class-agnostic deltas, normalised by BBOX_STDS
      rcnn_label       (B, R)           gt class, 0 background, -1 ignored (roi outside the valid range)
      rcnn_bbox_target (B, R, 4)        normalised targets (0 except for positives)
      rcnn_bbox_weight (B, R, 4)        1 for positives, else 0
      rois             (B, R, 4)        x1, y1, x2, y2 in chip pixels (no gradient)
Test forward: net(data, im_info), im_info per image (the tester may pad a batch to a common size).
    Returns a tuple in TEST_OUTPUTS order:
      rois       (B, R, 4)  chip (resized-image) pixels, R = TEST.RPN_POST_NMS_TOP_N
      roi_scores (B, R)     RPN object probability (0 for filler slots)
      cls_prob   (B, R, K)  softmax
      bbox_deltas (B, R, 4) already multiplied by BBOX_STDS: `lib.geometry.boxes.bbox_pred(rois, deltas)`
                            decodes them
Parameter names follow the original symbol (`conv0_weight`, `rpn_conv_3x3_bias`, `fc_new_1_weight`, ...).
"""
from collections import namedtuple

from mxnet import autograd, gluon

from lib.model.backbones import build_backbone
from lib.model.proposal import TestProposal
from lib.model.proposal_target import ProposalTarget
from lib.model.rcnn_head import RCNNHead
from lib.model.rpn import RPN

TRAIN_OUTPUTS = ("rpn_cls_score", "rpn_cls_prob", "rpn_bbox_pred", "rcnn_cls_score", "rcnn_bbox_pred",
                 "rcnn_label", "rcnn_bbox_target", "rcnn_bbox_weight", "rois")
TEST_OUTPUTS = ("rois", "roi_scores", "cls_prob", "bbox_deltas")
TrainOutput = namedtuple("TrainOutput", TRAIN_OUTPUTS)
TestOutput = namedtuple("TestOutput", TEST_OUTPUTS)
NUM_ROIS = 300  # rois per chip in training: fixed in the fork's MultiProposalTarget op


def proposal_layer(cfg, stride, train):
    """The training proposal-target layer or the test proposal layer, from the config."""
    scales, ratios = cfg.network.ANCHOR_SCALES, cfg.network.ANCHOR_RATIOS
    if train:
        return ProposalTarget(stride, scales, ratios, NUM_ROIS, cfg.dataset.MAX_GTS,
                              cfg.TRAIN.RPN_NMS_THRESH, cfg.TRAIN.RPN_PRE_NMS_TOP_N, cfg.TRAIN.FG_THRESH,
                              bbox_stds=cfg.TRAIN.BBOX_STDS,
                              ignore_outside_range=cfg.TRAIN.IGNORE_ROIS_OUTSIDE_RANGE, prefix="")
    return TestProposal(stride, scales, ratios, cfg.TEST.RPN_NMS_THRESH, 12000, cfg.TEST.RPN_POST_NMS_TOP_N,
                        prefix="")


class SNIPER(gluon.HybridBlock):
    """SNIPER detector; `train` fixes the forward signature (see the module docstring).

    rpn_only: backbone + RPN only (TRAIN.ONLY_PROPOSAL, the negative-mining pre-training): training returns
    (rpn_cls_score, rpn_cls_prob, rpn_bbox_pred), test returns (rois, roi_scores).
    """

    def __init__(self, cfg, train=True, dtype="float32", rpn_only=False, **kwargs):
        super().__init__(**kwargs)
        anchors = len(cfg.network.ANCHOR_SCALES) * len(cfg.network.ANCHOR_RATIOS)
        if anchors != cfg.network.NUM_ANCHORS:
            raise ValueError("network.NUM_ANCHORS is %d but ANCHOR_SCALES x ANCHOR_RATIOS give %d"
                             % (cfg.network.NUM_ANCHORS, anchors))
        self._train, self._stds, self._rpn_only = train, tuple(cfg.TRAIN.BBOX_STDS), rpn_only
        with self.name_scope():
            self.backbone = build_backbone(cfg.network.BACKBONE, cfg.network.BN_MOMENTUM, dtype,
                                           frozen_bn=cfg.network.FREEZE_BN_STATS)
            stride = self.backbone.stride
            if stride != cfg.network.RPN_FEAT_STRIDE:
                raise ValueError("network.RPN_FEAT_STRIDE is %d but backbone %s has stride %d"
                                 % (cfg.network.RPN_FEAT_STRIDE, cfg.network.BACKBONE, stride))
            channels = self.backbone.out_channels
            self.rpn = RPN(channels, self.backbone.rpn_channels, anchors, prefix="")
            if rpn_only and train:
                return  # the RPN-only training graph ends at the RPN outputs
            self.proposal = proposal_layer(cfg, stride, train)
            if rpn_only:
                return
            rois = NUM_ROIS if train else cfg.TEST.RPN_POST_NMS_TOP_N
            self.head = RCNNHead(channels, stride, cfg.dataset.NUM_CLASSES, rois, self.backbone.head_channels,
                                 self.backbone.fc_channels, cfg.network.ROI_POOLING, prefix="")

    def hybrid_forward(self, F, data, im_info, gt_boxes=None, valid_ranges=None):
        feat = self.backbone(data)
        rpn_cls_score, rpn_bbox_pred = self.rpn(feat)
        rpn_cls_prob = F.softmax(rpn_cls_score, axis=1)
        if self._rpn_only:
            if self._train:
                return rpn_cls_score, rpn_cls_prob, rpn_bbox_pred
            return self.proposal(rpn_cls_prob, rpn_bbox_pred, im_info)
        if self._train:
            # No gradient flows through proposals (the fork op's backward is zero). Imperatively, recording
            # them makes MXNet 1.9.1's backward crash (seg fault), so they are computed with autograd paused.
            with autograd.pause(train_mode=True):
                rois, labels, targets, weights = self.proposal(rpn_cls_prob, rpn_bbox_pred, im_info, gt_boxes,
                                                               valid_ranges)
            cls_score, bbox_pred = self.head(feat, rois)
            return (rpn_cls_score, rpn_cls_prob, rpn_bbox_pred, cls_score, bbox_pred, labels, targets, weights,
                    rois)
        rois, scores = self.proposal(rpn_cls_prob, rpn_bbox_pred, im_info)
        cls_score, bbox_pred = self.head(feat, rois)
        deltas = F.split(bbox_pred, num_outputs=4, axis=-1)
        deltas = F.concat(*[d * std for d, std in zip(deltas, self._stds)], dim=-1)
        return rois, scores, F.softmax(cls_score, axis=-1), deltas


def build_sniper(cfg, train=True, dtype=None, rpn_only=None):
    """SNIPER from the config; dtype defaults to float16 when TRAIN.fp16 (backbone body only, as the original);
    rpn_only defaults to TRAIN.ONLY_PROPOSAL."""
    if dtype is None:
        dtype = "float16" if cfg.TRAIN.fp16 else "float32"
    rpn_only = cfg.TRAIN.ONLY_PROPOSAL if rpn_only is None else rpn_only
    return SNIPER(cfg, train=train, dtype=dtype, rpn_only=rpn_only, prefix="")
