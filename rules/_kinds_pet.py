"""Rule kinds on glucose (dogs and cats): thresholds held, mean over days, insulin-curve findings, silence, jumps.

Every function is pure: a readings frame of one animal (``time`` UTC, ``metric``, ``value``, ``device_id``), the
rule, and the evaluation time ``now``; it returns the episodes of the rule's condition up to ``now``.
"""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import numpy.typing as npt
import pandas as pd

from rules._machine import runs
from rules._model import SEVERITY_RANK, AnimalContext, Episode, Rule
from rules._text import glucose_both, num, when


def series(frame: pd.DataFrame, metric: str) -> pd.Series[float]:
    """One metric's values indexed by time (sorted, duplicated instants averaged)."""
    rows = frame[frame["metric"] == metric]
    s = pd.Series(rows["value"].to_numpy(dtype="float64"), index=pd.DatetimeIndex(rows["time"]), dtype="float64")
    s = s[s.notna()].sort_index(kind="stable")
    if s.index.has_duplicates:
        s = s.groupby(level=0).mean()
    return s


def device_of(frame: pd.DataFrame, metric: str) -> str | None:
    """The device that reported ``metric`` last."""
    rows = frame[frame["metric"] == metric]
    if rows.empty:
        return None
    value = rows["device_id"].iloc[-1]
    return str(value) if isinstance(value, str) else None


def py(t: Any) -> datetime:
    """A pandas timestamp as a tz-aware datetime."""
    return pd.Timestamp(t).to_pydatetime()


def _samples(s: pd.Series[float], start: Any, end: Any, limit: int = 24) -> list[list[Any]]:
    part = s[(s.index >= start) & (s.index <= end)]
    if len(part) > limit:
        part = part.iloc[:: max(1, len(part) // limit)]
    return [[pd.Timestamp(t).isoformat(), round(float(v), 2)] for t, v in part.items()]


def threshold(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Value below/above ``threshold`` for ``hold_min`` (≥ ``min_points`` readings), cleared past ``clear``."""
    metric = rule.text("metric")
    s = series(frame, metric)
    if s.empty:
        return []
    below = rule.text("op", "below") == "below"
    thr, clear = rule.num("threshold"), rule.num("clear", rule.num("threshold"))
    values = s.to_numpy()
    active = values < thr if below else values > thr
    predicted = _predicted(s, rule) if below and "predict_min" in rule.params else np.zeros(len(values), dtype=bool)
    active = active | predicted
    cleared = values > clear if below else values < clear
    times = [py(t) for t in s.index]
    found = runs(
        times,
        list(active),
        list(cleared),
        hold=timedelta(minutes=rule.num("hold_min", 0)),
        min_points=int(rule.num("min_points", 1)),
        clear_hold=timedelta(minutes=rule.num("clear_hold_min", 0)),
        clear_points=int(rule.num("clear_points", 1)),
        max_gap=timedelta(minutes=rule.num("max_gap_min", 60)),
        keep=[not c for c in cleared],
        instant=_sustained(
            times,
            predicted,
            timedelta(minutes=rule.num("predict_hold_min", 0)),
            _night(s.index, rule),
            timedelta(minutes=rule.num("predict_night_hold_min", rule.num("predict_hold_min", 0))),
        ),
        spell_hold=timedelta(minutes=rule.num("spell_hold_min")) if "spell_hold_min" in rule.params else None,
        spell_points=int(rule.num("spell_points", 3)),
    )
    out = []
    for r in found:
        last = r.end - 1 if r.end is not None else len(values) - 1
        part = values[r.onset : last + 1]
        extreme = float(part.min() if below else part.max())
        severity = rule.severity
        urgent = rule.params.get("urgent_below")
        if urgent is not None and below and extreme < float(urgent):
            severity = "urgent"
        held = (times[last] - times[r.onset]).total_seconds() / 60.0
        early = bool(predicted[r.confirm]) and not bool(values[r.confirm] < thr)
        word_fr, word_en = ("minimum", "lowest") if below else ("maximum", "highest")
        cmp_ = "<" if below else ">"
        evidence = {
            "metric": metric,
            "op": "below" if below else "above",
            "threshold": thr,
            "clear": clear,
            "hold_min": rule.num("hold_min", 0),
            "extreme": extreme,
            "n": int(last - r.onset + 1),
            "held_min": round(held),
            "window": [times[r.onset].isoformat(), times[last].isoformat()],
            "values": _samples(s, s.index[r.onset], s.index[last]),
            "predicted": early,
        }
        g = metric == "glucose"
        ext_fr = glucose_both(extreme, "fr") if g else num(extreme, "fr", 1)
        ext_en = glucose_both(extreme, "en") if g else num(extreme, "en", 1)
        thr_fr = glucose_both(thr, "fr") if g else num(thr, "fr", 1)
        thr_en = glucose_both(thr, "en") if g else num(thr, "en", 1)
        fr = (
            f"{metric} {cmp_} {thr_fr} pendant {round(held)} min depuis {when(times[r.onset])} ; "
            f"{word_fr} {ext_fr} ({r.confirm - r.onset + 1} mesures consécutives)."
        )
        en = (
            f"{metric} {cmp_} {thr_en} for {round(held)} min since {when(times[r.onset])}; "
            f"{word_en} {ext_en} ({r.confirm - r.onset + 1} consecutive readings)."
        )
        if early:
            fr += " Alerte précoce : chute rapide, le seuil sera probablement franchi sous peu."
            en += " Early warning: falling fast, the threshold will probably be crossed shortly."
        if g and below:
            fr += " Valeur de capteur CGM : à confirmer au glucomètre."
            en += " CGM sensor value: confirm with a glucometer."
        out.append(_episode(rule, severity, times[r.onset], times[r.confirm], _end(times, r.end), evidence, fr, en))
        out[-1] = _with_device(out[-1], device_of(frame, metric))
    return out


def _sustained(
    times: list[datetime],
    flags: npt.NDArray[np.bool_],
    hold: timedelta,
    night: npt.NDArray[np.bool_] | None = None,
    night_hold: timedelta | None = None,
) -> list[bool]:
    """Points of ``flags`` whose streak of flagged points has lasted ``hold`` (a projection that holds, not one noisy
    slope); ``night_hold`` instead at the points of ``night``."""
    out: list[bool] = []
    since: datetime | None = None
    for i, (t, flag) in enumerate(zip(times, flags, strict=True)):
        since = (since or t) if flag else None
        need = night_hold if night is not None and night_hold is not None and night[i] else hold
        out.append(bool(flag) and since is not None and t - since >= need)
    return out


def _predicted(s: pd.Series[float], rule: Rule) -> npt.NDArray[np.bool_]:
    """Points where glucose is under ``predict_below`` and falling so fast (least-squares slope over the last
    ``slope_min`` minutes ≤ ``predict_rate`` per min) that it projects under the threshold within ``predict_min``."""
    ns = pd.DatetimeIndex(s.index).as_unit("ns").asi8.astype(np.float64) / 60e9
    v = s.to_numpy(dtype=np.float64)
    out = np.zeros(v.size, dtype=bool)
    # the slope needs 3 readings: on a 15-min sensor the window widens to 31 min (2 steps and a minute of jitter)
    step = float(np.median(np.diff(ns))) if v.size > 1 else 0.0
    span = max(rule.num("slope_min", 15.0), 2 * step + 1.0)
    lo = 0
    for i in range(v.size):
        while ns[i] - ns[lo] > span:
            lo += 1
        if i - lo < 2 or v[i] >= rule.num("predict_below", 90.0):
            continue
        x, y = ns[lo : i + 1], v[lo : i + 1]
        if np.any(np.diff(y) / np.maximum(np.diff(x), 1e-9) < -rule.num("predict_max_step", 8.0)):
            continue  # a step no blood glucose makes (compression, sensor jump) is not a fall to project
        dx = x - x.mean()
        slope = float((dx * (y - y.mean())).sum() / (dx**2).sum())
        out[i] = slope <= rule.num("predict_rate", -2.0) and v[i] + slope * rule.num("predict_min") < rule.num(
            "threshold"
        )
    return out


def _night(index: pd.Index, rule: Rule) -> npt.NDArray[np.bool_]:
    """Readings inside the night rest (``predict_night_start_h``-``predict_night_end_h``, UTC hours; none without
    them): a fast fall then is most often a compression low (domain §6.1), so an early warning waits longer."""
    if "predict_night_start_h" not in rule.params:
        return np.zeros(len(index), dtype=bool)
    t = pd.DatetimeIndex(index)
    t = t.tz_convert("UTC") if t.tz is not None else t
    hour = (t.hour + t.minute / 60.0).to_numpy(dtype=np.float64)
    n0, n1 = rule.num("predict_night_start_h"), rule.num("predict_night_end_h")
    return np.asarray((hour >= n0) | (hour < n1) if n0 > n1 else (hour >= n0) & (hour < n1), dtype=bool)


def glucose_mean(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Mean glucose over the last ``days`` days above ``above`` (with enough data), evaluated every 6 h."""
    from analytics import GlucoseRange, cgm_summary  # noqa: PLC0415

    s = series(frame, "glucose")
    if len(s) < 10:
        return []
    span = pd.Timedelta(days=rule.num("days", 3))
    grid = pd.date_range(s.index[0] + span, pd.Timestamp(now), freq="6h")
    if len(grid) == 0:
        return []
    means: list[float] = []
    covers: list[float] = []
    for t in grid:
        part = s[(s.index > t - span) & (s.index <= t)]
        if len(part) < 2:
            means.append(float("nan"))
            covers.append(0.0)
            continue
        summary = cgm_summary(part, GlucoseRange(80.0, 250.0), window=(t - span, t))
        means.append(float(summary.mean))
        covers.append(float(summary.coverage or 0.0))
    above, clear, min_cov = rule.num("above"), rule.num("clear", rule.num("above")), rule.num("min_coverage", 0)
    active = [m > above and c >= min_cov for m, c in zip(means, covers, strict=True)]
    cleared = [m < clear for m in means]
    times = [py(t) for t in grid]
    out = []
    for r in runs(times, active, cleared):
        i = r.confirm
        evidence = {
            "metric": "glucose",
            "mean": round(means[i], 1),
            "coverage": round(covers[i], 1),
            "days": rule.num("days", 3),
            "threshold": above,
            "window": [(times[i] - span.to_pytimedelta()).isoformat(), times[i].isoformat()],
        }
        d = num(rule.num("days", 3), "en")
        fr = (
            f"Glycémie moyenne {glucose_both(means[i], 'fr')} sur {num(rule.num('days', 3), 'fr')} jours "
            f"(> {glucose_both(above, 'fr')}), couverture {num(covers[i], 'fr')} %."
        )
        en = (
            f"Mean glucose {glucose_both(means[i], 'en')} over {d} days (> {glucose_both(above, 'en')}), "
            f"coverage {num(covers[i], 'en')} %."
        )
        out.append(_episode(rule, rule.severity, times[r.onset], times[i], _end(times, r.end), evidence, fr, en))
    return out


_FLAG_TEXT = {
    "nadir_below_target": ("nadir trop bas", "nadir below target"),
    "nadir_above_target": ("nadir trop haut", "nadir above target"),
    "short_duration": ("durée d'action courte", "short duration of effect"),
    "somogyi_rebound": ("effet Somogyi possible", "possible Somogyi rebound"),
}


def glucose_curve(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """A flag of the insulin-cycle analysis (analytics.analyse_cycles) on ≥ ``min_cycles`` cycles in ``days`` days."""
    from analytics import CurveTargets, analyse_cycles  # noqa: PLC0415

    s = series(frame, "glucose")
    inj = series(frame, "insulin_dose")
    if len(s) < 10 or inj.empty:
        return []
    targets = CurveTargets(nadir_low=rule.num("nadir_low", 80.0), nadir_high=rule.num("nadir_high", 150.0))
    cycles = analyse_cycles(s, inj, targets)
    last_reading = s.index[-1]
    flag = rule.text("flag")
    done = [c for c in cycles if c.end < last_reading or (last_reading - c.injection) >= pd.Timedelta(hours=10)]
    if not done:
        return []
    window = pd.Timedelta(days=rule.num("days", 5))
    need = int(rule.num("min_cycles", 2))
    times = [py(c.end) for c in done]
    flagged = [flag in c.flags for c in done]
    counts = []
    for i, c in enumerate(done):
        counts.append(sum(1 for j in range(i + 1) if flagged[j] and c.end - done[j].injection <= window))
    active = [n >= need and f for n, f in zip(counts, flagged, strict=True)]
    cleared = [n < need for n in counts]
    out = []
    fr_flag, en_flag = _FLAG_TEXT.get(flag, (flag, flag))
    for r in runs(times, active, cleared):
        upto = r.end if r.end is not None else len(done)
        hits = [done[j] for j in range(upto) if flagged[j] and done[r.confirm].end - done[j].injection <= window]
        cyc = [
            {
                "injection": c.injection.isoformat(),
                "nadir": None if c.nadir is None else round(c.nadir, 1),
                "nadir_time": None if c.nadir_time is None else c.nadir_time.isoformat(),
                "pre_insulin": None if c.pre_insulin is None else round(c.pre_insulin, 1),
                "duration_h": None if c.duration_h is None else round(c.duration_h, 1),
                "coverage": None if c.coverage is None else round(c.coverage, 1),
            }
            for c in hits
        ]
        nadirs = [c.nadir for c in hits if c.nadir is not None]
        evidence = {"flag": flag, "cycles": cyc, "min_cycles": need, "days": rule.num("days", 5)}
        extra_fr = extra_en = ""
        if nadirs:
            evidence["lowest_nadir"] = round(min(nadirs), 1)
            extra_fr = f" ; nadir le plus bas {glucose_both(min(nadirs), 'fr')}"
            extra_en = f"; lowest nadir {glucose_both(min(nadirs), 'en')}"
        fr = f"{fr_flag} sur {len(hits)} cycles d'insuline en {num(rule.num('days', 5), 'fr')} jours{extra_fr}."
        en = f"{en_flag} on {len(hits)} insulin cycles within {num(rule.num('days', 5), 'en')} days{extra_en}."
        onset = py(hits[0].injection) if hits else times[r.onset]
        out.append(_episode(rule, rule.severity, onset, times[r.confirm], _end(times, r.end), evidence, fr, en))
    return out


def stale(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """No reading of ``metric`` for longer than the device's limit (streaming or scan/buffered)."""
    s = series(frame, rule.text("metric"))
    if len(s) < 2:
        return []
    step = pd.Timedelta(pd.Series(s.index).diff().median())
    streaming = bool(step <= pd.Timedelta(minutes=5))
    limit = pd.Timedelta(minutes=rule.num("streaming_max_min" if streaming else "scan_max_min"))
    stamps = list(s.index)
    ends: list[tuple[Any, Any | None]] = [(a, b) for a, b in itertools.pairwise(stamps) if b - a > limit]
    if pd.Timestamp(now) - stamps[-1] > limit:
        ends.append((stamps[-1], None))
    out = []
    for a, b in ends:
        hours = ((b if b is not None else pd.Timestamp(now)) - a) / pd.Timedelta(hours=1)
        evidence = {
            "metric": rule.text("metric"),
            "last_reading": a.isoformat(),
            "next_reading": None if b is None else b.isoformat(),
            "limit_min": limit / pd.Timedelta(minutes=1),
            "silent_h": round(hours, 1),
        }
        fr = f"Aucune donnée {rule.text('metric')} depuis {when(py(a))} ({num(hours, 'fr', 1)} h ; limite {num(limit / pd.Timedelta(hours=1), 'fr', 1)} h)."
        en = f"No {rule.text('metric')} data since {when(py(a))} ({num(hours, 'en', 1)} h; limit {num(limit / pd.Timedelta(hours=1), 'en', 1)} h)."
        ep = _episode(rule, rule.severity, py(a), py(a + limit), None if b is None else py(b), evidence, fr, en)
        out.append(_with_device(ep, device_of(frame, rule.text("metric"))))
    return out


def rate(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Physiologically implausible jumps (|Δ| / Δt > ``max_rate`` per min), ``min_events`` within ``window_min``."""
    s = series(frame, rule.text("metric"))
    if len(s) < 3:
        return []
    dt = pd.Series(s.index).diff().dt.total_seconds().to_numpy() / 60.0
    dv = s.diff().abs().to_numpy()
    ok = (dt > 0) & (dt <= rule.num("max_gap_min", 20))
    jump = ok & (dv / dt > rule.num("max_rate"))
    events = [s.index[i] for i in range(len(s)) if jump[i]]
    window = pd.Timedelta(minutes=rule.num("window_min", 120))
    need = int(rule.num("min_events", 2))
    out: list[Episode] = []
    i = 0
    while i < len(events):
        j = i
        while j + 1 < len(events) and events[j + 1] - events[j] <= window:
            j += 1
        if j - i + 1 >= need:
            first, confirm, last = events[i], events[i + need - 1], events[j]
            end = last + window
            evidence = {"metric": rule.text("metric"), "jumps": j - i + 1, "max_rate": rule.num("max_rate")}
            fr = f"{j - i + 1} sauts de mesure non physiologiques (> {num(rule.num('max_rate'), 'fr')} par min) depuis {when(py(first))}."
            en = f"{j - i + 1} non-physiological jumps (> {num(rule.num('max_rate'), 'en')} per min) since {when(py(first))}."
            ep = _episode(
                rule,
                rule.severity,
                py(first),
                py(confirm),
                None if end > pd.Timestamp(now) else py(end),
                evidence,
                fr,
                en,
            )
            out.append(_with_device(ep, device_of(frame, rule.text("metric"))))
        i = j + 1
    return out


def _end(times: list[datetime], end: int | None) -> datetime | None:
    return None if end is None else times[end]


def _episode(
    rule: Rule,
    severity: str,
    onset: datetime,
    start: datetime,
    end: datetime | None,
    evidence: dict[str, Any],
    fr: str,
    en: str,
) -> Episode:
    severity = max(severity, rule.severity, key=SEVERITY_RANK.__getitem__)
    evidence = {**evidence, "rule": rule.id, "source": rule.source, "basis": rule.basis}
    return Episode(rule.id, rule.category, severity, onset, start, end, evidence, fr, en)


def _with_device(ep: Episode, device: str | None) -> Episode:
    from dataclasses import replace  # noqa: PLC0415

    return replace(ep, device_id=device)


episode = _episode
with_device = _with_device
end_of = _end
