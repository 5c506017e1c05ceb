"""The rule engine: evaluate an animal's rules over a window of its readings, as of ``now`` (injectable clock).

Pure: no I/O. The service (:mod:`rules._service`) and the backtest (:mod:`rules._backtest`) both call
:func:`evaluate`; the episodes it returns are deterministic functions of the readings up to ``now``, so late or
out-of-order data only change the result of the next evaluation, and re-evaluating the same rows gives the same
episodes (which is what makes the service idempotent).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pandas as pd

from rules import _kinds_farm, _kinds_lameness, _kinds_pet
from rules._config import EffectiveRules
from rules._kinds_pet import device_of, episode, py, series, with_device
from rules._model import AnimalContext, Episode, Rule
from rules._text import when

logger = logging.getLogger(__name__)

Kind = Callable[[pd.DataFrame, Rule, AnimalContext, datetime], list[Episode]]


def compression(frame: pd.DataFrame, rule: Rule, ctx: AnimalContext, now: datetime) -> list[Episode]:
    """Possible compression artefacts (analytics.compression_lows): INFO, a device matter, not a hypoglycaemia."""
    from analytics import CompressionRule, compression_lows  # noqa: PLC0415

    s = series(frame, "glucose")
    if len(s) < 5:
        return []
    out = []
    for bottom in compression_lows(s, CompressionRule()):
        t = py(bottom)
        evidence = {"bottom": t.isoformat(), "value": round(float(s.get(bottom, float("nan"))), 1)}
        fr = f"Chute brève et réversible de la glycémie du capteur à {when(t)} : artefact de compression possible."
        en = f"Brief reversible dip of the sensor glucose at {when(t)}: possible compression artefact."
        end = min(t + pd.Timedelta(minutes=60).to_pytimedelta(), now)
        ep = episode(rule, rule.severity, t, t, end if end < now else None, evidence, fr, en)
        out.append(with_device(ep, device_of(frame, "glucose")))
    return out


KINDS: dict[str, Kind] = {
    "threshold": _kinds_pet.threshold,
    "glucose_mean": _kinds_pet.glucose_mean,
    "glucose_curve": _kinds_pet.glucose_curve,
    "stale": _kinds_pet.stale,
    "rate": _kinds_pet.rate,
    "compression": compression,
    "lameness": _kinds_lameness.lameness,
    **_kinds_farm.KINDS,
}


def evaluate(frame: pd.DataFrame, ctx: AnimalContext, rules: EffectiveRules, now: datetime) -> list[Episode]:
    """Every episode of every rule of ``rules`` over the readings of ``frame`` up to ``now``, sorted by start.

    ``frame`` has the columns ``time`` (tz-aware UTC), ``device_id``, ``animal_id``, ``metric``, ``value``; rows after
    ``now`` are ignored. A rule that fails on odd data is logged and skipped: one rule never stops the others.
    """
    if frame.empty:
        return []
    frame = frame[frame["time"] <= pd.Timestamp(now)]
    out: list[Episode] = []
    for rule in rules.rules:
        kind = KINDS[rule.kind]
        try:
            out.extend(kind(frame, rule, ctx, now))
        except Exception:  # the per-rule boundary: a bug in one kind must not hide the other alerts
            logger.exception("rule %s failed on animal %s", rule.id, ctx.animal_id)
    out.sort(key=lambda e: (e.start, e.rule_id))
    return out


def describe(ep: Episode) -> dict[str, Any]:
    """An episode as the backtest prints it."""
    return {
        "rule": ep.rule_id,
        "category": ep.category,
        "severity": ep.severity,
        "start": ep.start.isoformat(),
        "end": None if ep.end is None else ep.end.isoformat(),
    }
