"""Control charts on forecast residuals: EWMA and CUSUM, the building blocks of the rules (domain.md §3.3).

Livestock series are autocorrelated and non-stationary, so the charts run on *residuals* (observed - expected from
the cow's Wood curve or the animal's own baseline), standardised by ``sigma`` ("model then chart", Mertens 2011).
Missing values (NaN) leave the chart unchanged.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from analytics._errors import AnalyticsError
from analytics._series import BoolArray, FloatArray


@dataclass(frozen=True, slots=True)
class Ewma:
    """EWMA statistic z with its control limits (same length as the input) and the alarm mask."""

    z: FloatArray
    lower: FloatArray
    upper: FloatArray
    alarm: BoolArray


@dataclass(frozen=True, slots=True)
class Cusum:
    """One-sided CUSUMs in units of sigma (upper detects a rise, lower a fall) and their alarm masks."""

    upper: FloatArray
    lower: FloatArray
    alarm_upper: BoolArray
    alarm_lower: BoolArray


def _check_sigma(sigma: float) -> None:
    if not (math.isfinite(sigma) and sigma > 0):
        raise AnalyticsError("sigma must be a positive number")


def ewma(x: FloatArray, *, lam: float = 0.2, mu: float = 0.0, sigma: float = 1.0, width: float = 3.0) -> Ewma:
    """EWMA z_t = λ x_t + (1 - λ) z_(t-1), z_0 = mu, with the exact limits mu ± L sigma √(λ/(2-λ) (1 - (1-λ)^(2t))).

    The limits widen towards the asymptotic mu ± L sigma √(λ/(2-λ)) of domain.md §3.3; λ = 0.2-0.3 and L ≈ 2.7-3 are the
    textbook defaults. A NaN observation carries the previous z forward.
    """
    _check_sigma(sigma)
    if not 0 < lam <= 1:
        raise AnalyticsError("lambda must be in (0, 1]")
    values = np.asarray(x, dtype=np.float64)
    z = np.empty(values.size)
    prev = mu
    for i, xi in enumerate(values):
        if not math.isnan(xi):
            prev = lam * xi + (1.0 - lam) * prev
        z[i] = prev
    steps = np.arange(1, values.size + 1, dtype=np.float64)
    half = width * sigma * np.sqrt(lam / (2.0 - lam) * (1.0 - (1.0 - lam) ** (2.0 * steps)))
    lower, upper = mu - half, mu + half
    return Ewma(z, lower, upper, (z < lower) | (z > upper))


def cusum(
    x: FloatArray, *, mu: float = 0.0, sigma: float = 1.0, k: float = 0.5, h: float = 5.0, reset: bool = True
) -> Cusum:
    """Tabular CUSUM on standardised values u = (x - mu) / sigma.

    Upper S⁺_t = max(0, S⁺_(t-1) + u_t - k); lower S⁻_t = max(0, S⁻_(t-1) - u_t - k) (domain.md §3.3: k = 0.5,
    alarm at h = 4-5). With ``reset`` a side restarts from 0 after it alarms, so a lasting shift alarms again.
    """
    _check_sigma(sigma)
    u = (np.asarray(x, dtype=np.float64) - mu) / sigma
    up = np.empty(u.size)
    lo = np.empty(u.size)
    a_up = np.zeros(u.size, dtype=bool)
    a_lo = np.zeros(u.size, dtype=bool)
    s_up = s_lo = 0.0
    for i, ui in enumerate(u):
        if not math.isnan(ui):
            s_up = max(0.0, s_up + ui - k)
            s_lo = max(0.0, s_lo - ui - k)
        up[i], lo[i] = s_up, s_lo
        a_up[i], a_lo[i] = s_up > h, s_lo > h
        if reset and a_up[i]:
            s_up = 0.0
        if reset and a_lo[i]:
            s_lo = 0.0
    return Cusum(up, lo, a_up, a_lo)
