"""EWMA and CUSUM, hand-checked."""

from __future__ import annotations

import math

import numpy as np
import pytest

from analytics import cusum, ewma
from analytics._errors import AnalyticsError


def test_ewma_hand_checked() -> None:
    out = ewma(np.array([1.0, 1.0, 1.0]), lam=0.5)
    assert out.z == pytest.approx([0.5, 0.75, 0.875])
    # limits 3·√(λ/(2-λ)·(1-(1-λ)^(2t))): t=1 → 3·√(1/3·3/4) = 1.5; t=2 → 3·√(1/3·15/16)
    assert out.upper[:2] == pytest.approx([1.5, 3 * math.sqrt(15 / 48)])
    assert out.lower == pytest.approx(-out.upper)
    assert not out.alarm.any()
    shifted = ewma(np.array([4.0, 4.0]), lam=0.5)
    assert shifted.z == pytest.approx([2.0, 3.0])
    assert shifted.alarm.tolist() == [True, True]


def test_ewma_limits_tend_to_the_asymptote_and_respect_mu_sigma() -> None:
    out = ewma(np.full(200, 10.0), lam=0.2, mu=10.0, sigma=2.0, width=3.0)
    assert out.upper[-1] == pytest.approx(10.0 + 3 * 2.0 * math.sqrt(0.2 / 1.8))
    assert (out.z == 10.0).all()
    low = ewma(np.array([4.0] * 10), lam=0.2, mu=10.0, sigma=2.0)
    assert low.alarm[-1]
    assert low.z[-1] < low.lower[-1]


def test_ewma_skips_missing_values_and_rejects_bad_parameters() -> None:
    out = ewma(np.array([1.0, np.nan, 1.0]), lam=0.5)
    assert out.z == pytest.approx([0.5, 0.5, 0.75])
    assert ewma(np.array([]), lam=0.5).z.size == 0
    with pytest.raises(AnalyticsError):
        ewma(np.array([1.0]), sigma=0.0)
    with pytest.raises(AnalyticsError):
        ewma(np.array([1.0]), lam=0.0)


def test_cusum_hand_checked_with_reset() -> None:
    out = cusum(np.array([0.0, 2.0, 2.0, 2.0, 2.0]), k=0.5, h=4.0)
    assert out.upper == pytest.approx([0.0, 1.5, 3.0, 4.5, 1.5])  # alarm at 4.5 > 4, then restart from 0
    assert out.alarm_upper.tolist() == [False, False, False, True, False]
    assert not out.alarm_lower.any()
    assert (out.lower == 0).all()


def test_cusum_lower_side_without_reset_and_standardisation() -> None:
    # yields 2 kg below expectation with sigma 2 kg: u = -1 each milking, S- grows by 0.5
    out = cusum(np.full(12, 28.0), mu=30.0, sigma=2.0, k=0.5, h=5.0, reset=False)
    assert out.lower == pytest.approx(0.5 * np.arange(1, 13))
    assert out.alarm_lower.tolist() == [False] * 10 + [True, True]


def test_cusum_missing_values_and_bad_sigma() -> None:
    out = cusum(np.array([-1.0, np.nan, -1.0]))
    assert out.lower == pytest.approx([0.5, 0.5, 1.0])
    with pytest.raises(AnalyticsError):
        cusum(np.array([1.0]), sigma=-1.0)


def test_lower_cusum_on_wood_residuals_catches_a_yield_drop() -> None:
    # the chain the yield-drop rule uses: Wood forecast → residuals → CUSUM in units of the fit's RMSE
    from analytics import fit_wood, wood, wood_residuals

    rng = np.random.default_rng(8)
    t = np.arange(1.0, 121.0)
    milk = wood(t, 22.3, 0.2, 0.004) * rng.normal(1.0, 0.03, t.size)
    fit = fit_wood(t[:90], milk[:90])  # history up to day 90
    milk[100:] *= 0.85  # from day 101 the cow gives 15 % less (mastitis, lameness...)
    chart = cusum(wood_residuals(fit, t, milk)[90:], sigma=fit.rmse, k=0.5, h=5.0)
    first = int(np.argmax(chart.alarm_lower))
    assert chart.alarm_lower.any()
    assert 10 <= first <= 13  # within 3 days of the drop at index 10
    assert not chart.alarm_lower[:10].any()
    assert not chart.alarm_upper.any()
