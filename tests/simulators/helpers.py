"""Small scenarios and helpers shared by the simulator tests."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from simulators._engine import Engine
from simulators._readings import CODE, Readings
from simulators._scenario import parse_scenario
from simulators._time import DAY_S

# a fixed "now" (2026-11-23T00:00:00Z): timelines end here in tests that do not publish
END = 1_795_392_000.0


def scenario_raw(
    animals: list[dict[str, Any]], devices: list[dict[str, Any]], anomalies: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """A one-clinic scenario as parsed TOML."""
    return {
        "clinics": [{"id": "c1"}],
        "owners": [{"id": "o1", "clinic": "c1"}],
        "animals": [{"clinic": "c1", **a} for a in animals],
        "devices": devices,
        "anomalies": anomalies or [],
    }


def engine(raw: dict[str, Any], *, days: float, seed: int = 1, end: float = END) -> Engine:
    """An engine over ``days`` ending at ``end``."""
    return Engine(parse_scenario(copy.deepcopy(raw), name="test"), seed=seed, start=end - days * DAY_S, end=end)


def measured(raw: dict[str, Any], *, days: float, seed: int = 1, end: float = END) -> tuple[Engine, Readings]:
    """Engine and every reading of the timeline."""
    e = engine(raw, days=days, seed=seed, end=end)
    return e, e.measured(e.fleet.start, e.fleet.end)


def series(r: Readings, metric: str, animal: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """(times, values) of one metric (and animal), sorted by time."""
    sel = r.metric == CODE[metric]
    if animal is not None:
        sel &= r.animal == animal
    order = np.argsort(r.t[sel], kind="stable")
    return r.t[sel][order].astype(float), r.value[sel][order]


def daily_sums(t: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Sum of values per UTC day (complete days only in the caller's window)."""
    days = np.floor(t / DAY_S).astype(int)
    uniq = np.unique(days)
    return np.array([v[days == d].sum() for d in uniq])
