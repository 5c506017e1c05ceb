"""Possible CGM compression artefacts: a sudden narrow dip while the animal lies on the sensor.

The shape combines domain.md §1.6, §6.1 and §7.1. The sources are human; in animals this is uncertain [U].

- **Fast fall from a steady level**: glucose falls by at least ``min_drop`` (30 %) of the pre-drop value, from the
  highest reading of the previous ``lookback_min`` (20 min, or two sampling steps if longer), at more than ``rate`` (2 mg/dL/min). The pre-drop
  reading must not itself be part of a fall: nothing in the ``lookback_min`` before it is more than
  ``steady_tolerance`` (10 %) above it. This keeps a fast insulin-driven fall (Somogyi-like) from passing as an
  artefact when it is caught mid-descent.
- **Quick return**: glucose comes back to at least ``recovery_fraction`` (80 %) of the pre-drop value, having stayed
  below it for at most ``max_low_min`` (60 min: a hold of 10-40 min plus a recovery of 10-20 min, §7.1).
- **Optional depth**: with ``low`` set, the bottom must be under it (the §6.1 rule adds "nadir < 70 mg/dL"; by
  default any depth counts, since a shallow artefact still distorts the curve).

A true hypoglycaemia falls more slowly and does not bounce back within the hour; isolated noise is not a 30 % fall.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from analytics._series import NS_PER_MIN, FloatArray, IntArray, clean_series, ns_of, values_of


@dataclass(frozen=True, slots=True)
class CompressionRule:
    """Thresholds of the compression-artefact shape."""

    rate: float = 2.0
    min_drop: float = 0.3
    lookback_min: float = 20.0
    recovery_fraction: float = 0.8
    max_low_min: float = 60.0
    steady_tolerance: float = 0.1
    low: float | None = None


@dataclass(frozen=True, slots=True)
class Episode:
    """One possible artefact: indices into the cleaned series, from the pre-drop peak to the first recovered reading."""

    start: int
    bottom: int
    end: int


def find_episodes(ns: IntArray, v: FloatArray, rule: CompressionRule) -> list[Episode]:
    """Episodes in sorted, de-duplicated readings (``ns`` nanoseconds, ``v`` mg/dL)."""
    if v.size < 3:
        return []
    # at least two sampling steps back, so that 15-minute stored history still sees the pre-drop level
    step = int(np.median(np.diff(ns)))
    back = max(int(rule.lookback_min * NS_PER_MIN), 2 * step)
    index = pd.DatetimeIndex(ns, tz="UTC")
    recent_max = pd.Series(v, index=index).rolling(pd.Timedelta(back, unit="ns"), closed="both").max().to_numpy()
    candidates = np.flatnonzero(v <= (1.0 - rule.min_drop) * recent_max)
    episodes: list[Episode] = []
    after = -1
    for i in (int(c) for c in candidates):
        if i <= after:
            continue
        lo = int(np.searchsorted(ns, ns[i] - back, side="left"))
        j = lo + int(np.argmax(v[lo : i + 1]))
        pre = float(v[j])
        minutes = (ns[i] - ns[j]) / NS_PER_MIN
        if minutes <= 0 or (pre - v[i]) / minutes <= rule.rate:
            continue
        before = int(np.searchsorted(ns, ns[j] - back, side="left"))
        if before < j and float(v[before:j].max()) > (1.0 + rule.steady_tolerance) * pre:
            continue
        level = rule.recovery_fraction * pre
        first_low = j + int(np.argmax(v[j : i + 1] < level))
        back_up = np.flatnonzero(v[i:] >= level)
        if back_up.size == 0:
            continue
        k = i + int(back_up[0])
        if (ns[k] - ns[first_low]) / NS_PER_MIN > rule.max_low_min:
            continue
        bottom = i + int(np.argmin(v[i:k]))
        if rule.low is not None and v[bottom] >= rule.low:
            continue
        episodes.append(Episode(j, bottom, k))
        after = k
    return episodes


def compression_lows(glucose: pd.Series[float], rule: CompressionRule | None = None) -> list[pd.Timestamp]:
    """Times of the bottoms of possible compression artefacts in a glucose series (mg/dL, indexed by time)."""
    series = clean_series(glucose)
    ns = ns_of(series.index)
    found = find_episodes(ns, values_of(series), rule or CompressionRule())
    tz = getattr(series.index, "tz", None) or "UTC"
    return [pd.Timestamp(int(ns[e.bottom]), tz="UTC").tz_convert(tz) for e in found]


def artefact_mask(ns: IntArray, v: FloatArray, rule: CompressionRule) -> np.ndarray[tuple[int], np.dtype[np.bool_]]:
    """True for the readings inside a possible artefact (below the recovery level, between the fall and the return)."""
    mask = np.zeros(v.size, dtype=bool)
    for e in find_episodes(ns, v, rule):
        level = rule.recovery_fraction * v[e.start]
        mask[e.start : e.end] = v[e.start : e.end] < level
    return mask
