"""Crafted readings frames for the rule tests."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd

from rules._config import EffectiveRules, RuleSet, load_rules
from rules._model import AnimalContext

T0 = datetime(2026, 11, 1, tzinfo=UTC)
RULES_DIR = Path(__file__).resolve().parents[2] / "config" / "rules"


def ruleset() -> RuleSet:
    return load_rules(RULES_DIR)


def only(species: str, *ids: str, **params: object) -> EffectiveRules:
    """The default rules of ``species`` restricted to ``ids``; ``params`` override every kept rule."""
    rules = ruleset().for_animal(species, animal=dict.fromkeys(ids, params))
    return EffectiveRules(tuple(r for r in rules.rules if r.id in ids))


def frame(metric: str, times: Sequence[datetime], values: Sequence[float], device: str = "dev-1") -> pd.DataFrame:
    return pd.DataFrame(
        {
            "time": pd.to_datetime(list(times), utc=True),
            "device_id": device,
            "animal_id": "a1",
            "metric": metric,
            "value": [float(v) for v in values],
        }
    )


def every(start: datetime, step_min: float, n: int) -> list[datetime]:
    return [start + timedelta(minutes=step_min * i) for i in range(n)]


def ctx(species: str = "dog") -> AnimalContext:
    return AnimalContext("a1", species, "c1")
