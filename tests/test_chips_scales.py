"""Scale factors in the factor and the (min, max) resolution forms (the original's chip worker rule)."""
import pytest

from lib.chips.scales import is_resolution_form, scale_factor, scale_factors, scaled_size


def test_factor_form_last_entry_is_the_long_side():
    assert scale_factors(640, 480, (3.0, 1.667, 512.0)) == pytest.approx([3.0, 1.667, 0.8])
    assert scale_factors(480, 640, (3.0, 1.667, 512.0))[2] == pytest.approx(0.8)
    assert scale_factors(1000, 500, (800.0,)) == pytest.approx([0.8])  # the only scale is the last


def test_resolution_form_short_side_capped_by_long_side():
    s = scale_factors(640, 480, ((1400, 2000), (800, 1280), (480, 512)))
    assert s == pytest.approx([1400 / 480, 800 / 480, 512 / 640])
    assert scale_factor(2000, 500, (800, 1333)) == pytest.approx(1333 / 2000)  # round(3200) > 1333
    assert scale_factor(2000, 500, (800, -1)) == pytest.approx(800 / 500)  # no cap
    assert scale_factor(2000, 500, (-1, 512)) == pytest.approx(512 / 2000)  # min <= 0: long side


def test_resolution_cap_uses_rounding():
    # 600 * (800 / 480) = 1000.0000x rounds to 1000: not above the cap, the short-side factor stays.
    assert scale_factor(600, 480, (800, 1000)) == pytest.approx(800 / 480)
    assert scale_factor(601, 480, (800, 1000)) == pytest.approx(1000 / 601)


def test_forms_and_errors():
    assert is_resolution_form([(1, 2)]) and not is_resolution_form([1.0, 2.0])
    with pytest.raises(ValueError):
        scale_factors(640, 480, (3.0, (800, 1280)))
    with pytest.raises(ValueError):
        scale_factors(640, 480, ((800, 1280), 3.0))
    with pytest.raises(ValueError):
        scale_factors(640, 480, ())


def test_scaled_size_truncates():
    assert scaled_size(640, 480, 0.8) == (512, 384)
    assert scaled_size(640, 480, 1.667) == (1066, 800)
