"""Default values of every configuration key (the original's configs/faster/default_configs.py, plus the keys its
YAMLs add).

Names and nesting follow the original so that its command lines (`--set TRAIN.USE_NEG_CHIPS False`) keep
working. Keys added by this project are marked "(new)". Tuples stay tuples; YAML lists are converted.
"""

DEFAULTS = {
    "proposal_path": "data/proposals",
    "MXNET_VERSION": "",
    "output_path": "output",
    "symbol": "",
    "gpus": "",
    "CLASS_AGNOSTIC": True,
    "RNG_SEED": 3,  # (new) drives every random choice: chip stride, shuffles, negatives, flips
    "default": {"kvstore": "device"},
    "network": {
        "pretrained": "",
        "pretrained_epoch": 0,
        "PIXEL_MEANS": (103.939, 116.779, 123.68),  # BGR order, as the original
        "RPN_FEAT_STRIDE": 16,
        "FIXED_PARAMS": ("gamma", "beta"),
        "ANCHOR_SCALES": (8, 16, 32),
        "ANCHOR_RATIOS": (0.5, 1, 2),
        "NUM_ANCHORS": 9,
        "BACKBONE": "resnet101",  # (new) resnet101 | resnet50 | mobilenetv2 | tiny
        "ROI_POOLING": "deformable",  # (new) deformable | roialign
        "ROIALIGN_SAMPLES": 2,  # (new) roialign's bilinear samples per bin side (its CPU backward is single-threaded)
        "MASK_CHANNELS": 256,  # (new) width of the mask head's convolutions (the original hard-codes 256)
        "MASK_RPN_ON_CONV4": True,  # (new) mask variant's RPN on conv4 alone (the original) | conv4 + conv5 (False)
        "MASK_INIT": "normal",  # (new) mask head weights: normal N(0, 0.01) (the original) | he (He-normal)
        "BN_MOMENTUM": 0.995,  # (new) the original's `--momentum` flag
        # (new) every backbone BN uses its pretrained statistics in training too (use_global_stats), for
        # fine-tuning with few chips per device; efficientnet_lite0 only (False: batch statistics, as the paper)
        "FREEZE_BN_STATS": False,
        # (new) init of conv_new_1, fc_new_1, fc_new_2: normal (the original's N(0, 0.01)) | xavier (He-scaled)
        "RCNN_HIDDEN_INIT": "normal",
    },
    "dataset": {
        "dataset": "PascalVOC",
        "image_set": "2007_trainval",
        "test_image_set": "2007_test",
        "root_path": "./data",
        "dataset_path": "./data/VOCdevkit",
        "NUM_CLASSES": 21,
        "proposal": "rpn",
        "MAX_GTS": 100,  # (new) gt rows per chip; more are counted and reported, never silently dropped
        # (new) PascalVOC class names: "" = the 20 VOC classes, "auto" = the sorted unique object names in the
        # annotation files of dataset.image_set, or comma-separated names ("car,person"); NUM_CLASSES = count + 1
        "CLASSES": "",
    },
    "TRAIN": {
        "ONLY_PROPOSAL": False,
        "CPP_CHIPS": False,
        "USE_NEG_CHIPS": True,
        "NUM_NEG_CHIPS": 2,  # (new) negatives sampled per image and epoch (the original's n_neg_per_im)
        "CHIPS_DB_PARTS": 20,
        "WITH_MASK": False,  # the mask branch (the original's resnet_mx_101_e2e_mask symbol); COCO/shapes only
        "MASK_LOSS": "binary",  # (new) binary: per-class 2-way softmax (the original) | softmax: (N+1)-way
        "MASKS_PER_CHIP": 50,  # (new) mask RoIs per chip, B x this batch-wide (the fork op's max_masks, 50)
        "AUTO_FOCUS": False,
        "AUTO_FOCUS_SMALL_THRESH": -1,
        "AUTO_FOCUS_DC_LOW": -1,
        "AUTO_FOCUS_DC_HIGH": -1,
        "NUM_PROCESS": 2,
        "LOADER_TIMEOUT": 60.0,  # (new) seconds a started loader worker may take for one batch before the run stops
        "NUM_THREAD": 8,
        "CHIP_SIZE": 512,  # (new) the original hard-codes 512
        "FULL_IMAGE": False,  # (new) ablation baseline: no chips, each image whole at one of SCALES (min, max)
        "MAX_ITERATIONS": 0,  # (new) stop after this many updates (0: at end_epoch); equal-compute ablations
        "lr": 0.0,
        "VALID_RANGES": ((-1, 80), (32, 150), (120, -1)),
        # (new) opt-in: intermediate scales also assign only gts / proposals above their lower bound (the
        # original's box_assigner has none there: small gts train in middle-scale chips)
        "ASSIGN_LOWER_BOUND_ALL_SCALES": False,
        "SCALES": (3.0, 1.667, 512.0),
        # (new) opt-in: a chip's valid gts are exactly its assigned ones (the original also made valid any gt that
        # lands on the same chip box as an assigned one, by IoU == 1)
        "VALID_GTS_BY_INDEX": False,
        "lr_step": "",
        "scale": 1.0,
        "DYNAMIC_LOSS_SCALE": False,  # (new) fp16: skip steps with inf/NaN and adapt the scale
        "lr_factor": 0.1,
        "warmup": False,
        "warmup_lr": 0.0,
        "warmup_step": 0,
        "momentum": 0.9,
        "wd": 0.0005,
        "fp16": False,
        "begin_epoch": 0,
        "end_epoch": 0,
        "model_prefix": "",
        "CHECKPOINT_ITERS": 0,  # (new) also checkpoint every N iterations when > 0
        "RESUME": False,  # (new) continue from the latest checkpoint
        "ALTERNATE": {
            "RPN_BATCH_IMAGES": 0, "RCNN_BATCH_IMAGES": 0, "rpn1_lr": 0.0, "rpn1_lr_step": "",
            "rpn1_epoch": 0, "rfcn1_lr": 0.0, "rfcn1_lr_step": "", "rfcn1_epoch": 0, "rpn2_lr": 0.0,
            "rpn2_lr_step": "", "rpn2_epoch": 0, "rfcn2_lr": 0.0, "rfcn2_lr_step": "", "rfcn2_epoch": 0,
            "rpn3_lr": 0.0, "rpn3_lr_step": "", "rpn3_epoch": 0,
        },
        "FLIP": True,
        "SHUFFLE": True,
        "ENABLE_OHEM": False,
        "BATCH_IMAGES": 2,
        "END2END": False,
        "BATCH_ROIS": 128,
        "ROIS_PER_CHIP": 300,  # (new) rois per chip kept by the training proposal NMS (the fork's op: 300)
        "BATCH_ROIS_OHEM": 128,
        "FG_FRACTION": 0.25,
        "FG_THRESH": 0.5,
        "BG_THRESH_HI": 0.5,
        "BG_THRESH_LO": 0.0,
        "BBOX_REGRESSION_THRESH": 0.5,
        # (new) opt-in: training rois outside the chip's valid range get label -1 (the fork's op trained them,
        # its filler boxes, as background)
        "IGNORE_ROIS_OUTSIDE_RANGE": False,
        "BBOX_WEIGHTS": (1.0, 1.0, 1.0, 1.0),
        "visualization_path": "debug/visualization",
        "visualization_freq": 100,
        "RPN_BATCH_SIZE": 256,
        "RPN_FG_FRACTION": 0.5,
        "RPN_POSITIVE_OVERLAP": 0.7,
        "RPN_NEGATIVE_OVERLAP": 0.3,
        "RPN_CLOBBER_POSITIVES": False,
        "RPN_BBOX_WEIGHTS": (1.0, 1.0, 1.0, 1.0),
        "RPN_POSITIVE_WEIGHT": -1.0,
        "CXX_PROPOSAL": True,
        "RPN_NMS_THRESH": 0.7,
        # (new default, was 12000) -1: every anchor into the training proposal NMS, as the fork's GPU op
        # (it read no pre-NMS limit); > 0 keeps the best N, a CPU budget
        "RPN_PRE_NMS_TOP_N": -1,
        "RPN_POST_NMS_TOP_N": 2000,
        "RPN_MIN_SIZE": 16,
        "BBOX_NORMALIZATION_PRECOMPUTED": False,
        "BBOX_MEANS": (0.0, 0.0, 0.0, 0.0),
        "BBOX_STDS": (0.1, 0.1, 0.2, 0.2),
        "DISPLAY": 100,  # (new) the original's `--display` flag: log period in batches
    },
    "TEST": {
        "NMS_SIGMA": 0.6,
        "TEST_FLAG": False,
        "HAS_RPN": False,
        "BATCH_IMAGES": 1,  # an int, or one int per test scale
        "CXX_PROPOSAL": True,
        "RPN_NMS_THRESH": 0.7,
        "RPN_PRE_NMS_TOP_N": 6000,
        "RPN_POST_NMS_TOP_N": 300,
        "RPN_MIN_SIZE": 16,
        "PROPOSAL_NMS_THRESH": 0.7,
        "PROPOSAL_PRE_NMS_TOP_N": 20000,
        "PROPOSAL_POST_NMS_TOP_N": 2000,
        "PROPOSAL_MIN_SIZE": 16,
        "AUTO_FOCUS": False,
        "DO_PRUNING": (False, False, False),
        "CHIP_HYPERPARAMS": ((-1, -1, -1), (-1, -1, -1), (-1, -1, -1)),
        # (new) tiled inference: every scale's resized image runs as TILE_SIZE x TILE_SIZE windows overlapping by
        # TILE_OVERLAP px (0: whole images, as the original); also the largest side of an AutoFocus chip
        "TILE_SIZE": 0,
        "TILE_OVERLAP": 256,
        "CHIP_EDGE_MARGIN": 10,  # (new) the original's hard-coded delta (lib/inference.py:235): px from an inner edge
        "USE_CACHE": (False, False, False),
        "NMS": 0.3,
        "NMS_METHOD": "",  # (new) gaussian | linear | hard; empty: derived from NMS as the original
        "max_per_image": 300,
        "test_epoch": 0,
        "MAX_PER_IMAGE": 100,
        # (new) COCOeval's last maxDets (1, 10, N): COCO's 100 gives the paper's numbers (its configs cap the tester
        # at 200 per image); a dense scene sets its TEST.MAX_PER_IMAGE so that every kept detection counts
        "EVAL_MAX_DETS": 100,
        "SCALES": ((1400, 2000), (800, 1280), (480, 512)),
        "CONCURRENT_JOBS": 1,
        "VALID_RANGES": ((-1, 90), (32, 180), (75, -1)),
        "TEST_EPOCH": 0,
        "VISUALIZATION_PATH": "./debug/visualization",
        "VISUALIZE_INTERMEDIATE_SCALES": False,
        "EXTRACT_PROPOSALS": False,
        "PROPOSAL_SAVE_PATH": "output/proposals",
        "N_PROPOSAL_PER_SCALE": 300,
        "SCORE_THRESH": 1e-3,  # (new) the original's hard-coded per-class score threshold
    },
}

# Keys whose value may be a single int or one int per test scale.
PER_SCALE_KEYS = {"TEST.BATCH_IMAGES"}
