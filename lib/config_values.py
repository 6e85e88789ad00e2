"""Value checks of a loaded config: keys of the right type whose value cannot work (a zero batch, a schedule that
is not numbers, one valid range for three scales) raise `ConfigError` naming the key, before anything is built.

    check_values(cfg)   # called by lib.config.load_config after the YAML and the --set words
"""
from lib.config_error import ConfigError

POSITIVE_INTS = ("TRAIN.BATCH_IMAGES", "TRAIN.CHIP_SIZE", "TRAIN.DISPLAY", "TRAIN.RPN_BATCH_SIZE",
                 "TRAIN.RPN_POST_NMS_TOP_N", "dataset.MAX_GTS",
                 "network.RPN_FEAT_STRIDE", "TEST.RPN_PRE_NMS_TOP_N", "TEST.RPN_POST_NMS_TOP_N",
                 "TEST.MAX_PER_IMAGE", "TEST.CONCURRENT_JOBS")
NON_NEGATIVE_INTS = ("TRAIN.NUM_PROCESS", "TRAIN.CHECKPOINT_ITERS", "TRAIN.MAX_ITERATIONS", "TRAIN.begin_epoch",
                     "TRAIN.end_epoch", "TRAIN.warmup_step", "TRAIN.NUM_NEG_CHIPS")
NON_NEGATIVE_FLOATS = ("TRAIN.lr", "TRAIN.wd", "TRAIN.warmup_lr")
FRACTIONS = ("TRAIN.FG_FRACTION", "TRAIN.FG_THRESH", "TRAIN.BG_THRESH_HI", "TRAIN.BG_THRESH_LO",
             "TRAIN.RPN_FG_FRACTION", "TRAIN.RPN_POSITIVE_OVERLAP", "TRAIN.RPN_NEGATIVE_OVERLAP",
             "TRAIN.RPN_NMS_THRESH", "TEST.RPN_NMS_THRESH", "TEST.PROPOSAL_NMS_THRESH")  # TEST.NMS < 0: soft-NMS


def _get(cfg, dotted):
    node = cfg
    for part in dotted.split("."):
        node = node[part]
    return node


def _bad(key, value, rule):
    return ConfigError("config key %s: %r is not allowed (%s)" % (key, value, rule))


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_ranges(cfg):
    """Numbers: positive ints, non-negative counts and rates, fractions in [0, 1], momentum in [0, 1)."""
    for key in POSITIVE_INTS:
        if _get(cfg, key) < 1:
            raise _bad(key, _get(cfg, key), "must be at least 1")
    if cfg.TRAIN.RPN_PRE_NMS_TOP_N < 1 and cfg.TRAIN.RPN_PRE_NMS_TOP_N != -1:
        raise _bad("TRAIN.RPN_PRE_NMS_TOP_N", cfg.TRAIN.RPN_PRE_NMS_TOP_N, "-1 (every anchor) or at least 1")
    for key in NON_NEGATIVE_INTS + NON_NEGATIVE_FLOATS:
        if _get(cfg, key) < 0:
            raise _bad(key, _get(cfg, key), "must not be negative")
    for key in FRACTIONS:
        if not 0.0 <= _get(cfg, key) <= 1.0:
            raise _bad(key, _get(cfg, key), "must lie in [0, 1]")
    if not 0.0 <= cfg.TRAIN.momentum < 1.0:
        raise _bad("TRAIN.momentum", cfg.TRAIN.momentum, "must lie in [0, 1)")
    if cfg.TRAIN.lr_factor <= 0:
        raise _bad("TRAIN.lr_factor", cfg.TRAIN.lr_factor, "must be positive")
    if cfg.dataset.NUM_CLASSES < 2:
        raise _bad("dataset.NUM_CLASSES", cfg.dataset.NUM_CLASSES, "counts the background: at least 2")
    if cfg.TEST.EVAL_MAX_DETS <= 10:
        raise _bad("TEST.EVAL_MAX_DETS", cfg.TEST.EVAL_MAX_DETS, "COCOeval's maxDets are 1, 10 and this: above 10")
    if cfg.TRAIN.end_epoch < cfg.TRAIN.begin_epoch:
        raise _bad("TRAIN.end_epoch", cfg.TRAIN.end_epoch,
                   "must not be below TRAIN.begin_epoch = %d" % cfg.TRAIN.begin_epoch)


def _check_lr_step(cfg):
    """TRAIN.lr_step: comma-separated epochs ('3,5' or '5.33'), empty for no decay."""
    for word in str(cfg.TRAIN.lr_step).split(","):
        try:
            epoch = float(word) if word.strip() else 0.0
        except ValueError:
            raise _bad("TRAIN.lr_step", cfg.TRAIN.lr_step, "comma-separated epochs, like '3,5' or '5.33'") from None
        if epoch < 0:
            raise _bad("TRAIN.lr_step", cfg.TRAIN.lr_step, "epochs must not be negative")


def _check_pair(key, pair, positive):
    if not isinstance(pair, tuple) or len(pair) != 2 or not all(_is_number(v) for v in pair):
        raise _bad(key, pair, "each entry is a pair of numbers")
    if positive and min(pair) <= 0:
        raise _bad(key, pair, "sizes must be positive")


def _check_valid_ranges(cfg, section, extra_ok):
    """One (low, high) pair per entry of <section>.SCALES (the tester uses the first ones when there are more);
    -1 leaves a side open."""
    key, ranges, num_scales = section + ".VALID_RANGES", cfg[section].VALID_RANGES, len(cfg[section].SCALES)
    if len(ranges) < num_scales or (len(ranges) > num_scales and not extra_ok):
        raise _bad(key, ranges, "one (low, high) pair per entry of %s.SCALES, which has %d" % (section, num_scales))
    for low, high in ranges:
        _check_pair(key, (low, high), positive=False)
        if low != -1 and high != -1 and not 0 <= low < high:
            raise _bad(key, ranges, "each pair needs 0 <= low < high (or -1 for an open side)")


def _check_scales(cfg):
    """TRAIN.SCALES: positive numbers or (min, max) pairs (TRAIN.FULL_IMAGE); TEST.SCALES: (short, long) pairs
    or the factor form of TRAIN.SCALES;
    the valid ranges and TEST.BATCH_IMAGES per scale."""
    scales = cfg.TRAIN.SCALES
    if not scales:
        raise _bad("TRAIN.SCALES", scales, "at least one scale")
    for scale in scales:
        if isinstance(scale, tuple):
            _check_pair("TRAIN.SCALES", scale, positive=False)  # (min, max) sizes; lib.chips.full_image checks them
        elif not _is_number(scale) or scale <= 0:
            raise _bad("TRAIN.SCALES", scales, "positive numbers (a scale factor, or the last as a size in pixels)")
    if not cfg.TRAIN.FULL_IMAGE:
        _check_valid_ranges(cfg, "TRAIN", extra_ok=False)
    test_scales = cfg.TEST.SCALES
    if not test_scales:
        raise _bad("TEST.SCALES", test_scales, "at least one (short, long) pair or factor")
    if all(_is_number(scale) for scale in test_scales):  # factor form, read as TRAIN.SCALES (lib/chips/scales.py)
        if min(test_scales) <= 0:
            raise _bad("TEST.SCALES", test_scales, "positive numbers (a scale factor, or the last as a size in pixels)")
    else:
        for scale in test_scales:
            _check_pair("TEST.SCALES", scale, positive=True)
    _check_valid_ranges(cfg, "TEST", extra_ok=True)
    batch = cfg.TEST.BATCH_IMAGES
    per_scale = batch if isinstance(batch, tuple) else (batch,) * len(test_scales)
    if len(per_scale) < len(test_scales):
        raise _bad("TEST.BATCH_IMAGES", batch, "one int, or one per entry of TEST.SCALES (%d)" % len(test_scales))
    if min(per_scale) < 1:
        raise _bad("TEST.BATCH_IMAGES", batch, "must be at least 1")


def check_values(cfg):
    """Raise ConfigError naming the first key whose value cannot work; returns cfg."""
    _check_ranges(cfg)
    _check_lr_step(cfg)
    _check_scales(cfg)
    return cfg
