"""Shared helpers on time series: cleaning (sort, NaN, duplicated timestamps) and time arithmetic."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
import pandas as pd

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

NS_PER_MIN = 60_000_000_000
NS_PER_H = 60 * NS_PER_MIN


def clean_series(series: pd.Series[float]) -> pd.Series[float]:
    """``series`` sorted by time, without NaN values, with duplicated timestamps averaged.

    The index must be a :class:`pandas.DatetimeIndex`. A re-sent reading keeps its timestamp, so averaging duplicates
    keeps one value per instant without favouring either copy.
    """
    if not isinstance(series.index, pd.DatetimeIndex):
        raise TypeError("series must be indexed by time (a DatetimeIndex)")
    out = series.astype("float64")
    out = out[out.notna()]
    if not out.index.is_monotonic_increasing:
        out = out.sort_index(kind="stable")
    if out.index.has_duplicates:
        out = out.groupby(level=0).mean()
    return out


def minutes_since(index: pd.DatetimeIndex, origin: pd.Timestamp) -> FloatArray:
    """Minutes from ``origin`` to each instant of ``index`` (float)."""
    ns = index.as_unit("ns").asi8 - origin.as_unit("ns").value
    return np.asarray(ns, dtype=np.float64) / NS_PER_MIN


def median_interval_min(index: pd.DatetimeIndex) -> float | None:
    """The median step between consecutive distinct instants, in minutes; None with fewer than two instants."""
    if len(index) < 2:
        return None
    steps = np.diff(index.as_unit("ns").asi8)
    steps = steps[steps > 0]
    if steps.size == 0:
        return None
    return float(np.median(steps)) / NS_PER_MIN


def values_of(series: pd.Series[float]) -> FloatArray:
    """The values of ``series`` as a float64 array."""
    return np.asarray(series.to_numpy(), dtype=np.float64)


def ns_of(index: pd.Index) -> IntArray:
    """Nanoseconds since the epoch of each instant of a DatetimeIndex."""
    return np.asarray(pd.DatetimeIndex(index).as_unit("ns").asi8, dtype=np.int64)


def metric_series(readings: pd.DataFrame, metric: str) -> pd.Series[float]:
    """The values of one metric of a readings frame (columns ``time``, ``metric``, ``value``), indexed by time."""
    rows = readings[readings["metric"] == metric]
    return pd.Series(
        rows["value"].to_numpy(dtype=np.float64), index=pd.DatetimeIndex(rows["time"]), name=metric, dtype="float64"
    )


def daily_sum(series: pd.Series[float], tz: str = "UTC") -> pd.Series[float]:
    """Sum per local calendar day in ``tz``; days are labelled by their local midnight (tz-naive)."""
    if series.empty:
        return pd.Series(dtype="float64")
    local = series.copy()
    local.index = pd.DatetimeIndex(series.index).tz_convert(tz).tz_localize(None).normalize()
    return local.groupby(level=0).sum()


def hours_covered(days: pd.DatetimeIndex, start: pd.Timestamp, end: pd.Timestamp, tz: str = "UTC") -> pd.Series[float]:
    """Hours of each local day (tz-naive midnights of ``tz``) that fall inside ``[start, end)`` (tz-aware).

    A day at the edge of a recording or of a query window is partial: its totals are not comparable with full days.
    Days are 24 h long except across a daylight-saving change (23 h or 25 h).
    """
    local_start = pd.DatetimeIndex(days).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    local_end = (pd.DatetimeIndex(days) + pd.Timedelta(days=1)).tz_localize(
        tz, ambiguous="NaT", nonexistent="shift_forward"
    )
    lo = np.maximum(local_start.as_unit("ns").asi8, start.as_unit("ns").value)
    hi = np.minimum(local_end.as_unit("ns").asi8, end.as_unit("ns").value)
    return pd.Series(np.clip(hi - lo, 0, None) / NS_PER_H, index=days, dtype="float64")


def day_length_h(days: pd.DatetimeIndex, tz: str = "UTC") -> pd.Series[float]:
    """Length of each local day in hours (24, or 23/25 across a daylight-saving change)."""
    start = pd.DatetimeIndex(days).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    end = (pd.DatetimeIndex(days) + pd.Timedelta(days=1)).tz_localize(tz, ambiguous="NaT", nonexistent="shift_forward")
    return pd.Series((end.as_unit("ns").asi8 - start.as_unit("ns").asi8) / NS_PER_H, index=days, dtype="float64")


def data_span(readings: pd.DataFrame) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``[first reading, just after the last one)`` of a readings frame."""
    times = pd.DatetimeIndex(readings["time"])
    return pd.Timestamp(times.min()), pd.Timestamp(times.max()) + pd.Timedelta(1, unit="ns")
