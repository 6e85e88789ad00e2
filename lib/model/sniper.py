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
      focus_score      (B, 2, fh, fw)   FocusPixel logits, only with TRAIN.AUTO_FOCUS (lib/model/focus_head.py)
    With the mask branch (masks: a MaskSpec) the inputs add gt_mask_frames (B, MAX_GTS, 4) and gt_mask_grids
    (B, MAX_GTS, g, g) and MASK_OUTPUTS follow (after focus_score if any; lib/model/mask_head.py),
    M = B x MASKS_PER_CHIP:
      mask_score       (M, channels, 28, 28)  logits
      mask_target      (M, 28, 28)      1 mask, 0 background, -1 ignored (no gradient)
      mask_class       (M,)             the class of each mask RoI, 0 for fillers (no gradient)
Test forward: net(data, im_info), im_info per image (the tester may pad a batch to a common size).
    Returns a tuple in TEST_OUTPUTS order:
      rois       (B, R, 4)  chip (resized-image) pixels, R = TEST.RPN_POST_NMS_TOP_N
      roi_scores (B, R)     RPN object probability (0 for filler slots)
      cls_prob   (B, R, K)  softmax
      bbox_deltas (B, R, 4) already multiplied by BBOX_STDS: `lib.geometry.boxes.bbox_pred(rois, deltas)`
                            decodes them
      focus_prob (B, 2, fh, fw) FocusPixel softmax, only with TEST.AUTO_FOCUS
Parameter names follow the original symbol (`conv0_weight`, `rpn_conv_3x3_bias`, `fc_new_1_weight`, ...).
"""
from collections import namedtuple

from mxnet import autograd, gluon

from lib.model.backbones import build_backbone
from lib.model.focus_head import FOCUS_CHANNELS, FocusHead
from lib.model.mask_head import MaskHead, sample_mask_targets, select_mask_rois
from lib.model.proposal import TestProposal
from lib.model.proposal_target import ProposalTarget
from lib.model.rcnn_head import RCNNHead
from lib.model.rpn import RPN
from lib.specs.masks import MaskSpec
from lib.specs.training import AnchorSpec, RoITargetSpec

TRAIN_OUTPUTS = ("rpn_cls_score", "rpn_cls_prob", "rpn_bbox_pred", "rcnn_cls_score", "rcnn_bbox_pred",
                 "rcnn_label", "rcnn_bbox_target", "rcnn_bbox_weight", "rois", "focus_score")
TEST_OUTPUTS = ("rois", "roi_scores", "cls_prob", "bbox_deltas")
MASK_OUTPUTS = ("mask_score", "mask_target", "mask_class")
TrainOutput = namedtuple("TrainOutput", TRAIN_OUTPUTS, defaults=(None,))
TestOutput = namedtuple("TestOutput", TEST_OUTPUTS)


class SNIPER(gluon.HybridBlock):
    """SNIPER detector; `train` fixes the forward signature (see the module docstring).

    Built from the config with `SNIPER.from_config(cfg, train=...)`; the constructor takes keyword arguments:
    backbone (a name of lib.model.backbones), bn_momentum, freeze_bn_stats; anchors (AnchorSpec);
    num_classes (with background); roi_pooling (network.ROI_POOLING) and roialign_samples (network.ROIALIGN_SAMPLES);
    roi_targets (RoITargetSpec: the training proposal targets, and the BBOX_STDS the test output is multiplied by);
    test_nms_thresh / test_post_nms_top_n
    (the test proposals); dtype of the backbone body; hidden_init (network.RCNN_HIDDEN_INIT).
    masks: a lib.specs.masks.MaskSpec (the mask branch) or None; batch_images: chips per device (the mask RoIs
    per batch are batch_images x masks.masks_per_chip).
    rpn_only: backbone + RPN only (TRAIN.ONLY_PROPOSAL, the negative-mining pre-training): training returns
    (rpn_cls_score, rpn_cls_prob, rpn_bbox_pred), test returns (rois, roi_scores).
    focus: the FocusPixel branch and its output (training: TRAIN.AUTO_FOCUS, test: TEST.AUTO_FOCUS; the original's
    test symbol also built it unused with TRAIN.AUTO_FOCUS alone: here the tester skips its weights instead).
    """

    def __init__(self, *, backbone, bn_momentum, freeze_bn_stats, anchors, num_classes, roi_pooling, roi_targets,
                 test_nms_thresh, test_post_nms_top_n, train=True, dtype="float32", rpn_only=False,
                 roialign_samples=2, hidden_init="normal", focus=False, masks=None, batch_images=1, **kwargs):
        super().__init__(**kwargs)
        self._train, self._stds, self._rpn_only = train, tuple(roi_targets.bbox_stds), rpn_only
        self._focus_output = bool(focus and not rpn_only)
        self._masks, self._num_masks = masks, (masks.masks_per_chip * batch_images if masks else 0)
        with self.name_scope():
            self.backbone = build_backbone(backbone, bn_momentum, dtype, frozen_bn=freeze_bn_stats)
            stride = self.backbone.stride
            if stride != anchors.stride:
                raise ValueError("network.RPN_FEAT_STRIDE is %d but backbone %s has stride %d"
                                 % (anchors.stride, backbone, stride))
            channels = self.backbone.out_channels
            # the mask variant's RPN reads conv4 only (resnet_mx_101_e2e_mask.py:285, get_rpn(conv_feat)) unless
            # network.MASK_RPN_ON_CONV4 is off; a backbone without a conv4 / conv5 split (mobilenetv2,
            # efficientnet) keeps its whole output
            on_conv4 = masks is not None and masks.rpn_on_conv4
            self._rpn_channels = getattr(self.backbone, "conv4_channels", None) if on_conv4 else None
            self.rpn = RPN(self._rpn_channels or channels, self.backbone.rpn_channels, anchors.num_anchors,
                           prefix="")
            if rpn_only and train:
                return  # the RPN-only training graph ends at the RPN outputs
            if train:
                self.proposal = ProposalTarget(anchors, roi_targets, prefix="")
            else:  # 12000: the fork's MultiProposal op's hard-coded pre-NMS count
                self.proposal = TestProposal(anchors, threshold=test_nms_thresh, pre_top_n=12000,
                                             post_top_n=test_post_nms_top_n, prefix="")
            if rpn_only:
                return
            if self._focus_output:
                self.focus = FocusHead(channels, getattr(self.backbone, "focus_channels", FOCUS_CHANNELS), prefix="")
            rois = roi_targets.num_rois if train else test_post_nms_top_n
            self.head = RCNNHead(in_channels=channels, stride=stride, num_classes=num_classes, num_rois=rois,
                                 channels=self.backbone.head_channels, fc_channels=self.backbone.fc_channels,
                                 pooling=roi_pooling, roialign_samples=roialign_samples, hidden_init=hidden_init,
                                 with_features=masks is not None, prefix="")
            if masks is not None:
                self.mask_head = MaskHead(in_channels=self.backbone.head_channels, stride=stride,
                                          num_classes=num_classes, loss=masks.loss, channels=masks.channels,
                                          pooling=roi_pooling, roialign_samples=roialign_samples,
                                          weight_init=masks.weight_init, prefix="")

    @classmethod
    def from_config(cls, cfg, *, train=True, dtype="float32", rpn_only=False, **kwargs):
        """The SNIPER of a config (network.*, dataset.NUM_CLASSES / MAX_GTS, the RoI target keys of TRAIN,
        TEST.RPN_NMS_THRESH / RPN_POST_NMS_TOP_N); ValueError when NUM_ANCHORS disagrees with the anchors."""
        net, anchors = cfg.network, AnchorSpec.from_config(cfg)
        focus = bool(cfg.TRAIN.AUTO_FOCUS if train else cfg.TEST.AUTO_FOCUS)
        if anchors.num_anchors != net.NUM_ANCHORS:
            raise ValueError("network.NUM_ANCHORS is %d but ANCHOR_SCALES x ANCHOR_RATIOS give %d"
                             % (net.NUM_ANCHORS, anchors.num_anchors))
        return cls(backbone=net.BACKBONE, bn_momentum=net.BN_MOMENTUM, freeze_bn_stats=net.FREEZE_BN_STATS,
                   anchors=anchors, num_classes=cfg.dataset.NUM_CLASSES, roi_pooling=net.ROI_POOLING,
                   roialign_samples=int(net.ROIALIGN_SAMPLES), roi_targets=RoITargetSpec.from_config(cfg),
                   test_nms_thresh=cfg.TEST.RPN_NMS_THRESH,
                   test_post_nms_top_n=cfg.TEST.RPN_POST_NMS_TOP_N, train=train, dtype=dtype, rpn_only=rpn_only,
                   hidden_init=net.RCNN_HIDDEN_INIT, focus=focus, masks=MaskSpec.from_config(cfg),
                   batch_images=int(cfg.TRAIN.BATCH_IMAGES), **kwargs)

    def hybrid_forward(self, F, data, im_info, gt_boxes=None, valid_ranges=None, gt_mask_frames=None,
                       gt_mask_grids=None):
        feat = self.backbone(data)
        rpn_feat = F.slice_axis(feat, axis=1, begin=0, end=self._rpn_channels) if self._rpn_channels else feat
        rpn_cls_score, rpn_bbox_pred = self.rpn(rpn_feat)
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
            head = self.head(feat, rois)
            outputs = (rpn_cls_score, rpn_cls_prob, rpn_bbox_pred) + head[:2] + (labels, targets, weights, rois)
            if self._focus_output:
                outputs += (self.focus(feat),)
            if self._masks is None:
                return outputs
            with autograd.pause(train_mode=True):  # targets from data and proposals only
                mask_rois, gt_rows, classes = select_mask_rois(F, rois, labels, gt_boxes, self._num_masks)
                mask_target = sample_mask_targets(F, mask_rois, gt_rows, gt_mask_frames, gt_mask_grids,
                                                  grid=self._masks.grid)
            mask_score = self.mask_head(head[2], F.stop_gradient(mask_rois))
            return outputs + (mask_score, F.stop_gradient(mask_target), F.stop_gradient(classes))
        rois, scores = self.proposal(rpn_cls_prob, rpn_bbox_pred, im_info)
        cls_score, bbox_pred = self.head(feat, rois)[:2]
        deltas = F.split(bbox_pred, num_outputs=4, axis=-1)
        deltas = F.concat(*[d * std for d, std in zip(deltas, self._stds)], dim=-1)
        outputs = (rois, scores, F.softmax(cls_score, axis=-1), deltas)
        return outputs + ((F.softmax(self.focus(feat), axis=1),) if self._focus_output else ())


def build_sniper(cfg, train=True, dtype=None, rpn_only=None):
    """SNIPER from the config; dtype defaults to float16 when TRAIN.fp16 (backbone body only, as the original);
    rpn_only defaults to TRAIN.ONLY_PROPOSAL."""
    if dtype is None:
        dtype = "float16" if cfg.TRAIN.fp16 else "float32"
    rpn_only = cfg.TRAIN.ONLY_PROPOSAL if rpn_only is None else rpn_only
    return SNIPER.from_config(cfg, train=train, dtype=dtype, rpn_only=rpn_only, prefix="")
