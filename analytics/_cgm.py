"""CGM summary over a window: mean, SD, CV, percent of readings and of time in / below / above a range, coverage.

Conventions follow the R package iglu and its Python port ``iglu-python`` so that the figures agree with an
established tool: SD is the sample SD (n - 1), CV = 100 · SD / mean, "in range" is inclusive of both limits,
"below" is strictly under ``low`` and "above" strictly over ``high``. Glucose is in mg/dL throughout.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from analytics._errors import AnalyticsError, NoDataError
from analytics._series import FloatArray, clean_series, median_interval_min, minutes_since, values_of
from analytics._units import to_glucose_unit


@dataclass(frozen=True, slots=True)
class GlucoseRange:
    """A target range in mg/dL: in range means ``low ≤ glucose ≤ high``."""

    low: float
    high: float

    def __post_init__(self) -> None:
        if not (math.isfinite(self.low) and math.isfinite(self.high) and 0 <= self.low < self.high):
            raise AnalyticsError(f"glucose range must satisfy 0 ≤ low < high (got {self.low}-{self.high} mg/dL)")


# Species defaults [D] from domain.md §1.6 and §6.1: TIR is computed over 80-250 mg/dL for dogs and cats on insulin
# (lower bound = "nadir too low" threshold, upper bound = the whole-day target of MSD/Cook, "mean < 250").
SPECIES_RANGES: dict[str, GlucoseRange] = {
    "dog": GlucoseRange(80.0, 250.0),
    "cat": GlucoseRange(80.0, 250.0),
}
DEFAULT_RANGE = SPECIES_RANGES["dog"]


def species_range(species: str | None) -> GlucoseRange:
    """The default target range of ``species`` (dog and cat: 80-250 mg/dL); the dog range when unknown."""
    return SPECIES_RANGES.get((species or "").lower(), DEFAULT_RANGE)


@dataclass(frozen=True, slots=True)
class CgmSummary:
    """The CGM figures of one window. Percentages are 0-100; None where a figure is undefined (SD of one reading)."""

    n: int
    start: pd.Timestamp
    end: pd.Timestamp
    interval_min: float | None
    low: float
    high: float
    mean: float
    sd: float | None
    cv: float | None
    pct_in_range: float
    pct_below: float
    pct_above: float
    time_in_range: float
    time_below: float
    time_above: float
    coverage: float | None

    def to_dict(self, unit: str = "mg/dL") -> dict[str, Any]:
        """The summary as plain JSON-able values, glucose figures in ``unit`` (mg/dL, mmol/L or g/L)."""
        return {
            "unit": unit,
            "n": self.n,
            "start": self.start.isoformat(),
            "end": self.end.isoformat(),
            "interval_min": self.interval_min,
            "low": to_glucose_unit(self.low, unit),
            "high": to_glucose_unit(self.high, unit),
            "mean": to_glucose_unit(self.mean, unit),
            "sd": None if self.sd is None else to_glucose_unit(self.sd, unit),
            "cv": self.cv,
            "pct_in_range": self.pct_in_range,
            "pct_below": self.pct_below,
            "pct_above": self.pct_above,
            "time_in_range": self.time_in_range,
            "time_below": self.time_below,
            "time_above": self.time_above,
            "coverage": self.coverage,
        }


def cgm_summary(
    glucose: pd.Series[float],
    target: GlucoseRange = DEFAULT_RANGE,
    *,
    interval_min: float | None = None,
    window: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> CgmSummary:
    """Summarise CGM readings (mg/dL, indexed by time) over a window.

    - ``interval_min``: the sensor's nominal sampling interval; by default the median step between readings.
    - ``window``: ``(start, end)`` of the period asked for; readings outside are ignored and coverage is counted over
      the whole window (so a sensor that stopped early shows low coverage). By default the span of the data.

    Percent of **readings** counts each reading once. Percent of **time** weights each reading by the time until the
    next one, capped at the nominal interval (a gap carries no weight), so 1-minute bursts do not outweigh 15-minute
    stored history. **Coverage** is the share of interval-wide slots of the window holding at least one reading.
    """
    series = clean_series(glucose)
    if window is not None:
        start, end = window
        if end <= start:
            raise AnalyticsError("the window must end after it starts")
        series = series[(series.index >= start) & (series.index < end)]
    if series.empty:
        raise NoDataError("no glucose reading in the window")
    if interval_min is not None and not (math.isfinite(interval_min) and interval_min > 0):
        raise AnalyticsError("the sampling interval must be a positive number of minutes")
    index = pd.DatetimeIndex(series.index)
    values = values_of(series)
    n = int(values.size)
    step = interval_min if interval_min is not None else median_interval_min(index)

    mean = float(values.mean())
    sd = float(values.std(ddof=1)) if n > 1 else None
    cv = (100.0 * sd / mean) if sd is not None and mean > 0 else None

    below = values < target.low
    above = values > target.high
    inside = ~(below | above)
    pct = 100.0 / n

    if step is None:  # one reading and no nominal interval: time shares equal reading shares
        weights = np.ones(n)
    else:
        minutes = minutes_since(index, index[0])
        weights = np.empty(n)
        weights[:-1] = np.minimum(np.diff(minutes), step)
        weights[-1] = step
    total = float(weights.sum())

    first = pd.Timestamp(index[0])
    last = pd.Timestamp(index[-1])
    w_start, w_end = window if window is not None else (first, last)
    coverage = (
        None
        if step is None
        else coverage_pct(minutes_since(index, w_start), step, w_end, w_start, windowed=window is not None)
    )

    return CgmSummary(
        n=n,
        start=w_start,
        end=w_end,
        interval_min=step,
        low=target.low,
        high=target.high,
        mean=mean,
        sd=sd,
        cv=cv,
        pct_in_range=float(inside.sum()) * pct,
        pct_below=float(below.sum()) * pct,
        pct_above=float(above.sum()) * pct,
        time_in_range=100.0 * float(weights[inside].sum()) / total,
        time_below=100.0 * float(weights[below].sum()) / total,
        time_above=100.0 * float(weights[above].sum()) / total,
        coverage=coverage,
    )


def coverage_pct(minutes: FloatArray, step: float, end: pd.Timestamp, start: pd.Timestamp, *, windowed: bool) -> float:
    """Percent of expected readings present; ``minutes`` are the readings' offsets from ``start`` (sorted)."""
    gaps = np.diff(minutes)
    missing = float(np.maximum(np.round(gaps[gaps > step] / step) - 1.0, 0.0).sum())
    if not windowed:
        expected = round(float(minutes[-1]) / step) + 1
    else:
        span = (end - start) / pd.Timedelta(minutes=1)
        expected = max(round(span / step), 1)
        missing += round(float(minutes[0]) / step)  # before the first reading
        missing += max(round((span - float(minutes[-1])) / step) - 1, 0)  # after the last one
    return float(min(max(100.0 * (expected - missing) / expected, 0.0), 100.0))
