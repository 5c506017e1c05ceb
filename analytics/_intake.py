"""Horses: daily intake with the horse's own baseline, intake as a share of body weight, eating time and rate,
and the meal pattern compared with the horse's usual hours (domain.md §2 and §6.2).

Inputs are readings frames (columns ``time``, ``metric``, ``value``) in canonical units: ``feed_intake`` and
``concentrate_intake`` kg per feeder visit, ``water_intake`` L per visit, ``eating_time`` min per bout, ``body_weight``
kg. Days are local calendar days in ``tz``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics._baseline import rolling_baseline
from analytics._errors import NoDataError
from analytics._series import clean_series, daily_sum, data_span, day_length_h, hours_covered, metric_series

INTAKE_METRICS = {
    "forage_kg": "feed_intake",
    "concentrate_kg": "concentrate_intake",
    "water_l": "water_intake",
    "eating_min": "eating_time",
}


def daily_intake(
    readings: pd.DataFrame,
    *,
    tz: str = "UTC",
    flagged: pd.Series[bool] | None = None,
    window: int = 7,
    min_days: int = 3,
    span: tuple[pd.Timestamp, pd.Timestamp] | None = None,
) -> pd.DataFrame:
    """One row per calendar day from the first to the last reading (days without a visit count as zero intake).

    Columns: ``forage_kg``, ``concentrate_kg``, ``water_l``, ``eating_min`` (sums of the day); ``eating_rate_kg_h``
    (forage ÷ eating hours, NaN without eating time); ``body_weight_kg`` (last weighing so far, the first one before
    it); ``intake_pct_bw`` ((forage + concentrate) ÷ body weight * 100, as fed); for forage, concentrate, water and
    rate a ``*_baseline`` (median of the last ``window`` unflagged days) and ``*_pct_baseline`` (today ÷ baseline *
    100). ``flagged`` marks days (index = local midnight) to leave out of baselines.

    ``hours`` is how much of each day the data cover: ``span`` (the ``[start, end)`` that was loaded) when given, else
    the first to the last reading. ``complete`` days are fully covered. A partial day (the first and last days of a
    recording or window, "today so far") never enters a baseline and gets NaN ``*_pct_baseline``: its totals would
    read as a fall in intake. Prorate with ``hours`` to judge a day in progress.
    """
    sums = {col: daily_sum(clean_series(metric_series(readings, m)), tz) for col, m in INTAKE_METRICS.items()}
    present = [s for s in sums.values() if not s.empty]
    if not present:
        raise NoDataError("no intake reading (feed_intake, concentrate_intake, water_intake, eating_time)")
    first = min(s.index.min() for s in present)
    last = max(s.index.max() for s in present)
    if span is not None:
        first = min(first, span[0].tz_convert(tz).tz_localize(None).normalize())
        last = max(last, (span[1] - pd.Timedelta(1, unit="ns")).tz_convert(tz).tz_localize(None).normalize())
    days = pd.date_range(first, last, freq="D", name="day")
    out = pd.DataFrame({col: s.reindex(days, fill_value=0.0) for col, s in sums.items()}, index=days)
    start, end = span if span is not None else data_span(readings)
    out["hours"] = hours_covered(days, start, end, tz)
    out["complete"] = out["hours"] >= day_length_h(days, tz) - 1e-9
    hours = out["eating_min"] / 60.0
    out["eating_rate_kg_h"] = (out["forage_kg"] / hours).where(hours > 0)

    weight = clean_series(metric_series(readings, "body_weight"))
    if weight.empty:
        out["body_weight_kg"] = np.nan
    else:
        local = weight.copy()
        local.index = pd.DatetimeIndex(weight.index).tz_convert(tz).tz_localize(None).normalize()
        per_day = local.groupby(level=0).last()
        out["body_weight_kg"] = (
            per_day.reindex(days.union(pd.DatetimeIndex(per_day.index))).ffill().bfill().reindex(days)
        )
    out["intake_pct_bw"] = 100.0 * (out["forage_kg"] + out["concentrate_kg"]) / out["body_weight_kg"]

    excluded = ~out["complete"]
    if flagged is not None:
        excluded |= flagged.reindex(days, fill_value=False).astype(bool)
    for col in ("forage_kg", "concentrate_kg", "water_l", "eating_rate_kg_h"):
        base = rolling_baseline(out[col], window=window, min_days=min_days, flagged=excluded)
        out[f"{col}_baseline"] = base
        out[f"{col}_pct_baseline"] = (100.0 * out[col] / base).where((base > 0) & out["complete"])
    return out


def hourly_profile(readings: pd.DataFrame, *, metric: str = "feed_intake", tz: str = "UTC") -> pd.DataFrame:
    """Intake per local day (rows) and hour of day 0-23 (columns), zero where nothing was eaten."""
    series = clean_series(metric_series(readings, metric))
    if series.empty:
        raise NoDataError(f"no {metric} reading")
    local = pd.DatetimeIndex(series.index).tz_convert(tz).tz_localize(None)
    frame = pd.DataFrame({"day": local.normalize(), "hour": local.hour, "value": series.to_numpy()})
    table = frame.pivot_table(index="day", columns="hour", values="value", aggfunc="sum", fill_value=0.0)
    days = pd.date_range(table.index.min(), table.index.max(), freq="D", name="day")
    return table.reindex(index=days, columns=range(24), fill_value=0.0).astype("float64")


def meal_pattern(
    profile: pd.DataFrame, *, window: int = 7, min_days: int = 3, usual_share: float = 0.02
) -> pd.DataFrame:
    """Each day's eating hours compared with the horse's usual hours over the previous ``window`` days.

    Columns: ``pattern_distance`` (0 = same hourly distribution as usual, 1 = eaten only at hours never used; half the
    L1 distance between the two distributions); ``pct_in_usual_hours`` (share of the day's intake eaten in usual
    hours, i.e. hours holding ≥ ``usual_share`` of the usual intake); ``longest_fast_usual_h`` (longest run of
    consecutive usual hours without intake, the "no consumption for ≥ 6 h in the usual eating hours" test of
    domain.md §6.2). NaN until ``min_days`` earlier days exist.
    """
    totals = profile.sum(axis=1)
    shares = profile.div(totals.where(totals > 0), axis=0)
    rows: list[dict[str, float]] = []
    for i in range(len(profile)):
        past = shares.iloc[max(0, i - window) : i].dropna()
        if len(past) < min_days:
            rows.append({"pattern_distance": np.nan, "pct_in_usual_hours": np.nan, "longest_fast_usual_h": np.nan})
            continue
        usual_dist = past.mean(axis=0).to_numpy(dtype=np.float64)
        usual = usual_dist >= usual_share
        today = profile.iloc[i].to_numpy(dtype=np.float64)
        total = float(today.sum())
        dist = 0.5 * float(np.abs(today / total - usual_dist).sum()) if total > 0 else 1.0
        in_usual = 100.0 * float(today[usual].sum()) / total if total > 0 else 0.0
        rows.append(
            {
                "pattern_distance": dist,
                "pct_in_usual_hours": in_usual,
                "longest_fast_usual_h": float(_longest_run(usual & (today <= 0))),
            }
        )
    return pd.DataFrame(rows, index=profile.index)


def _longest_run(mask: np.ndarray[tuple[int], np.dtype[np.bool_]]) -> int:
    best = run = 0
    for m in mask:
        run = run + 1 if m else 0
        best = max(best, run)
    return best
