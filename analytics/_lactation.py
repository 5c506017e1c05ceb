"""Wood lactation curve: fit per cow, expected yield per day in milk (DIM), residuals, peak.

Wood (1967): y(t) = a · t^b · e^(-c·t), t = days in milk. Peak day = b / c, peak yield = a · (b/c)^b · e^(-b)
(domain.md §3.2). The fit is a non-linear least-squares fit on the original scale (scipy ``curve_fit``, bounded),
started from the log-linear least-squares solution of ln y = ln a + b ln t - c t.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.optimize import OptimizeWarning, curve_fit

from analytics._errors import AnalyticsError, NoDataError
from analytics._series import FloatArray

MIN_POINTS = 5


@dataclass(frozen=True, slots=True)
class WoodFit:
    """Fitted Wood parameters and derived figures (yields in kg/day)."""

    a: float
    b: float
    c: float
    n: int
    rmse: float

    @property
    def peak_day(self) -> float | None:
        """Day in milk of the peak; None for a curve with no peak (b ≤ 0 or c ≤ 0)."""
        return self.b / self.c if self.b > 0 and self.c > 0 else None

    @property
    def peak_yield(self) -> float | None:
        """Daily yield at the peak; None when there is no peak."""
        day = self.peak_day
        return None if day is None else float(wood(np.array([day]), self.a, self.b, self.c)[0])

    def expected(self, dim: FloatArray) -> FloatArray:
        """Expected daily yield at each day in milk."""
        return wood(dim, self.a, self.b, self.c)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-able values."""
        return {**asdict(self), "peak_day": self.peak_day, "peak_yield": self.peak_yield}


def wood(t: FloatArray, a: float, b: float, c: float) -> FloatArray:
    """Wood's curve a · t^b · e^(-c·t)."""
    t = np.asarray(t, dtype=np.float64)
    return np.asarray(a * np.power(t, b) * np.exp(-c * t), dtype=np.float64)


def _checked(dim: FloatArray, milk: FloatArray) -> tuple[FloatArray, FloatArray]:
    t = np.asarray(dim, dtype=np.float64)
    y = np.asarray(milk, dtype=np.float64)
    if t.shape != y.shape:
        raise AnalyticsError("days in milk and yields must have the same length")
    keep = np.isfinite(t) & np.isfinite(y) & (t > 0) & (y > 0)
    t, y = t[keep], y[keep]
    if np.unique(t).size < MIN_POINTS:
        raise NoDataError(
            f"a Wood fit needs yields on at least {MIN_POINTS} distinct days in milk (got {np.unique(t).size})"
        )
    return t, y


def fit_wood_loglinear(dim: FloatArray, milk: FloatArray) -> WoodFit:
    """Least squares on ln y = ln a + b ln t - c t (exact for noise-free Wood data; weights early days differently)."""
    t, y = _checked(dim, milk)
    design = np.column_stack([np.ones_like(t), np.log(t), -t])
    coef, *_ = np.linalg.lstsq(design, np.log(y), rcond=None)
    if not np.all(np.isfinite(coef)) or abs(float(coef[0])) > 700:  # a short stretch of lactation: ill-posed
        raise AnalyticsError("these days in milk do not determine a Wood curve (log-linear fit out of range)")
    a, b, c = math.exp(float(coef[0])), float(coef[1]), float(coef[2])
    with np.errstate(over="ignore", invalid="ignore"):
        rmse = _rmse(t, y, a, b, c)
    if not math.isfinite(rmse):
        raise AnalyticsError("these days in milk do not determine a Wood curve (log-linear fit out of range)")
    return WoodFit(a, b, c, int(t.size), rmse)


def fit_wood(dim: FloatArray, milk: FloatArray) -> WoodFit:
    """Fit Wood's curve to daily yields (kg) by day in milk; zero, negative and missing yields are ignored."""
    t, y = _checked(dim, milk)
    start = fit_wood_loglinear(t, y)
    p0 = (
        min(max(start.a, 1e-3), 1e3),
        min(max(start.b, -0.99), 2.99),
        min(max(start.c, -0.099), 0.49),
    )
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", OptimizeWarning)
            popt, _ = curve_fit(
                _wood_model, t, y, p0=p0, bounds=([1e-6, -1.0, -0.1], [1e4, 3.0, 0.5]), method="trf", maxfev=5000
            )
    except (RuntimeError, ValueError) as exc:
        raise AnalyticsError(f"the Wood fit did not converge: {exc}") from exc
    a, b, c = (float(x) for x in popt)
    return WoodFit(a, b, c, int(t.size), _rmse(t, y, a, b, c))


def _wood_model(t: FloatArray, a: float, b: float, c: float) -> FloatArray:
    return wood(t, a, b, c)


def _rmse(t: FloatArray, y: FloatArray, a: float, b: float, c: float) -> float:
    return float(np.sqrt(np.mean((y - wood(t, a, b, c)) ** 2)))


def wood_residuals(fit: WoodFit, dim: FloatArray, milk: FloatArray) -> FloatArray:
    """Observed minus expected daily yield at each day in milk (the forecast residuals EWMA/CUSUM chart)."""
    return np.asarray(np.asarray(milk, dtype=np.float64) - fit.expected(dim), dtype=np.float64)
