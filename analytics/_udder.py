"""Udder health and ketosis screening from the robot's per-milking data (domain.md §3.3 and §6.3).

- **Interquarter ratio** (Mollenhorst, van der Tol, Hogeveen, JDS 2010): a quarter's conductivity ÷ the mean of the
  two lowest quarters at the same milking; healthy quarters move in parallel, an infected one diverges.
- **Change versus the cow's history**: a quarter's conductivity versus the mean of its previous 14 milkings
  (+15 % is the REVIEW default, Se 40-54 %, Sp 85-92 %).
- **Fat:protein ratio** per milking, per day, its 5-day mean and trend (King 2019; Can Vet J cut-off 1.42).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from analytics._errors import NoDataError
from analytics._series import clean_series, metric_series

QUARTERS = ("lf", "rf", "lr", "rr")


def quarter_conductivity(readings: pd.DataFrame) -> pd.DataFrame:
    """One row per milking (time), one column per quarter (lf, rf, lr, rr), mS/cm; NaN where a quarter is missing."""
    cols = {q: clean_series(metric_series(readings, f"conductivity_{q}")) for q in QUARTERS}
    if all(s.empty for s in cols.values()):
        raise NoDataError("no quarter conductivity reading (conductivity_lf/rf/lr/rr)")
    return pd.DataFrame(cols).sort_index()


def interquarter_ratio(ec: pd.DataFrame) -> pd.DataFrame:
    """Each quarter's conductivity ÷ the mean of the two lowest quarters of the same milking.

    With three quarters measured the two lowest of those three are used; with fewer than two the row is NaN.
    """
    values = ec.loc[:, list(QUARTERS)].to_numpy(dtype=np.float64)
    ordered = np.sort(values, axis=1)  # NaN sort last
    reference = ordered[:, :2].mean(axis=1)  # NaN when fewer than two quarters
    return pd.DataFrame(values / reference[:, None], index=ec.index, columns=list(QUARTERS))


def change_vs_history(ec: pd.DataFrame, *, milkings: int = 14, min_milkings: int = 5) -> pd.DataFrame:
    """Percent change of each quarter versus the mean of its previous ``milkings`` milkings (NaN until
    ``min_milkings`` earlier values exist; a missing value is skipped, not counted as zero)."""
    out = {}
    for q in QUARTERS:
        col = ec[q]
        history = col.dropna().rolling(milkings, min_periods=min_milkings).mean().shift(1)
        out[q] = 100.0 * (col / history.reindex(col.index) - 1.0)
    return pd.DataFrame(out, index=ec.index)


def fat_protein_ratio(readings: pd.DataFrame, *, tz: str = "UTC", days: int = 5) -> pd.DataFrame:
    """Fat:protein ratio per local day: ``fp`` (mean of the day's milkings), ``fp_mean`` (mean of the last ``days``
    days with a value, today included) and ``fp_slope`` (least-squares slope over those days, ratio units per day)."""
    fat = clean_series(metric_series(readings, "milk_fat"))
    protein = clean_series(metric_series(readings, "milk_protein"))
    both = pd.concat({"fat": fat, "protein": protein}, axis=1).dropna()
    both = both[both["protein"] > 0]
    if both.empty:
        raise NoDataError("no milking with both milk_fat and milk_protein")
    ratio = both["fat"] / both["protein"]
    ratio.index = pd.DatetimeIndex(ratio.index).tz_convert(tz).tz_localize(None).normalize()
    daily = ratio.groupby(level=0).mean()
    fp_mean = daily.rolling(days, min_periods=1).mean()
    day_number = pd.Series((daily.index - daily.index[0]).days.astype(np.float64), index=daily.index)
    slopes = [
        _slope(day_number.iloc[max(0, i - days + 1) : i + 1], daily.iloc[max(0, i - days + 1) : i + 1])
        for i in range(len(daily))
    ]
    index = pd.DatetimeIndex(daily.index, name="day")
    return pd.DataFrame({"fp": daily.to_numpy(), "fp_mean": fp_mean.to_numpy(), "fp_slope": slopes}, index=index)


def _slope(x: pd.Series[float], y: pd.Series[float]) -> float:
    if len(x) < 2:
        return float("nan")
    xs = x.to_numpy(dtype=np.float64)
    ys = y.to_numpy(dtype=np.float64)
    dx = xs - xs.mean()
    return float((dx * (ys - ys.mean())).sum() / (dx**2).sum())
