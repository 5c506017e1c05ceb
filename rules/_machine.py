"""Persistence and hysteresis over a sequence of points: when a condition is confirmed, and when it is over.

A run opens when the condition holds on ``min_points`` consecutive points spanning at least ``hold`` (no hole
longer than ``max_gap`` inside); it is *confirmed* then (the alert's start). It closes only when the *clear*
condition (a stricter one: the hysteresis band) holds on ``clear_points`` consecutive points spanning
``clear_hold``; the run ends at the first of those points. A point that is neither in condition nor clear (inside
the band) keeps an open run open, and a hole in the data never closes a run: silence is not recovery.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class Run:
    """Indices into the points: first in condition, confirmation, and the end (first clear point; None: open)."""

    onset: int
    confirm: int
    end: int | None


def runs(
    times: Sequence[datetime],
    active: Sequence[bool],
    clear: Sequence[bool],
    *,
    hold: timedelta = timedelta(0),
    min_points: int = 1,
    clear_hold: timedelta = timedelta(0),
    clear_points: int = 1,
    max_gap: timedelta | None = None,
    keep: Sequence[bool] | None = None,
    instant: Sequence[bool] | None = None,
    spell_hold: timedelta | None = None,
    spell_points: int = 3,
) -> list[Run]:
    """The runs of ``active`` over points at ``times`` (sorted), with persistence and hysteresis.

    ``keep`` marks points inside the hysteresis band: they neither count towards confirmation nor break a run
    that is forming (a 58, 63, 55 sequence is one low spell, not two). ``instant`` marks points that confirm a run
    without waiting for ``hold`` once ``min_points`` are in condition (an early warning). With ``spell_hold``, a
    spell that opened on a point in condition and has had no clear point since (band points only) is confirmed once
    it spans ``spell_hold`` on ``spell_points`` points: 55, 63, 65, 66 every 15 min is a low that never recovered.
    """
    out: list[Run] = []
    start: int | None = None
    count = 0
    spell = 0  # points of the forming run, band points included
    confirmed: int | None = None
    clear_start: int | None = None
    clear_count = 0
    for i, t in enumerate(times):
        gap_broken = max_gap is not None and i > 0 and t - times[i - 1] > max_gap
        if confirmed is None:
            if active[i]:
                if start is None or gap_broken:
                    start, count, spell = i, 1, 1
                else:
                    count, spell = count + 1, spell + 1
                if count >= min_points and (t - times[start] >= hold or (instant is not None and instant[i])):
                    confirmed = i
            elif keep is not None and keep[i] and start is not None and not gap_broken:
                spell += 1
            else:
                start, count, spell = None, 0, 0
            if (
                confirmed is None
                and start is not None
                and spell_hold is not None
                and spell >= spell_points
                and t - times[start] >= spell_hold
            ):
                confirmed = i
            if confirmed is not None:
                clear_start, clear_count = None, 0
            continue
        if clear[i]:
            if clear_start is None or gap_broken:
                clear_start, clear_count = i, 1
            else:
                clear_count += 1
            if clear_count >= clear_points and t - times[clear_start] >= clear_hold:
                out.append(Run(start if start is not None else confirmed, confirmed, clear_start))
                confirmed, start, count = None, None, 0
                clear_start, clear_count = None, 0
        else:
            clear_start, clear_count = None, 0
    if confirmed is not None and start is not None:
        out.append(Run(start, confirmed, None))
    return out
