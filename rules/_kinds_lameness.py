"""Lameness screen for a cow on a milking robot: her activity falls and one of the robot's signs goes with it.

Domain §3/§6.3: lame cows visit the robot less, give less milk and milk more slowly (AMS visit study; Italian AMS
[S]), each judged against the cow's own history (Pastell & Kujala: per-cow charts [S]). The simulator's lameness
also lowers the collar's activity, as pedometers see in lame cows [D/U]; activity alone is steady day to day (3 %
noise on a daily sum), while the robot's signs alone are noisy (a cow has 2-3 visits a day), so the rule asks for
the activity drop *and* at least one robot sign, on a 3-day mean against the cow's own baseline.

Pure, like the other kinds: readings of one cow, the rule, ``now`` → episodes.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from rules._kinds_pet import device_of, end_of, episode, series, with_device
from rules._machine import runs
from rules._model import AnimalContext, Episode, Rule
from rules._text import num

# the robot's signs: (metric, daily aggregate, parameter, direction)
_SIGNS = (
    ("milk_yield", "count", "visits_pct", "below"),
    ("milk_yield", "sum", "yield_pct", "below"),
    ("milking_duration", "mean", "duration_pct", "above"),
)
_WORDS = {
    "visits_pct": ("visites au robot", "robot visits"),
    "yield_pct": ("lait", "milk"),
    "duration_pct": ("durée de traite", "milking time"),
}


def _daily(s: pd.Series[float], how: str, days: pd.DatetimeIndex) -> pd.Series[float]:
    if s.empty:
        return pd.Series(np.nan, index=days, dtype="float64")
    grouped = s.groupby(pd.DatetimeIndex(s.index).floor("D"))
    out: pd.Series[float] = getattr(grouped, how)()
    return out.reindex(days).astype("float64")


def _ratio(daily: pd.Series[float], mean_days: int, lag: int, baseline_days: int, min_days: int) -> pd.Series[float]:
    """The mean of the last ``mean_days`` days over the median of ``baseline_days`` days ending ``lag`` days
    earlier (the cow's own usual value, before the change being measured)."""
    recent = daily.rolling(mean_days, min_periods=mean_days).mean()
    base = daily.shift(lag).rolling(baseline_days, min_periods=min_days).median()
    return (recent / base).where(base > 0)


def lameness(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Activity ≤ ``activity_pct`` % of the cow's baseline (3-day mean) with ≥ ``min_signs`` robot signs (visits ≤
    ``visits_pct`` %, yield ≤ ``yield_pct`` %, milking duration ≥ ``duration_pct`` %), on ``days`` days in a row;
    clears when activity is back ≥ ``clear_pct`` %."""
    act = series(frame, "activity")
    if len(act) < 48:
        return []
    now_ts = pd.Timestamp(now)
    first = pd.Timestamp(act.index[0]).ceil("D")
    last = now_ts.floor("D") - pd.Timedelta(days=1)  # complete days only
    if last < first:
        return []
    days = pd.date_range(first, last, freq="D")
    hours = act.groupby(pd.DatetimeIndex(act.index).floor("D")).count().reindex(days).fillna(0)
    activity = _daily(act, "sum", days).where(hours >= rule.num("min_hours", 20))
    mean_days, lag = int(rule.num("mean_days", 3)), int(rule.num("lag_days", 3))
    base_days, min_days = int(rule.num("baseline_days", 7)), int(rule.num("min_baseline_days", 4))
    ratios: dict[str, pd.Series[float]] = {"activity_pct": _ratio(activity, mean_days, lag, base_days, min_days)}
    for metric, how, param, _ in _SIGNS:
        ratios[param] = _ratio(_daily(series(frame, metric), how, days), mean_days, lag, base_days, min_days)
    act_ratio = ratios["activity_pct"].to_numpy(dtype=np.float64)
    signs = np.zeros(len(days), dtype=np.int64)
    for _, _, param, direction in _SIGNS:
        ratio = ratios[param].to_numpy(dtype=np.float64)
        limit = rule.num(param) / 100.0
        signs += (ratio <= limit if direction == "below" else ratio >= limit).astype(np.int64)
    valid = np.isfinite(act_ratio)
    active = valid & (act_ratio <= rule.num("activity_pct") / 100.0) & (signs >= int(rule.num("min_signs", 1)))
    cleared = valid & (act_ratio >= rule.num("clear_pct") / 100.0)
    times = [(d + pd.Timedelta(days=1)).to_pydatetime() for d in days]
    out = []
    found = runs(
        times,
        [bool(x) for x in active],
        [bool(x) for x in cleared],
        min_points=int(rule.num("days", 2)),
        max_gap=timedelta(days=1),
    )
    for r in found:
        i = r.confirm
        pct = {
            k: (None if not np.isfinite(v.iloc[i]) else round(100.0 * float(v.iloc[i]), 1)) for k, v in ratios.items()
        }
        evidence: dict[str, Any] = {
            "pct_of_baseline": pct,
            "activity_threshold_pct": rule.num("activity_pct"),
            "window": [(times[r.onset] - timedelta(days=mean_days)).isoformat(), times[i].isoformat()],
        }
        fr, en = _explain(rule, pct)
        onset = times[r.onset] - timedelta(days=1)
        ep = episode(rule, rule.severity, onset, times[i], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, "milk_yield") or device_of(frame, "activity")))
    return out


def _explain(rule: Rule, pct: dict[str, float | None]) -> tuple[str, str]:
    fr_parts, en_parts = [], []
    for _, _, param, direction in _SIGNS:
        value = pct.get(param)
        if value is None:
            continue
        limit = rule.num(param)
        if (direction == "below" and value <= limit) or (direction == "above" and value >= limit):
            word_fr, word_en = _WORDS[param]
            fr_parts.append(f"{word_fr} {num(value, 'fr')} %")
            en_parts.append(f"{word_en} {num(value, 'en')} %")
    activity = pct.get("activity_pct") or 0.0
    fr = (
        f"Activité à {num(activity, 'fr')} % de ses habitudes sur 3 jours, avec "
        + ", ".join(fr_parts)
        + " de ses habitudes : boiterie possible."
    )
    en = (
        f"Activity at {num(activity, 'en')} % of her usual level over 3 days, with "
        + ", ".join(en_parts)
        + " of usual: possible lameness."
    )
    return fr, en
