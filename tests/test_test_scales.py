"""TEST.SCALES in the factor form of TRAIN.SCALES (factors, the last entry a long side in px) and the (short, long)
resolution form: the per-image factor by hand, the tester's pyramid and the test pipeline itself."""
import math

import mxnet as mx
import numpy as np
import pytest

from lib.config import ConfigError, load_config
from lib.dataset.roidb import ImageRecord
from lib.chips.scales import scale_factor_at, scale_factors
from lib.inference.pyramid import plan_batches, prepare_batch
from lib.inference.pipeline import LoadedImage, Pipeline
from train_helpers import QUICKSTART_CFG

FACTORS = (2.0, 1.0, 512.0)  # factor 2, factor 1, long side 512 px (the rule of TRAIN.SCALES)
MEANS_BGR = (103.939, 116.779, 123.68)


def _record(width, height, path="none.png"):
    return ImageRecord(image=str(path), width=width, height=height, boxes=np.zeros((0, 4)), classes=[])


@pytest.mark.parametrize("width, height, expected", [
    (1000, 800, (2.0, 1.0, 512 / 1000)),  # landscape: the long side 1000 goes to 512
    (400, 600, (2.0, 1.0, 512 / 600)),    # portrait: the long side is the height
    (300, 200, (2.0, 1.0, 512 / 300)),    # smaller than 512: the last scale enlarges (as in training)
])
def test_factor_form_per_image_by_hand(width, height, expected):
    assert [scale_factor_at(width, height, FACTORS, k) for k in range(3)] == pytest.approx(expected)
    assert scale_factors(width, height, FACTORS) == pytest.approx(expected)
    assert scale_factor_at(width, height, (512.0,), 0) == pytest.approx(512 / max(width, height))  # alone = last


def test_factor_form_through_the_pyramid():
    records = [_record(1000, 800), _record(300, 200), _record(400, 600)]
    for k, expected in enumerate(((2.0, 2.0, 2.0), (1.0, 1.0, 1.0), (512 / 1000, 512 / 300, 512 / 600))):
        batches = plan_batches(records, FACTORS[k], 8, is_last=k == 2)
        landscape, portrait = batches  # landscape by area: 300x200 (index 1), 1000x800 (index 0); portrait: 2
        assert landscape.indices.tolist() == [1, 0] and portrait.indices.tolist() == [2]
        np.testing.assert_allclose(landscape.scales, [expected[1], expected[0]])
        np.testing.assert_allclose(portrait.scales, [expected[2]])
        s1, s0 = landscape.scales
        assert landscape.canvas == (max(math.ceil(200 * s1), math.ceil(800 * s0)),
                                    max(math.ceil(300 * s1), math.ceil(1000 * s0)))
    # the last entry read as a factor (is_last forgotten) would be 512x: the flag is what makes it a size
    assert plan_batches([_record(1000, 800)], 512.0, 1)[0].scales[0] == 512.0


def test_both_forms_prepare_the_same_input_for_the_same_factor(tmp_path):
    import cv2
    path = tmp_path / "im.png"
    cv2.imwrite(str(path), np.random.RandomState(0).randint(0, 255, (80, 100, 3)).astype(np.uint8))
    records = [_record(100, 80, path)]
    # long side 64 px: factor form's last entry 64.0, resolution form (-1, 64) (min <= 0: long side to max)
    by_factor = prepare_batch(records, plan_batches(records, 64.0, 1, is_last=True)[0], MEANS_BGR)
    by_size = prepare_batch(records, plan_batches(records, (-1, 64), 1)[0], MEANS_BGR)
    assert by_factor[0].shape == (1, 3, 52, 64)  # canvas ceil(80 * 0.64) = 52 rows (51.2), 64 columns
    np.testing.assert_array_equal(by_factor[0], by_size[0])
    np.testing.assert_allclose(by_factor[1], [[51, 64, 0.64]])  # OpenCV's resize rounds 51.2 to 51 rows


class _EchoNet:
    """A stand-in network: returns im_info, so the tester's per-image rows can be read back."""

    def __call__(self, data, im_info):
        return [im_info]


def _pipeline_factors(scales):
    """The factor in im_info of every entry of `scales` for one 1000 x 800 image, from the test pipeline."""
    ranges = "((-1, -1), (-1, -1), (-1, -1))"
    cfg = load_config(QUICKSTART_CFG, ["TEST.SCALES", repr(scales), "TEST.VALID_RANGES", ranges,
                                       "TEST.BATCH_IMAGES", "(1, 1, 1)"])
    pipeline = Pipeline.from_config(cfg, _EchoNet(), [mx.cpu()], 2)
    got = []
    for k in range(len(scales)):
        pipeline.run_scale([LoadedImage(np.zeros((800, 1000, 3), np.uint8))], k,
                           lambda i, info, outputs: got.append(info[2]), progress=False)
    return got


def test_pipeline_runs_both_forms():
    np.testing.assert_allclose(_pipeline_factors(FACTORS), [2.0, 1.0, 0.512], rtol=1e-6)  # float32 im_info
    # short side 800 -> 1600, 800, 400 in the resolution form
    np.testing.assert_allclose(_pipeline_factors(((1600, 2000), (800, 1000), (400, 512))), [2.0, 1.0, 0.5],
                               rtol=1e-6)


def test_config_accepts_the_factor_form_and_refuses_mixtures():
    cfg = load_config(QUICKSTART_CFG, ["TEST.SCALES", "(2.0, 1.0, 512.0)"])
    assert cfg.TEST.SCALES == FACTORS
    with pytest.raises(ConfigError, match="TEST.SCALES"):
        load_config(QUICKSTART_CFG, ["TEST.SCALES", "(2.0, (800, 1280), 512.0)"])
    with pytest.raises(ConfigError, match="TEST.SCALES"):
        load_config(QUICKSTART_CFG, ["TEST.SCALES", "(2.0, -1.0, 512.0)"])
