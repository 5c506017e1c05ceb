"""Glucose-curve analysis per insulin cycle (injection → next injection), as a vet reads a blood-glucose curve.

For each cycle: pre-insulin value, nadir and time to nadir, peak, duration of effect, and flags. Definitions and
defaults come from domain.md §1.2, §1.3 and §6.1:

- **duration of effect** (Cook): from the injection until glucose is back at ≥ 80 % of the pre-insulin value after
  the nadir; *censored* when it is still below at the end of the cycle.
- **short duration**: effect over before 8 h in a q12h cycle (before 18 h in a q24h cycle).
- **nadir below / above target**: nadir < 80 mg/dL / > 150 mg/dL.
- **Somogyi-like rebound**: nadir < 65 mg/dL followed within 12 h by > 400 mg/dL, or a fall of more than 50 % within
  3 h of the injection followed within 12 h by > 300 mg/dL.
- **possible compression artefact**: the cycle holds a sudden dip that comes back within the hour (see
  :mod:`analytics._artefacts`); ``nadir_excl_artefacts`` is then the nadir without those readings.
- **no effect**: glucose never fell below 80 % of the pre-insulin value (missed dose, resistance).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from analytics._artefacts import CompressionRule, artefact_mask
from analytics._cgm import coverage_pct
from analytics._series import (
    NS_PER_H,
    NS_PER_MIN,
    BoolArray,
    FloatArray,
    IntArray,
    clean_series,
    median_interval_min,
    ns_of,
    values_of,
)
from analytics._units import to_glucose_unit

NADIR_LOW = "nadir_below_target"
NADIR_HIGH = "nadir_above_target"
SHORT_DURATION = "short_duration"
SOMOGYI = "somogyi_rebound"
COMPRESSION = "compression_artefact"
NO_EFFECT = "no_effect"


@dataclass(frozen=True, slots=True)
class CurveTargets:
    """Thresholds of the curve analysis (mg/dL, hours, minutes); defaults from domain.md §6.1."""

    nadir_low: float = 80.0
    nadir_high: float = 150.0
    effect_fraction: float = 0.8
    short_q12_h: float = 8.0
    short_q24_h: float = 18.0
    somogyi_nadir: float = 65.0
    somogyi_peak: float = 400.0
    somogyi_fast_fall: float = 0.5
    somogyi_fast_peak: float = 300.0
    somogyi_window_h: float = 12.0
    pre_before_min: float = 30.0
    pre_after_min: float = 15.0
    max_cycle_h: float = 26.0
    compression: CompressionRule = field(default_factory=CompressionRule)


@dataclass(frozen=True, slots=True)
class CycleAnalysis:
    """One insulin cycle. Glucose in mg/dL, times tz-aware, durations in hours."""

    injection: pd.Timestamp
    end: pd.Timestamp
    dose: float | None
    n: int
    pre_insulin: float | None
    nadir: float | None
    nadir_time: pd.Timestamp | None
    time_to_nadir_h: float | None
    peak: float | None
    peak_time: pd.Timestamp | None
    duration_h: float | None
    duration_censored: bool
    mean: float | None
    nadir_excl_artefacts: float | None = None
    coverage: float | None = None
    flags: tuple[str, ...] = field(default=())

    def to_dict(self, unit: str = "mg/dL") -> dict[str, Any]:
        """Plain JSON-able values, glucose in ``unit``."""

        def g(v: float | None) -> float | None:
            return None if v is None else to_glucose_unit(v, unit)

        def t(v: pd.Timestamp | None) -> str | None:
            return None if v is None else v.isoformat()

        return {
            "injection": self.injection.isoformat(),
            "end": self.end.isoformat(),
            "dose": self.dose,
            "n": self.n,
            "pre_insulin": g(self.pre_insulin),
            "nadir": g(self.nadir),
            "nadir_time": t(self.nadir_time),
            "time_to_nadir_h": self.time_to_nadir_h,
            "peak": g(self.peak),
            "peak_time": t(self.peak_time),
            "duration_h": self.duration_h,
            "duration_censored": self.duration_censored,
            "mean": g(self.mean),
            "nadir_excl_artefacts": g(self.nadir_excl_artefacts),
            "coverage": self.coverage,
            "flags": list(self.flags),
        }


def analyse_cycles(
    glucose: pd.Series[float],
    injections: pd.Series[float],
    targets: CurveTargets = CurveTargets(),
) -> list[CycleAnalysis]:
    """One :class:`CycleAnalysis` per injection, in time order.

    ``glucose`` (mg/dL) and ``injections`` (dose in U; the value may be NaN when unknown) are indexed by time. A cycle
    runs from an injection to the next one; the last cycle ends at the last reading, at most ``max_cycle_h`` after.
    """
    series = clean_series(glucose)
    doses = injections.sort_index(kind="stable")
    doses = doses[~doses.index.duplicated(keep="last")]
    ns = ns_of(series.index)
    v = values_of(series)
    inj_ns = ns_of(doses.index)
    compression = artefact_mask(ns, v, targets.compression)
    step = median_interval_min(pd.DatetimeIndex(series.index))
    tz = series.index.tz if isinstance(series.index, pd.DatetimeIndex) and series.index.tz else "UTC"
    out: list[CycleAnalysis] = []
    max_cycle = int(targets.max_cycle_h * NS_PER_H)
    for k, start in enumerate(inj_ns):
        last = k + 1 == inj_ns.size
        if not last:
            end = int(inj_ns[k + 1])
        else:  # the last cycle ends at the last reading (inclusive), at most max_cycle_h after the injection
            end = int(min(ns[-1], start + max_cycle)) if ns.size and ns[-1] >= start else int(start)
        dose_value = float(doses.iloc[k])
        out.append(
            _analyse_one(
                ns,
                v,
                compression,
                (int(start), end, last),
                step,
                None if np.isnan(dose_value) else dose_value,
                targets,
                str(tz),
            )
        )
    return out


def _ts(ns: int, tz: str) -> pd.Timestamp:
    return pd.Timestamp(ns, tz="UTC").tz_convert(tz)


def _analyse_one(
    ns: IntArray,
    v: FloatArray,
    compression: BoolArray,
    span: tuple[int, int, bool],
    step: float | None,
    dose: float | None,
    targets: CurveTargets,
    tz: str,
) -> CycleAnalysis:
    start, end, inclusive = span
    lo = int(np.searchsorted(ns, start, side="left"))
    hi = int(np.searchsorted(ns, end, side="right" if inclusive else "left"))
    pre = _pre_insulin(ns, v, start, lo, targets)
    cycle_h = (end - start) / NS_PER_H
    if hi <= lo:
        return CycleAnalysis(
            _ts(start, tz),
            _ts(end, tz),
            dose,
            0,
            pre,
            None,
            None,
            None,
            None,
            None,
            None,
            duration_censored=False,
            mean=None,
        )
    seg = v[lo:hi]
    seg_ns = ns[lo:hi]
    i_min = int(np.argmin(seg))
    i_max = int(np.argmax(seg))
    nadir = float(seg[i_min])
    flags: list[str] = []
    if nadir < targets.nadir_low:
        flags.append(NADIR_LOW)
    if nadir > targets.nadir_high:
        flags.append(NADIR_HIGH)

    duration_h: float | None = None
    censored = False
    if pre is not None:
        threshold = targets.effect_fraction * pre
        if nadir >= threshold:
            duration_h = 0.0
            flags.append(NO_EFFECT)
        else:
            back = np.flatnonzero(seg[i_min:] >= threshold)
            if back.size:
                duration_h = (int(seg_ns[i_min + int(back[0])]) - start) / NS_PER_H
            else:
                duration_h = (end - start) / NS_PER_H
                censored = True
            short = targets.short_q12_h if cycle_h <= 16.0 else targets.short_q24_h
            if not censored and duration_h < short:
                flags.append(SHORT_DURATION)

    if _somogyi(ns, v, start, lo, lo + i_min, pre, targets):
        flags.append(SOMOGYI)
    artefacts = compression[lo:hi]
    clean = seg[~artefacts]
    if artefacts.any():
        flags.append(COMPRESSION)
    return CycleAnalysis(
        injection=_ts(start, tz),
        end=_ts(end, tz),
        dose=dose,
        n=int(seg.size),
        pre_insulin=pre,
        nadir=nadir,
        nadir_time=_ts(int(seg_ns[i_min]), tz),
        time_to_nadir_h=(int(seg_ns[i_min]) - start) / NS_PER_H,
        peak=float(seg[i_max]),
        peak_time=_ts(int(seg_ns[i_max]), tz),
        duration_h=duration_h,
        duration_censored=censored,
        mean=float(seg.mean()),
        nadir_excl_artefacts=float(clean.min()) if clean.size else None,
        coverage=_cycle_coverage(seg_ns, start, end, step),
        flags=tuple(flags),
    )


def _cycle_coverage(seg_ns: IntArray, start: int, end: int, step: float | None) -> float | None:
    """Percent of the expected readings of the cycle that are present (None without a sampling interval)."""
    if step is None or end <= start:
        return None
    minutes = np.asarray((seg_ns - start) / NS_PER_MIN, dtype=np.float64)
    return coverage_pct(minutes, step, pd.Timestamp(end, tz="UTC"), pd.Timestamp(start, tz="UTC"), windowed=True)


def _pre_insulin(ns: IntArray, v: FloatArray, start: int, lo: int, targets: CurveTargets) -> float | None:
    """Last reading in the 30 min before the injection, else the first in the 15 min after (at the injection counts)."""
    if lo < ns.size and ns[lo] == start:
        return float(v[lo])
    if lo > 0 and ns[lo - 1] >= start - targets.pre_before_min * NS_PER_MIN:
        return float(v[lo - 1])
    if lo < ns.size and ns[lo] <= start + targets.pre_after_min * NS_PER_MIN:
        return float(v[lo])
    return None


def _somogyi(
    ns: IntArray, v: FloatArray, start: int, lo: int, i_nadir: int, pre: float | None, targets: CurveTargets
) -> bool:
    window = int(targets.somogyi_window_h * NS_PER_H)
    if v[i_nadir] < targets.somogyi_nadir:
        hi = int(np.searchsorted(ns, ns[i_nadir] + window, side="right"))
        if hi > i_nadir + 1 and float(v[i_nadir + 1 : hi].max()) > targets.somogyi_peak:
            return True
    if pre is None:
        return False
    fast = int(np.searchsorted(ns, start + 3 * NS_PER_H, side="right"))
    if fast <= lo:
        return False
    i_low = lo + int(np.argmin(v[lo:fast]))
    if v[i_low] >= (1.0 - targets.somogyi_fast_fall) * pre:
        return False
    hi = int(np.searchsorted(ns, ns[i_low] + window, side="right"))
    return hi > i_low + 1 and float(v[i_low + 1 : hi].max()) > targets.somogyi_fast_peak
