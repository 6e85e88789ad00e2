"""AutoFocus chips and tiles through the test pipeline, with a hand-checkable stand-in network.

`SquareNet` "detects" the bright squares of its input: each 4-connected region of channel 0 above 0 becomes one
roi (inclusive pixel box) of class 1 with probability 1, and its focus map is 1 on the stride-16 cells such a
region touches. It is translation-equivariant, so an image's detections are known by hand (the squares drawn),
and tiles that hold a square away from their inner edges find the same box as the whole image.
"""
import mxnet as mx
import numpy as np
import pytest
from scipy import ndimage

from lib.chips.tiles import tile_windows
from lib.config import load_config
from lib.inference.chip_batches import Piece, plan_piece_batches
from lib.inference.focus import place_detections, run_order
from lib.inference.pipeline import LoadedImage, Pipeline
from lib.specs.inference import ChipTestSpec, NMSSpec, TestPyramidSpec

ROIS = 16
MEANS = (0.0, 0.0, 0.0)  # network input = RGB pixel values, background 0


class SquareNet:
    """net(data (B, 3, H, W), im_info) -> rois, roi_scores, cls_prob (2 classes), deltas[, focus_prob]."""

    def __init__(self, focus=False):
        self.focus, self.calls = focus, []

    def __call__(self, data, im_info):
        x = data.asnumpy()
        self.calls.append((data.context, x.shape))
        b, _, h, w = x.shape
        rois, cls_prob = np.zeros((b, ROIS, 4), np.float32), np.zeros((b, ROIS, 2), np.float32)
        cls_prob[:, :, 0] = 1.0
        fh, fw = -(-h // 16), -(-w // 16)
        focus = np.zeros((b, 2, fh, fw), np.float32)
        focus[:, 0] = 1.0
        for k in range(b):
            labels, n = ndimage.label(x[k, 0] > 0)
            for r, (rows, cols) in enumerate(ndimage.find_objects(labels)[:ROIS]):
                rois[k, r] = (cols.start, rows.start, cols.stop - 1, rows.stop - 1)
                cls_prob[k, r] = (0.0, 1.0)
                focus[k, :, rows.start // 16:(rows.stop - 1) // 16 + 1, cols.start // 16:(cols.stop - 1) // 16 + 1] = \
                    np.array([0.0, 1.0])[:, None, None]
        out = [rois, cls_prob[:, :, 1], cls_prob, np.zeros((b, ROIS, 4), np.float32)]
        out += [focus] if self.focus else []
        return [mx.nd.array(o, ctx=data.context) for o in out]


def squares_image(width, height, squares):
    """uint8 BGR image, black, with white squares (x, y, side)."""
    image = np.zeros((height, width, 3), np.uint8)
    for x, y, side in squares:
        image[y:y + side, x:x + side] = 255
    return image


def boxes_of(squares, scale=1.0):
    """Expected detections (x1, y1, x2, y2) in original px of squares seen at `scale` (inclusive boxes)."""
    return sorted((x, y, x + side - 1 / scale, y + side - 1 / scale) for x, y, side in squares)


def pipeline(net, *, scales, batch=1, contexts=(mx.cpu(),), chips=None, valid=None):
    pyramid = TestPyramidSpec(scales=tuple(scales), valid_ranges=tuple(valid or [(-1, -1)] * len(scales)),
                              batch_images=(batch,) * len(scales), pixel_means=MEANS)
    nms = NMSSpec(method="hard", iou_thresh=0.5, score_thresh=0.001, max_per_image=100)
    return Pipeline(net, list(contexts), pyramid=pyramid, nms=nms, num_classes=2, chips=chips)


def found_boxes(dets):
    return sorted(tuple(float(v) for v in row[:4]) for row in dets[1])


SQUARES = [(20, 30, 24), (150, 40, 30), (100, 120, 16), (230, 150, 34), (60, 170, 20)]


@pytest.mark.parametrize("tile, overlap", [(128, 64), (100, 70), (300, 0)])
def test_tiled_equals_whole_image(tile, overlap):
    # overlap >= largest side (34) + 2 * margin (10): every square lies inside some tile's interior
    image = squares_image(300, 220, SQUARES)
    # raw detections before NMS: a square kept by two tiles would show twice
    whole = pipeline(SquareNet(), scales=[(220, 300)]).detect_all_scales([LoadedImage(image)], progress=False)[0][0]
    spec = ChipTestSpec(tile_size=tile, tile_overlap=overlap, edge_margin=10)
    tiled_pipe = pipeline(SquareNet(), scales=[(220, 300)], chips=spec)
    tiled = tiled_pipe.detect_all_scales([LoadedImage(image)], progress=False)[0][0]
    assert found_boxes(whole) == boxes_of(SQUARES)
    assert found_boxes(tiled) == found_boxes(whole)
    if tile < 300:  # really tiled: more input pixels than the whole image
        assert tiled_pipe.pixels == len(tile_windows(300, 220, tile, overlap)) * min(tile, 300) * min(tile, 220)


def test_pixels_per_image_counts_padded_batches():
    # two landscape images in one batch at factor 1: canvas = largest h x largest w, twice
    images = [LoadedImage(squares_image(300, 200, [])), LoadedImage(squares_image(250, 220, []))]
    pipe = pipeline(SquareNet(), scales=[1.0, 1000.0], batch=2)  # factor 1, then the long side to 1000 px
    pipe.detect(images, progress=False)
    # scale 1.0: canvas 220 x 300; scale 1000 px long side: 300 -> x3.333 (667 x 1000), 250 -> x4 (880 x 1000)
    assert pipe.pixels == 2 * 220 * 300 + 2 * 880 * 1000


def piece(unit, scale=1.0, windows=None, tile=0):
    return Piece(0, tuple(float(v) for v in unit), scale, windows, tile)


def test_chip_detections_near_inner_edges_are_dropped():
    # chip [100, 50, 300, 250) of a 400 x 300 image; its four sides are inner. margin 10 (the original's delta)
    rows = np.array([[5, 5, 50, 50, 0.9],       # x1 5 -> 105 in image px: 5 from the chip's left side: dropped
                     [20, 20, 60, 60, 0.8],     # 20 from every side: kept
                     [30, 30, 191, 100, 0.7],   # x2 291: 9 from the right side 300: dropped
                     [30, 30, 189, 100, 0.6]],  # x2 289: 11 from it: kept
                    np.float32)
    out = place_detections([np.zeros((0, 5), np.float32), rows], piece((100, 50, 300, 250)), image_size=(400, 300),
                           margin=10)
    np.testing.assert_allclose(out[1], [[120, 70, 160, 110, 0.8], [130, 80, 289, 150, 0.6]])


def test_chip_sides_on_the_image_border_keep_their_detections():
    # chip [0, 0, 400, 300) is the whole image: nothing is inner, a box on its border stays
    rows = np.array([[0, 0, 50, 50, 0.9], [390, 295, 399, 299, 0.5]], np.float32)
    out = place_detections([rows], piece((0, 0, 400, 300)), image_size=(400, 300), margin=10)
    np.testing.assert_allclose(out[0], rows)


def test_tile_detections_kept_once_and_scaled_back():
    # a unit of 400 x 300 original px at s = 0.5 -> 200 x 150 resized; tiles 128, overlap 72
    windows = tile_windows(200, 150, 128, 72)  # x starts 0, 72; y starts 0, 22
    box = np.array([[30, 20, 50, 40, 0.9]], np.float32)  # resized px of tile 0: (15, 10, 25, 20) / 0.5
    first = place_detections([box], piece((0, 0, 400, 300), 0.5, windows, 0), image_size=(400, 300), margin=10)
    np.testing.assert_allclose(first[0], [[30, 20, 50, 40, 0.9]])
    # the same object seen by tile 2 (origin (0, 22) resized): rows in its frame are (15, -12, ...) -> outside;
    # an object at resized (80, 60)-(100, 80) is inside tiles 0 and 1 away from inner edges: only tile 0 keeps it
    seen = np.array([[160, 120, 200, 160, 0.8]], np.float32)  # tile 0 frame, original px
    shifted = seen.copy()
    shifted[:, [0, 2]] -= 72 / 0.5  # the same object in tile 1's frame
    kept0 = place_detections([seen], piece((0, 0, 400, 300), 0.5, windows, 0), image_size=(400, 300), margin=10)
    kept1 = place_detections([shifted], piece((0, 0, 400, 300), 0.5, windows, 1), image_size=(400, 300), margin=10)
    assert len(kept0[0]) == 1 and len(kept1[0]) == 0


def autofocus_spec(**kwargs):
    # scale list fine -> coarse: x2 prunes from x0.5's maps with (dilation 1, threshold 0.5, min 4 cells)
    return ChipTestSpec(auto_focus=True, do_pruning=(True, False), hyperparams=((-1, -1, -1), (1, 0.5, 4)),
                        edge_margin=10, **kwargs)


BIG = [(40, 40, 12), (600, 400, 14)]  # two small squares far apart in a 800 x 600 image


def test_run_order_is_coarse_to_fine():
    item = LoadedImage(squares_image(800, 600, []))
    pyramid = TestPyramidSpec(scales=(2.0, 0.5, 1000.0), valid_ranges=((-1, -1),) * 3, batch_images=(1, 1, 1),
                              pixel_means=MEANS)
    assert run_order([item], pyramid) == [1, 2, 0]  # factors 2, 0.5, 1000 / 800 = 1.25


@pytest.mark.parametrize("contexts", [[mx.cpu(0)], [mx.cpu(0), mx.cpu(1)]])
def test_autofocus_runs_the_fine_scale_on_focus_chips_only(contexts):
    images = [LoadedImage(squares_image(800, 600, BIG)), LoadedImage(squares_image(800, 600, BIG[:1]))]
    net = SquareNet(focus=True)
    pipe = pipeline(net, scales=[(1200, 1600), (300, 400)], batch=1, contexts=contexts, chips=autofocus_spec())
    per_scale = pipe.detect_all_scales(images, progress=False)
    # coarse x0.5: 400 x 300 whole images. Each square touches one 16 px cell there; grown to 4 x 4 cells
    # (64 resized px = 128 original px) around it, so the fine scale x2 runs 256 x 256 px chips: 2 + 1 of them
    # (the first square's cell 1 gives cells 0-3, the second's cell (18, 12) cells 16-19 x 10-13)
    assert pipe.pixels == 2 * 400 * 300 + 3 * 256 * 256
    fine_shapes = [shape for _, shape in net.calls if shape[2] == 256]
    assert sum(s[0] for s in fine_shapes) == 3
    if len(contexts) == 2:  # a batch of 2 per scale split over both devices
        assert {ctx for ctx, _ in net.calls} == set(contexts)
    for image, squares in zip(per_scale[0], (BIG, BIG[:1])):  # x2 bilinear blurs edges by half a px
        np.testing.assert_allclose(found_boxes(image), boxes_of(squares, scale=2.0), atol=0.51)


def test_fractional_focus_chips_place_detections_on_their_pixels():
    # coarse x0.3 (long side 240 px of 800): a cell is 16 / 0.3 = 53.33 original px, so the chips' corners are
    # fractional (square (600, 400) in cell (11, 7) -> cells 10-13 x 6-9 -> x from 533.33). The fine scale x1
    # crops whole pixels from floor(533.33) = 533 on, so its boxes must come back at exactly the squares.
    squares = [(600, 400, 14), (300, 330, 20)]
    net = SquareNet(focus=True)
    pipe = pipeline(net, scales=[1.0, 240.0], chips=autofocus_spec())
    per_scale = pipe.detect_all_scales([LoadedImage(squares_image(800, 600, squares))], progress=False)
    assert any(shape[3] % 16 for _, shape in net.calls[1:])  # the fine pieces are not whole cells wide
    np.testing.assert_allclose(found_boxes(per_scale[0][0]), boxes_of(squares), atol=1e-4)


def test_autofocus_finds_nothing_fine_without_focus():
    images = [LoadedImage(squares_image(800, 600, []))]
    pipe = pipeline(SquareNet(focus=True), scales=[(1200, 1600), (300, 400)], chips=autofocus_spec())
    per_scale = pipe.detect_all_scales(images, progress=False)
    assert pipe.pixels == 400 * 300 and len(per_scale[0][0][1]) == 0


def test_piece_batches_sorted_by_area_landscape_first():
    # areas 10000, 4000 (portrait), 600, 720: landscape by area 2, 3, 0, then portrait 1
    pieces = [piece((0, 0, 100, 100)), piece((0, 0, 50, 80)), piece((0, 0, 30, 20)), piece((0, 0, 60, 12))]
    assert plan_piece_batches(pieces, 2, sort=True) == [[2, 3], [0, 1]]
    assert plan_piece_batches(pieces, 3, sort=False) == [[0, 1, 2], [3]]


def test_chip_test_spec_from_config_and_its_errors():
    cfg = load_config("configs/quickstart/shapes_cpu.yml")
    assert not ChipTestSpec.from_config(cfg).active
    cfg.TEST.AUTO_FOCUS = True
    spec = ChipTestSpec.from_config(cfg)
    assert spec.active and spec.do_pruning == (True, False, False) and spec.hyperparams[1] == (3.0, 0.05, 10.0)
    cfg.TEST.TILE_SIZE, cfg.TEST.TILE_OVERLAP = 256, 256
    with pytest.raises(ValueError, match="TEST.TILE_OVERLAP"):
        ChipTestSpec.from_config(cfg)
