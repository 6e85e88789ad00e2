"""The mask branch in the graph (lib/model/mask_head.py, lib/model/mask_loss.py): mask RoI selection, targets
sampled from the loader's gt grids, the two losses' normalisation, and the training / test forward.

Expected values are worked out by hand in the comments; the graph targets are also held against the numpy twin
lib.data.mask_targets.roi_mask_targets (itself checked by hand and against the original's polygon fill in
tests/test_mask_targets.py).
"""
import math

import mxnet as mx
import numpy as np
import pytest
from mxnet import autograd

from lib.chips.chip import Chip
from lib.data.mask_targets import MASK_SIZE, chip_gt_masks, roi_mask_targets
from lib.model.mask_head import foreground_probs, sample_mask_targets, select_mask_rois
from lib.model.mask_loss import mask_loss
from lib.specs.masks import GT_GRID

IDENTITY = Chip(box=np.array([0, 0, 64, 64], np.float32), scale=1.0, scale_index=0, size=(64, 64), canvas=64,
                valid_range=(-1, -1))
SQUARE = [np.array([10, 10, 20, 10, 20, 20, 10, 20], np.float32)]  # covers [10, 20) x [10, 20)


def _graph_targets(rois, gt_rows, frames, grids):
    """rois (M, 5), gt_rows (M,), frames (B, G, 4), grids (B, G, g, g) -> numpy (M, 28, 28)."""
    out = sample_mask_targets(mx.nd, mx.nd.array(rois), mx.nd.array(gt_rows), mx.nd.array(frames),
                              mx.nd.array(grids, dtype="uint8"), grid=GT_GRID)
    return out.asnumpy()


def test_graph_target_of_a_square_by_hand():
    # RoI (10, 10, 30, 20): w = 20, h = 10; column u's centre 10 + (u + 0.5) * 20 / 28 lies in [10, 20) for
    # u = 0..13, every row's centre lies in [10, 20): the left half is mask.
    frames, grids = chip_gt_masks([SQUARE], IDENTITY, canvas=64, max_gts=2)
    out = _graph_targets([[0, 10, 10, 30, 20]], [0], frames[None], grids[None])
    expected = np.zeros((MASK_SIZE, MASK_SIZE), np.float32)
    expected[:, :14] = 1
    np.testing.assert_array_equal(out[0], expected)


def test_graph_targets_follow_the_row_and_ignore_fillers():
    # chip 1's gt 1 is the square; gt row 1 * G + 1 = 3 with G = 2. A RoI of exactly the square is all mask;
    # row 0 (chip 0, gt 0, an empty mask) is all background; gt row -1 is ignored everywhere.
    frames = np.full((2, 2, 4), -1, np.float32)
    grids = np.zeros((2, 2, GT_GRID, GT_GRID), np.uint8)
    frames[:, 0], grids[:, 0] = chip_gt_masks([[]], IDENTITY, canvas=64, max_gts=1)[0][0], 0
    frames[1, 1], grids[1, 1] = (x[0] for x in chip_gt_masks([SQUARE], IDENTITY, canvas=64, max_gts=1))
    out = _graph_targets([[1, 10, 10, 20, 20], [0, 10, 10, 20, 20], [0, 10, 10, 20, 20]], [3, 0, -1], frames, grids)
    assert (out[0] == 1).all() and (out[1] == 0).all() and (out[2] == -1).all()


def test_graph_targets_match_the_numpy_twin_on_random_cases():
    rng = np.random.default_rng(0)
    segms, boxes = [], []
    for _ in range(6):  # random polygons (triangles and quads) in a 64 px chip
        points = rng.uniform(2, 62, size=(rng.integers(3, 6), 2))
        segms.append([points.ravel().astype(np.float32)])
    frames, grids = chip_gt_masks(segms, IDENTITY, canvas=64, max_gts=6)
    for _ in range(40):
        x1, y1 = rng.uniform(0, 50, 2)
        boxes.append([x1, y1, x1 + rng.uniform(1, 30), y1 + rng.uniform(1, 30)])
    boxes = np.array(boxes, np.float32)
    gt_rows = rng.integers(-1, 6, len(boxes))
    expected = roi_mask_targets(boxes, gt_rows, frames, grids)
    rois = np.concatenate([np.zeros((len(boxes), 1), np.float32), boxes], axis=1)
    out = _graph_targets(rois, gt_rows, frames[None], grids[None])
    # float32 in the graph vs float64 in numpy: a cell whose bilinear value is within rounding of 0.5 may differ
    assert np.mean(out != expected) < 2e-3
    assert ((out == -1) == (expected == -1)).all()


def test_select_mask_rois_takes_the_first_positives_batch_wide():
    # 2 chips x 3 rois; positives (label > 0) at chip 0 roi 1 and chip 1 rois 0, 2, in that order. With 4 slots:
    # those three, then a filler (gt row -1, class 0). gt_boxes: chip 0 has gts [0..9] and [20..29]; roi 1 of chip
    # 0 is the second gt -> row 1; chip 1 has one gt -> row 1 * G + 0 = 2 (G = 2).
    rois = np.array([[[0, 0, 5, 5], [20, 20, 29, 29], [40, 40, 50, 50]],
                     [[0, 0, 9, 9], [40, 40, 50, 50], [1, 0, 9, 9]]], np.float32)
    labels = np.array([[0, 2, 0], [1, 0, 1]], np.float32)
    gt_boxes = np.array([[[0, 0, 9, 9, 1], [20, 20, 29, 29, 2]], [[0, 0, 9, 9, 1], [-1, -1, -1, -1, -1]]],
                        np.float32)
    mask_rois, gt_rows, classes = (x.asnumpy() for x in select_mask_rois(
        mx.nd, mx.nd.array(rois), mx.nd.array(labels), mx.nd.array(gt_boxes), 4))
    np.testing.assert_array_equal(mask_rois[:3], [[0, 20, 20, 29, 29], [1, 0, 0, 9, 9], [1, 1, 0, 9, 9]])
    np.testing.assert_array_equal(gt_rows, [1, 2, 2, -1])
    np.testing.assert_array_equal(classes, [2, 1, 1, 0])
    # fewer slots than positives: the first ones only (chip 0's, then chip 1's first)
    _, gt_rows, _ = (x.asnumpy() for x in select_mask_rois(
        mx.nd, mx.nd.array(rois), mx.nd.array(labels), mx.nd.array(gt_boxes), 2))
    np.testing.assert_array_equal(gt_rows, [1, 2])


def _ce(logits, label):
    """-log softmax(logits)[label], by hand."""
    logits = np.asarray(logits, np.float64)
    return math.log(np.exp(logits).sum()) - logits[label]


def test_binary_mask_loss_by_hand():
    # 3 classes (K = 3): 2 (K - 1) = 4 channels: background logits of classes 1, 2 in channels 0, 1, mask logits
    # in 2, 3. Two RoIs of 1 x 1 cells... the loss only sees (M, C, S, S): use S = 2.
    score = np.zeros((2, 4, 2, 2), np.float32)
    score[0, 1] = 1.0   # RoI 0 (class 2): background logit 1, mask logit 3 in channel 3
    score[0, 3] = 3.0
    score[0, 0] = 50.0  # class 1's channels must not be read for RoI 0
    score[1, 2] = 2.0   # RoI 1 (class 1): mask logit 2, background 0
    target = np.array([[[1, 0], [-1, 1]], [[0, 0], [1, -1]]], np.float32)
    classes = np.array([2, 1], np.float32)
    # RoI 0 cells: labels 1, 0, 1 on logits (bg 1, fg 3); RoI 1 cells: labels 0, 0, 1 on (bg 0, fg 2); 6 valid
    expected = (2 * _ce([1, 3], 1) + _ce([1, 3], 0) + 2 * _ce([0, 2], 0) + _ce([0, 2], 1)) / 6
    out = mask_loss(mx.nd, mx.nd.array(score), mx.nd.array(target), mx.nd.array(classes), loss="binary",
                    num_classes=3)
    assert out.asscalar() == pytest.approx(expected, rel=1e-5)


def test_softmax_mask_loss_by_hand():
    # K = 3 channels; a mask cell's label is the RoI's class, a background cell 0; ignored cells do not count.
    score = np.zeros((1, 3, 1, 3), np.float32)
    score[0, :, 0, 0] = [0, 1, 2]
    score[0, :, 0, 1] = [3, 0, 0]
    score[0, :, 0, 2] = [9, 9, 9]
    target = np.array([[[1, 0, -1]]], np.float32)
    expected = (_ce([0, 1, 2], 2) + _ce([3, 0, 0], 0)) / 2
    out = mask_loss(mx.nd, mx.nd.array(score), mx.nd.array(target), mx.nd.array([2.0]), loss="softmax",
                    num_classes=3)
    assert out.asscalar() == pytest.approx(expected, rel=1e-5)


def test_mask_loss_without_valid_cells_is_zero():
    out = mask_loss(mx.nd, mx.nd.ones((2, 4, 2, 2)), -mx.nd.ones((2, 2, 2)), mx.nd.zeros((2,)), loss="binary",
                    num_classes=3)
    assert out.asscalar() == 0.0


def test_foreground_probs_read_the_class_channels():
    score = np.zeros((1, 4, 1, 1), np.float32)
    score[0, :, 0, 0] = [0.0, 1.0, 5.0, 3.0]  # class 2: background 1, mask 3 -> sigmoid(2)
    p = foreground_probs(mx.nd, mx.nd.array(score), mx.nd.array([2.0]), "binary", 3).asnumpy()
    assert p[0, 0, 0] == pytest.approx(1 / (1 + math.exp(-2)), rel=1e-5)
    p = foreground_probs(mx.nd, mx.nd.array(score[:, :3]), mx.nd.array([1.0]), "softmax", 3).asnumpy()
    assert p[0, 0, 0] == pytest.approx(math.exp(1) / (1 + math.exp(1) + math.exp(5)), rel=1e-5)


@pytest.mark.parametrize("loss", ["binary", "softmax"])
def test_training_forward_and_backward_with_masks(loss):
    from lib.config import load_config
    from lib.model.losses import loss_inputs
    from lib.model.mask_loss import build_loss_with_masks
    from lib.model.params import initialize_sniper
    from lib.model.sniper import build_sniper
    cfg = load_config("configs/quickstart/shapes_mask_cpu.yml", ["TRAIN.BATCH_IMAGES", "2", "TRAIN.MASK_LOSS", loss])
    net = build_sniper(cfg, train=True)
    initialize_sniper(net)
    net.hybridize()
    size, gts = cfg.TRAIN.CHIP_SIZE, cfg.dataset.MAX_GTS
    gt_boxes = -np.ones((2, gts, 5), np.float32)
    gt_boxes[:, 0] = [40, 40, 120, 100, 3]
    # a triangle filling half its box: the appended gt RoI alone has mask (1) and background (0) cells
    frames, grids = chip_gt_masks([[np.array([40, 40, 121, 40, 40, 101], np.float32)]], IDENTITY,
                                  canvas=size, max_gts=gts)
    inputs = [mx.nd.random.normal(shape=(2, 3, size, size)), mx.nd.array([[size, size, 1]] * 2),
              mx.nd.array(gt_boxes), mx.nd.array([[0, size]] * 2), mx.nd.array(np.stack([frames] * 2)),
              mx.nd.array(np.stack([grids] * 2), dtype="uint8")]
    fh = size // 16
    rpn = [mx.nd.zeros((2, 21 * fh * fh)), mx.nd.zeros((2, 84, fh, fh)), mx.nd.zeros((2, 84, fh, fh))]
    block = build_loss_with_masks(cfg)
    with autograd.record():
        outputs = net(*inputs)
        losses = dict(zip(block.output_names, block(*loss_inputs(outputs, *rpn))))
    losses["total"].backward()
    channels = 2 * 5 if loss == "binary" else 6
    assert outputs[-3].shape == (2 * cfg.TRAIN.MASKS_PER_CHIP, channels, 28, 28)
    target = outputs[-2].asnumpy()
    assert (target[:1] >= 0).all() and {0.0, 1.0} <= set(np.unique(target[:1]))  # the appended gt
    assert losses["mask_loss"].asscalar() > 0
    assert net.mask_head.mask_out.weight.grad().abs().sum().asscalar() > 0


@pytest.mark.parametrize("flipped", [False, True])
def test_loader_masks_travel_with_their_boxes(flipped):
    """load_chip with the mask branch: each gt row's mask, drawn in the chip, covers that row's box (the box
    rounded to chip pixels: within 1 px), on a plain and a flipped record; the grid frame is the same area."""
    from lib.config import load_config
    from lib.data.chip_loader import load_chip
    from lib.data.mask_targets import chip_mask
    from lib.dataset.roidb import ImageRecord, flip_record
    from lib.specs.training import LoaderSpec
    spec = LoaderSpec.from_config(load_config("configs/quickstart/shapes_mask_cpu.yml"))
    width, height = 300, 200
    square = [np.array([40, 30, 100, 30, 100, 90, 40, 90], np.float32)]  # [40, 100) x [30, 90)
    triangle = [np.array([150, 60, 260, 60, 150, 170], np.float32)]
    record = ImageRecord(image="toy.png", width=width, height=height, classes=[1, 2], segms=[square, triangle],
                         boxes=[[40, 30, 99, 89], [150, 60, 259, 169]])
    if flipped:
        record = flip_record(record)
    chip = Chip(box=np.array([10, 5, 10 + 256 / 0.8, 5 + 256 / 0.8], np.float32), scale=0.8, scale_index=0,
                size=(256, 256), canvas=256, valid_range=(-1, -1), gt_index=np.array([0, 1]))
    out, _ = load_chip(record, chip, spec=spec, rng=np.random.default_rng(0),
                       image=np.zeros((height, width, 3), np.uint8))
    rows = np.flatnonzero(out["gt_boxes"][:, 4] > 0)
    assert len(rows) == 2
    by_class = {int(out["gt_boxes"][r, 4]): r for r in rows}
    for cls, segm in ((1, square), (2, triangle)):
        box = out["gt_boxes"][by_class[cls], :4]
        drawn = chip_mask(record.segms[cls - 1], chip, 256)
        ys, xs = np.nonzero(drawn)
        np.testing.assert_allclose([xs.min(), ys.min(), xs.max(), ys.max()], box, atol=1.01)
        frame = out["gt_mask_frames"][by_class[cls]]
        np.testing.assert_allclose(frame, [box[0], box[1], box[2] + 1, box[3] + 1], atol=1.51)
        grid = out["gt_mask_grids"][by_class[cls]]
        assert grid.mean() == pytest.approx(drawn.sum() / np.prod(frame[2:] - frame[:2]), abs=0.05)
    assert not out["gt_mask_grids"][2:].any() and (out["gt_mask_frames"][2:] == -1).all()


def test_a_mask_config_on_a_box_only_dataset_stops_with_one_line(tmp_path):
    """TRAIN.WITH_MASK reaches the dataset loader: a Pascal VOC training set (boxes only) is refused in one line."""
    from dataset_helpers import dataset_cfg, write_voc
    from lib.dataset import DatasetError
    from lib.train.records import training_records
    write_voc(tmp_path / "VOCdevkit", "2007", "trainval", {"000005": (64, 48, [("chair", (11, 21, 30, 40), 0)])})
    cfg = dataset_cfg("PascalVOC", tmp_path / "VOCdevkit", tmp_path, 21)
    cfg.dataset.image_set, cfg.TRAIN.USE_NEG_CHIPS = "2007_trainval", False
    assert len(training_records(cfg)[0]) == 2  # with its flipped copy: boxes are fine without masks
    cfg.TRAIN.WITH_MASK = True
    with pytest.raises(DatasetError, match=r"^dataset voc_2007_trainval \(.*\) has no instance masks[^\n]*$"):
        training_records(cfg)


def test_mask_rpn_reads_conv4_unless_the_key_is_off():
    """network.MASK_RPN_ON_CONV4: the original's mask symbol feeds its RPN conv4 alone (resnet_mx_101_e2e_mask.py,
    get_rpn(conv_feat)); off, the RPN reads conv4 + conv5 as the box symbol. Tiny backbone: conv4 96, conv5 128."""
    from lib.config import load_config
    from lib.model.sniper import SNIPER
    cfg_file = "configs/quickstart/shapes_mask_cpu.yml"
    for value, in_channels in (("True", 96), ("False", 96 + 128)):
        net = SNIPER.from_config(load_config(cfg_file, ["network.MASK_RPN_ON_CONV4", value]), train=False)
        net.initialize()
        assert net.rpn.conv.weight.shape[1] == in_channels
