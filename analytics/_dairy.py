"""Dairy cows: daily yield from milkings and intervals, visit frequency and rumination with the cow's baselines,
and the (days in milk, daily yield) points a Wood fit needs (domain.md §3 and §6.3).

Inputs are readings frames (columns ``time``, ``metric``, ``value``) in canonical units: ``milk_yield`` kg per
milking, ``milking_interval`` h since the cow's previous milking, ``rumination`` min per reported period.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics._baseline import rolling_baseline
from analytics._errors import NoDataError
from analytics._series import FloatArray, clean_series, daily_sum, data_span, day_length_h, hours_covered, metric_series


def milking_table(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per milking (time): ``yield_kg`` and ``interval_h``.

    The interval is the robot's ``milking_interval`` when reported, else the time since the previous milking in the
    data (NaN for the first milking).
    """
    milk = clean_series(metric_series(readings, "milk_yield"))
    if milk.empty:
        raise NoDataError("no milk_yield reading")
    reported = clean_series(metric_series(readings, "milking_interval")).reindex(milk.index)
    index = pd.DatetimeIndex(milk.index)
    gaps = pd.Series(index.to_series().diff().dt.total_seconds().to_numpy() / 3600.0, index=index)
    return pd.DataFrame({"yield_kg": milk, "interval_h": reported.fillna(gaps)}, index=index)


def daily_milk(table: pd.DataFrame, *, tz: str = "UTC") -> pd.DataFrame:
    """Per local day: ``milkings``, ``yield_kg`` (harvested that day) and ``yield_24h`` (24-h equivalent = yield of the
    day's milkings with a known interval ÷ the sum of their intervals * 24: a cow milked 2 or 3 times a day, or
    whose last milking slips past midnight, gets a comparable daily figure)."""
    local = pd.DatetimeIndex(table.index).tz_convert(tz).tz_localize(None).normalize()
    known = table["interval_h"].notna() & (table["interval_h"] > 0)
    frame = pd.DataFrame(
        {
            "milkings": np.ones(len(table)),
            "yield_kg": table["yield_kg"].to_numpy(),
            "known_yield": table["yield_kg"].where(known, 0.0).to_numpy(),
            "known_h": table["interval_h"].where(known, 0.0).to_numpy(),
        },
        index=local,
    )
    per_day = frame.groupby(level=0).sum()
    days = pd.date_range(per_day.index.min(), per_day.index.max(), freq="D", name="day")
    per_day = per_day.reindex(days, fill_value=0.0)
    yield_24h = (per_day["known_yield"] / per_day["known_h"] * 24.0).where(per_day["known_h"] > 0)
    return pd.DataFrame(
        {"milkings": per_day["milkings"], "yield_kg": per_day["yield_kg"], "yield_24h": yield_24h}, index=days
    )


def cow_daily(
    readings: pd.DataFrame,
    *,
    tz: str = "UTC",
    flagged: pd.Series[bool] | None = None,
    window: int = 7,
    min_days: int = 3,
    span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """Daily milk (see :func:`daily_milk`) and rumination (min/day), each with the cow's rolling baseline (median of
    the last ``window`` unflagged complete days) and percent of baseline. Visit frequency is ``milkings`` per day.

    ``hours`` and ``complete`` say how much of each day the data cover (``span`` when given, else first to last
    reading). Partial days stay out of every baseline; their milkings and rumination get NaN ``*_pct_baseline`` (a day
    in progress is not a drop), while ``yield_24h``, a rate, stays comparable.
    """
    out = daily_milk(milking_table(readings), tz=tz)
    rumination = daily_sum(clean_series(metric_series(readings, "rumination")), tz)
    out["rumination_min"] = rumination.reindex(out.index) if not rumination.empty else np.nan
    start, end = span if span is not None else data_span(readings)
    days = pd.DatetimeIndex(out.index)
    out["hours"] = hours_covered(days, start, end, tz)
    out["complete"] = out["hours"] >= day_length_h(days, tz) - 1e-9
    excluded = ~out["complete"]
    if flagged is not None:
        excluded |= flagged.reindex(days, fill_value=False).astype(bool)
    for col in ("yield_24h", "milkings", "rumination_min"):
        base = rolling_baseline(out[col], window=window, min_days=min_days, flagged=excluded)
        out[f"{col}_baseline"] = base
        valid = (base > 0) if col == "yield_24h" else (base > 0) & out["complete"]
        out[f"{col}_pct_baseline"] = (100.0 * out[col] / base).where(valid)
    return out


def lactation_points(daily: pd.DataFrame, calving: pd.Timestamp) -> tuple[FloatArray, FloatArray]:
    """(days in milk, daily yield) from :func:`daily_milk` output; the calving day is DIM 0 and is left out.

    ``calving`` is a local date (tz-naive midnight, like the index of ``daily``). Days without a 24-h equivalent are
    skipped.
    """
    dim = np.asarray((pd.DatetimeIndex(daily.index) - calving.normalize()).days, dtype=np.float64)
    milk = daily["yield_24h"].to_numpy(dtype=np.float64)
    keep = (dim >= 1) & np.isfinite(milk)
    return dim[keep], milk[keep]
