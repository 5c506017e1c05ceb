"""Rule kinds for horses (intake against their own baseline, silence at the feeder, flat-line scale) and dairy
cows (udder conductivity composite, yield against expectation with CUSUM, F:P ratio, visits, activity).

Pure functions like :mod:`rules._kinds_pet`: readings frame of one animal, rule, context, ``now`` → episodes.
"""

from __future__ import annotations

import itertools
import math
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rules._kinds_pet import device_of, end_of, episode, py, series, with_device
from rules._machine import runs
from rules._model import AnimalContext, Episode, Rule
from rules._text import num, when

_INTAKE_COLUMN = {"feed_intake": "forage_kg", "water_intake": "water_l"}
_QUARTERS = ("lf", "rf", "lr", "rr")
_QUARTER_FR = {"lf": "avant gauche", "rf": "avant droit", "lr": "arrière gauche", "rr": "arrière droit"}
_QUARTER_EN = {"lf": "left front", "rf": "right front", "lr": "left rear", "rr": "right rear"}


def _span(frame: pd.DataFrame, now: datetime) -> tuple[pd.Timestamp, pd.Timestamp]:
    return pd.Timestamp(frame["time"].min()), pd.Timestamp(now)


def rolling_drop(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Rolling ``hours``-h intake below ``review_pct`` % of the animal's baseline (analytics.daily_intake: median
    of its last 7 complete days before the window), every hour; URGENT below ``urgent_pct``."""
    from analytics import daily_intake  # noqa: PLC0415

    metric = rule.text("metric")
    s = series(frame, metric)
    if s.empty:
        return []
    start, end = _span(frame, now)
    daily = daily_intake(
        frame,
        tz="UTC",
        window=int(rule.num("baseline_days", 7)),
        min_days=int(rule.num("min_baseline_days", 3)),
        span=(start, end),
    )
    base = daily[f"{_INTAKE_COLUMN[metric]}_baseline"]
    width = pd.Timedelta(hours=rule.num("hours", 24))
    grid = pd.date_range(start.ceil("h") + width, end.floor("h"), freq="h")
    if len(grid) == 0:
        return []
    cum = s.cumsum()
    totals = []
    baselines = []
    for t in grid:
        upto = cum[cum.index <= t]
        before = cum[cum.index <= t - width]
        total = (float(upto.iloc[-1]) if len(upto) else 0.0) - (float(before.iloc[-1]) if len(before) else 0.0)
        day = (t - width).tz_convert("UTC").tz_localize(None).normalize()
        b = base.get(day, np.nan)
        totals.append(total)
        baselines.append(float(b) * width / pd.Timedelta(hours=24) if np.isfinite(b) else np.nan)
    pct = np.array([100.0 * t / b if b and np.isfinite(b) else np.nan for t, b in zip(totals, baselines, strict=True)])
    active = list(np.nan_to_num(pct, nan=np.inf) < rule.num("review_pct"))
    cleared = list(np.nan_to_num(pct, nan=np.inf) >= rule.num("clear_pct", rule.num("review_pct")))
    times = [py(t) for t in grid]
    out = []
    for r in runs(times, active, cleared, min_points=int(rule.num("min_points", 2))):
        last = r.end - 1 if r.end is not None else len(times) - 1
        low = float(np.nanmin(pct[r.onset : last + 1]))
        severity = "urgent" if low < rule.num("urgent_pct", 0) else rule.severity
        i = int(np.nanargmin(pct[r.onset : last + 1])) + r.onset
        evidence = {
            "metric": metric,
            "hours": rule.num("hours", 24),
            "intake": round(totals[i], 2),
            "baseline": round(baselines[i], 2),
            "pct_of_baseline": round(low, 1),
            "review_pct": rule.num("review_pct"),
            "urgent_pct": rule.num("urgent_pct", 0),
            "window": [(times[i] - width.to_pytimedelta()).isoformat(), times[i].isoformat()],
        }
        what_fr = "Consommation de foin" if metric == "feed_intake" else "Consommation d'eau"
        what_en = "Hay intake" if metric == "feed_intake" else "Water intake"
        unit = "kg" if metric == "feed_intake" else "L"
        fr = (
            f"{what_fr} sur 24 h : {num(totals[i], 'fr', 1)} {unit}, soit {num(low, 'fr')} % de sa référence "
            f"individuelle ({num(baselines[i], 'fr', 1)} {unit}, médiane des 7 jours précédents) ; seuil {num(rule.num('review_pct'), 'fr')} %."
        )
        en = (
            f"{what_en} over 24 h: {num(totals[i], 'en', 1)} {unit}, {num(low, 'en')} % of its own baseline "
            f"({num(baselines[i], 'en', 1)} {unit}, median of the previous 7 days); threshold {num(rule.num('review_pct'), 'en')} %."
        )
        ep = episode(rule, severity, times[r.onset], times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, metric)))
    return out


def no_event(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """No eating event for ``max_silence_h`` hours, night rest (``night_start_h``-``night_end_h``) not counted."""
    s = series(frame, rule.text("metric"))
    s = s[s >= rule.num("min_value", 0.0)]
    if len(s) < 2:
        return []
    limit = timedelta(hours=rule.num("max_silence_h"))
    n0, n1 = rule.num("night_start_h", 22), rule.num("night_end_h", 6)
    stamps = [py(t) for t in s.index]
    out = []
    for a, b in [*itertools.pairwise(stamps), (stamps[-1], None)]:
        stop = b if b is not None else now
        if stop - a <= limit:
            continue
        confirm = _daytime_reached(a, stop, limit, n0, n1)
        if confirm is None:
            continue
        hours = (stop - a).total_seconds() / 3600.0
        evidence = {"metric": rule.text("metric"), "last_meal": a.isoformat(), "silent_h": round(hours, 1)}
        fr = f"Aucune prise alimentaire depuis {when(a)} ({num(hours, 'fr', 1)} h, hors repos nocturne ≥ {num(rule.num('max_silence_h'), 'fr')} h)."
        en = f"No feeding since {when(a)} ({num(hours, 'en', 1)} h; ≥ {num(rule.num('max_silence_h'), 'en')} h outside the night rest)."
        ep = episode(rule, rule.severity, a, confirm, b, evidence, fr, en)
        out.append(with_device(ep, device_of(frame, rule.text("metric"))))
    return out


def _daytime_reached(a: datetime, stop: datetime, limit: timedelta, n0: float, n1: float) -> datetime | None:
    step = timedelta(minutes=10)
    counted = timedelta(0)
    t = a
    while t < stop:
        h = t.hour + t.minute / 60.0
        night = (h >= n0 or h < n1) if n0 > n1 else (n0 <= h < n1)
        if not night:
            counted += step
            if counted >= limit:
                return t + step
        t += step
    return None


def flatline(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """A scale stuck at zero: ``min_events`` visits in a row reading ~0 while the animal ate ≥ ``min_minutes``."""
    feed = series(frame, rule.text("metric"))
    eat = series(frame, rule.text("with_metric")).reindex(feed.index)
    if feed.empty:
        return []
    stuck = (feed < rule.num("zero_below")) & (eat >= rule.num("min_minutes"))
    times = [py(t) for t in feed.index]
    active = [bool(x) for x in stuck.to_numpy()]
    cleared = [bool(x) for x in (feed >= rule.num("zero_below")).to_numpy()]
    out = []
    for r in runs(times, active, cleared, min_points=int(rule.num("min_events", 3))):
        evidence = {
            "metric": rule.text("metric"),
            "visits": r.confirm - r.onset + 1,
            "since": times[r.onset].isoformat(),
        }
        fr = f"La balance de la mangeoire indique 0 kg à chaque visite depuis {when(times[r.onset])} alors que l'animal mange : panne probable."
        en = f"The feeder scale reads 0 kg at every visit since {when(times[r.onset])} while the animal is eating: likely fault."
        ep = episode(rule, rule.severity, times[r.onset], times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, rule.text("metric"))))
    return out


def udder(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Interquarter conductivity ratio ≥ ``review_ratio`` on ``consecutive`` milkings, or the composite: ratio ≥
    ``composite_ratio`` with the same quarter's share of the yield down ≥ ``yield_drop_pct`` % versus its last 14
    milkings. URGENT at ``urgent_ratio`` or with blood in the milk. Resolves after ``clear_milkings`` calm milkings."""
    from analytics import AnalyticsError, interquarter_ratio, quarter_conductivity  # noqa: PLC0415

    try:
        ec = quarter_conductivity(frame)
    except AnalyticsError:
        return []
    ratio = interquarter_ratio(ec)
    worst = ratio.max(axis=1)
    which = ratio.idxmax(axis=1)
    total = series(frame, "milk_yield")
    drops = {}
    for q in _QUARTERS:
        share = series(frame, f"milk_yield_{q}").reindex(ratio.index) / total.reindex(ratio.index)
        history = share.dropna().rolling(14, min_periods=5).mean().shift(1).reindex(ratio.index)
        drops[q] = 100.0 * (1.0 - share / history)
    drop = pd.DataFrame(drops).reindex(ratio.index)
    blood = series(frame, "milk_blood").reindex(ratio.index).fillna(0.0)
    w = worst.to_numpy(dtype=np.float64)
    d = np.array([drop.at[t, q] if isinstance(q, str) else np.nan for t, q in which.items()], dtype=np.float64)
    # the cow's own usual ratio (median of her previous milkings): some healthy udders sit at 1.10
    own = worst.rolling(int(rule.num("own_milkings", 28)), min_periods=6).median().shift(1).to_numpy(dtype=np.float64)
    own = np.where(np.isfinite(own), own, 1.0)
    risen = w >= own + rule.num("min_rise", 0.0)
    flag = risen & (
        (w >= rule.num("review_ratio"))
        | ((w >= rule.num("composite_ratio")) & (np.nan_to_num(d) >= rule.num("yield_drop_pct")))
    )
    calm = np.nan_to_num(w, nan=0.0) < np.maximum(rule.num("clear_ratio"), own + rule.num("clear_margin", 0.03))
    keep = ~np.isnan(w)
    times = [py(t) for t, k in zip(ratio.index, keep, strict=True) if k]
    w, d, flag, calm = w[keep], d[keep], flag[keep], calm[keep]
    quarters = [q for q, k in zip(which.to_numpy(), keep, strict=True) if k]
    bl = blood.to_numpy()[keep]
    out = []
    for r in runs(
        times,
        [bool(x) for x in flag],
        [bool(x) for x in calm],
        min_points=int(rule.num("consecutive", 2)),
        clear_points=int(rule.num("clear_milkings", 4)),
    ):
        last = r.end - 1 if r.end is not None else len(times) - 1
        i = int(np.argmax(w[r.onset : last + 1])) + r.onset
        urgent = w[i] >= rule.num("urgent_ratio") or bool(bl[r.onset : last + 1].max() > 0)
        q = str(quarters[i])
        evidence = {
            "quarter": q,
            "interquarter_ratio": round(float(w[i]), 3),
            "quarter_yield_drop_pct": None if np.isnan(d[i]) else round(float(d[i]), 1),
            "blood": bool(bl[r.onset : last + 1].max() > 0),
            "review_ratio": rule.num("review_ratio"),
            "urgent_ratio": rule.num("urgent_ratio"),
            "milkings": int(last - r.onset + 1),
            "window": [times[r.onset].isoformat(), times[last].isoformat()],
        }
        drop_fr = "" if np.isnan(d[i]) else f", production du quartier -{num(float(d[i]), 'fr')} %"
        drop_en = "" if np.isnan(d[i]) else f", quarter yield -{num(float(d[i]), 'en')} %"
        fr = (
            f"Conductivité du quartier {_QUARTER_FR[q]} {num(float(w[i]), 'fr', 2)} fois celle des deux quartiers les plus bas"
            f" (seuil {num(rule.num('review_ratio'), 'fr', 2)}) sur {r.confirm - r.onset + 1} traites consécutives{drop_fr}."
        )
        en = (
            f"Conductivity of the {_QUARTER_EN[q]} quarter {num(float(w[i]), 'en', 2)}x the mean of the two lowest quarters"
            f" (threshold {num(rule.num('review_ratio'), 'en', 2)}) on {r.confirm - r.onset + 1} consecutive milkings{drop_en}."
        )
        sev = "urgent" if urgent else rule.severity
        ep = episode(rule, sev, times[r.onset], times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, "milk_yield")))
    return out


def _day_stamp(frame: pd.DataFrame, days: pd.DatetimeIndex, metric: str, now: datetime) -> list[datetime]:
    """When each day's figure is known: the end of the day, or the last reading of a day still in progress."""
    s = series(frame, metric)
    out = []
    for day in days:
        start = pd.Timestamp(day).tz_localize("UTC")
        stop = min(start + pd.Timedelta(days=1), pd.Timestamp(now))
        part = s[(s.index >= start) & (s.index < stop)]
        out.append(py(part.index[-1] if len(part) and stop < start + pd.Timedelta(days=1) else stop))
    return out


def _day_start(days: pd.DatetimeIndex, i: int) -> datetime:
    """The start (UTC) of the i-th day: an episode's onset that does not move while that day is in progress (its
    figure is known at a later and later reading until the day ends), so the service sees one episode, not several."""
    return py(pd.Timestamp(days[i]).tz_localize("UTC"))


def _wood_forecast(
    daily: pd.DataFrame, calving: pd.Timestamp, expected: npt.NDArray[np.float64], *, min_days: int
) -> npt.NDArray[np.bool_]:
    """Replace ``expected[i]`` by the Wood curve fitted to the cow's days before day ``i`` (no look-ahead), where at
    least ``min_days`` earlier days fit a plausible curve; elsewhere the 7-day median stays. The closed-form
    log-linear fit is used (one small least-squares per day, so a herd's daily evaluation stays cheap). Returns
    which days were forecast by the curve."""
    from analytics import AnalyticsError, fit_wood_loglinear, lactation_points  # noqa: PLC0415

    used = np.zeros(len(daily), dtype=bool)
    dim_all, milk_all = lactation_points(daily, calving)
    if dim_all.size == 0:
        return used
    day_dim = np.asarray((pd.DatetimeIndex(daily.index) - calving).days, dtype=np.float64)
    for i in range(len(daily)):
        earlier = dim_all < day_dim[i]
        if int(earlier.sum()) < min_days or day_dim[i] < 1:
            continue
        try:
            fit = fit_wood_loglinear(dim_all[earlier], milk_all[earlier])
        except AnalyticsError:
            continue
        if not (-1.0 <= fit.b <= 3.0 and -0.1 <= fit.c <= 0.5):  # the bounds of analytics.fit_wood
            continue
        value = float(fit.expected(np.array([day_dim[i]]))[0])
        if math.isfinite(value) and value > 0:
            expected[i] = value
            used[i] = True
    return used


def yield_drop(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """24-h equivalent yield below ``review_pct`` % of expected (analytics.cow_daily's 7-day median, or a Wood fit of
    the earlier days when the calving date is known), or a lower CUSUM alarm on the standardised residuals."""
    from analytics import AnalyticsError, cow_daily, cusum  # noqa: PLC0415

    try:
        daily = cow_daily(frame, span=_span(frame, now))
    except AnalyticsError:
        return []
    y = daily["yield_24h"].to_numpy(dtype=np.float64)
    expected = daily["yield_24h_baseline"].to_numpy(dtype=np.float64, copy=True)  # written below
    wood_days = np.zeros(len(daily), dtype=bool)
    if ctx.calving is not None:
        calving = pd.Timestamp(ctx.calving).tz_convert("UTC").tz_localize(None).normalize()
        wood_days = _wood_forecast(daily, calving, expected, min_days=int(rule.num("wood_min_days", 10)))
    pct = 100.0 * y / expected
    resid = (y - expected) / expected
    known = np.isfinite(resid)
    if known.sum() < 3:
        return []
    sigma = max(float(np.nanstd(resid[known][:7])) if known.sum() >= 4 else 0.05, 0.03)
    chart = cusum(
        np.where(known, resid, np.nan), sigma=sigma, k=rule.num("cusum_k", 0.5), h=rule.num("cusum_h", 5), reset=False
    )
    alarm = chart.lower > rule.num("cusum_h", 5)
    low = np.nan_to_num(pct, nan=np.inf) < rule.num("review_pct")
    active = list(low | alarm)
    cleared = list((np.nan_to_num(pct, nan=0.0) >= rule.num("clear_pct")) & ~alarm)
    times = _day_stamp(frame, pd.DatetimeIndex(daily.index), "milk_yield", now)
    out = []
    for r in runs(times, active, cleared):
        last = r.end - 1 if r.end is not None else len(times) - 1
        seg = np.nan_to_num(pct[r.onset : last + 1], nan=np.inf)
        i = int(np.argmin(seg)) + r.onset
        severity = "urgent" if pct[i] < rule.num("urgent_pct") else rule.severity
        evidence = {
            "yield_24h": round(float(y[i]), 1),
            "expected": round(float(expected[i]), 1),
            "pct_of_expected": None if not np.isfinite(pct[i]) else round(float(pct[i]), 1),
            "cusum_lower": round(float(chart.lower[i]), 2),
            "cusum_h": rule.num("cusum_h", 5),
            "model": "wood" if wood_days[i] else "7-day median",
            "day": str(daily.index[i].date()),
        }
        fr = (
            f"Production sur 24 h {num(float(y[i]), 'fr', 1)} kg pour {num(float(expected[i]), 'fr', 1)} kg attendus "
            f"({num(float(pct[i]), 'fr')} %) ; CUSUM bas {num(float(chart.lower[i]), 'fr', 1)} (alarme > {num(rule.num('cusum_h', 5), 'fr')})."
        )
        en = (
            f"24-h yield {num(float(y[i]), 'en', 1)} kg against {num(float(expected[i]), 'en', 1)} kg expected "
            f"({num(float(pct[i]), 'en')} %); lower CUSUM {num(float(chart.lower[i]), 'en', 1)} (alarm > {num(rule.num('cusum_h', 5), 'en')})."
        )
        onset = _day_start(pd.DatetimeIndex(daily.index), r.onset)
        ep = episode(rule, severity, onset, times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, "milk_yield")))
    return out


def fp_ratio(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Fat:protein 5-day mean above ``above`` (analytics.fat_protein_ratio), at DIM ≤ ``max_dim`` when known."""
    from analytics import AnalyticsError, fat_protein_ratio  # noqa: PLC0415

    try:
        fp = fat_protein_ratio(frame)
    except AnalyticsError:
        return []
    mean = fp["fp_mean"].to_numpy(dtype=np.float64)
    ok = np.ones(len(fp), dtype=bool)
    if ctx.calving is not None:
        calving = pd.Timestamp(ctx.calving).tz_convert("UTC").tz_localize(None).normalize()
        dim = np.asarray((pd.DatetimeIndex(fp.index) - calving).days, dtype=np.float64)
        ok = dim <= rule.num("max_dim", 60)
    active = list((mean > rule.num("above")) & ok)
    cleared = list(mean < rule.num("clear", rule.num("above")))
    times = _day_stamp(frame, pd.DatetimeIndex(fp.index), "milk_fat", now)
    out = []
    for r in runs(times, active, cleared):
        last = r.end - 1 if r.end is not None else len(times) - 1
        i = int(np.argmax(mean[r.onset : last + 1])) + r.onset
        severity = "urgent" if mean[i] > rule.num("urgent_above", np.inf) else rule.severity
        evidence = {
            "fp_mean_5d": round(float(mean[i]), 3),
            "threshold": rule.num("above"),
            "day": str(fp.index[i].date()),
        }
        fr = f"Rapport TB/TP moyen sur 5 jours {num(float(mean[i]), 'fr', 2)} (seuil {num(rule.num('above'), 'fr', 2)}) : dépistage de cétose."
        en = f"5-day mean fat:protein ratio {num(float(mean[i]), 'en', 2)} (threshold {num(rule.num('above'), 'en', 2)}): ketosis screen."
        onset = _day_start(pd.DatetimeIndex(fp.index), r.onset)
        ep = episode(rule, severity, onset, times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, "milk_fat")))
    return out


def daily_baseline(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """A column of analytics.cow_daily below ``below_pct`` % of the cow's baseline for ``days`` complete days."""
    from analytics import AnalyticsError, cow_daily  # noqa: PLC0415

    try:
        daily = cow_daily(frame, span=_span(frame, now))
    except AnalyticsError:
        return []
    col = rule.text("column")
    pct = daily[f"{col}_pct_baseline"].to_numpy(dtype=np.float64)
    complete = daily["complete"].to_numpy(dtype=bool)
    keep = complete & np.isfinite(pct)
    days = pd.DatetimeIndex(daily.index)[keep]
    pct = pct[keep]
    times = [py(pd.Timestamp(d).tz_localize("UTC") + pd.Timedelta(days=1)) for d in days]
    out = []
    for r in runs(
        times,
        list(pct < rule.num("below_pct")),
        list(pct >= rule.num("clear_pct")),
        min_points=int(rule.num("days", 3)),
        max_gap=timedelta(days=1),
    ):
        last = r.end - 1 if r.end is not None else len(times) - 1
        seg = pct[r.onset : last + 1]
        evidence = {
            "column": col,
            "pct_of_baseline": [round(float(x), 1) for x in seg],
            "threshold": rule.num("below_pct"),
        }
        fr = f"Fréquentation du robot à {num(float(seg.min()), 'fr')} % de sa référence sur {len(seg)} jours (seuil {num(rule.num('below_pct'), 'fr')} %)."
        en = f"Robot visits at {num(float(seg.min()), 'en')} % of her baseline over {len(seg)} days (threshold {num(rule.num('below_pct'), 'en')} %)."
        onset = times[r.onset] - timedelta(days=1)
        ep = episode(rule, rule.severity, onset, times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, "milk_yield")))
    return out


def activity(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Hourly activity ≥ ``ratio`` x the cow's usual activity at that hour (median of the same hour over the last
    ``baseline_days`` days) for ≥ ``hold_h`` hours."""
    s = series(frame, rule.text("metric"))
    if len(s) < 48:
        return []
    hourly = s.resample("h").sum(min_count=1)
    values = hourly.to_numpy(dtype=np.float64)
    n_days = int(rule.num("baseline_days", 7))
    base = np.full(values.size, np.nan)
    for i in range(values.size):
        prev = values[[i - 24 * k for k in range(1, n_days + 1) if i - 24 * k >= 0]]
        prev = prev[np.isfinite(prev)]
        if prev.size >= 3:
            base[i] = float(np.median(prev))
    ratio = values / base
    active = list(np.nan_to_num(ratio, nan=0.0) >= rule.num("ratio"))
    cleared = list(np.nan_to_num(ratio, nan=0.0) < rule.num("clear_ratio", 1.5))
    times = [py(t) for t in hourly.index]
    hold = timedelta(hours=max(rule.num("hold_h", 2) - 1, 0))
    out = []
    for r in runs(times, active, cleared, hold=hold, min_points=2, clear_points=2, max_gap=timedelta(hours=1)):
        last = r.end - 1 if r.end is not None else len(times) - 1
        peak = float(np.nanmax(ratio[r.onset : last + 1]))
        evidence = {"peak_ratio": round(peak, 2), "threshold": rule.num("ratio"), "since": times[r.onset].isoformat()}
        fr = f"Activité {num(peak, 'fr', 1)} fois l'habitude (seuil {num(rule.num('ratio'), 'fr', 1)}) depuis {when(times[r.onset])} : chaleur probable."
        en = f"Activity {num(peak, 'en', 1)}x usual (threshold {num(rule.num('ratio'), 'en', 1)}) since {when(times[r.onset])}: likely heat."
        ep = episode(rule, rule.severity, times[r.onset], times[r.confirm], end_of(times, r.end), evidence, fr, en)
        out.append(with_device(ep, device_of(frame, rule.text("metric"))))
    return out


KINDS: dict[str, Any] = {
    "rolling_drop": rolling_drop,
    "no_event": no_event,
    "flatline": flatline,
    "udder": udder,
    "yield": yield_drop,
    "fp_ratio": fp_ratio,
    "daily_baseline": daily_baseline,
    "activity": activity,
}
