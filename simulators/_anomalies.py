"""Labelled anomaly recipes (shared/reference/domain.md §7): the catalogue, parameter drawing, envelopes, labels.

Each recipe names the alert ``category`` it should raise; the simulators apply its effect. Parameters not given in
the scenario are drawn from the documented ranges with the scenario seed.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simulators._scenario import AnomalySpec
from simulators._time import DAY_S, HOUR_S, MINUTE_S, parse_moment, rfc3339_one
from simulators.errors import ScenarioError

Range = tuple[float, float]
PETS = ("dog", "cat")
INTRINSIC = ("somogyi_rebound", "compression_artifact")  # their parameters give their length
EQUINES = ("horse", "pony", "donkey")
COWS = ("cow",)


@dataclass(frozen=True, slots=True)
class Recipe:
    """What a recipe is, which alert category it should raise, and its parameter ranges (uniform draws)."""

    name: str
    category: str
    species: tuple[str, ...]
    default_duration_s: Range | None
    ranges: dict[str, Range] = field(default_factory=dict)
    choices: dict[str, tuple[str, ...]] = field(default_factory=dict)
    claim: str = ""


def _h(lo: float, hi: float | None = None) -> Range:
    return (lo * HOUR_S, (hi if hi is not None else lo) * HOUR_S)


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        # CGM on diabetic dogs and cats (§7.1)
        Recipe("hypoglycaemia", "hypoglycemia", PETS, _h(1.5, 2.5), {"nadir": (38, 55)}, claim="glucose < 60 mg/dL"),
        Recipe(
            "somogyi_rebound",
            "glycemic_control",
            PETS,
            None,
            {"nadir": (40, 60), "peak": (420, 600), "rebound_h": (12, 48)},
            claim="nadir < 65 then 400-800 mg/dL for 12-72 h",
        ),
        Recipe(
            "short_duration", "insulin_duration", PETS, _h(48, 72), {"factor": (0.35, 0.45)}, claim="> 250 before 8 h"
        ),
        Recipe(
            "insulin_resistance",
            "hyperglycemia",
            PETS,
            _h(48, 72),
            {"efficacy": (0.1, 0.25), "rise": (90, 150)},
            claim="flat > 300 mg/dL all day",
        ),
        Recipe(
            "inappetence",
            "feed_intake_drop",
            PETS,
            _h(12, 24),
            {"eaten": (0.0, 0.2), "fasting_drop": (40, 70)},
            claim="meals skipped, full insulin dose: lower glucose",
        ),
        Recipe("missed_dose", "hyperglycemia", PETS, _h(12), claim="no injection, no post-injection fall"),
        Recipe("double_dose", "hypoglycemia", PETS, _h(12), claim="injection doubled: deep nadir"),
        Recipe("stress_day", "hyperglycemia", PETS, _h(2, 6), {"rise": (100, 300)}, claim="+100-300 mg/dL"),
        Recipe(
            "compression_artifact",
            "device_fault",
            PETS,
            None,
            {"depth": (0.3, 0.6), "fall_min": (10, 20), "hold_min": (10, 40), "recover_min": (10, 20)},
            claim="sensor reads 30-60 % low for 10-40 min, truth unchanged",
        ),
        Recipe("sensor_dropout", "data_gap", PETS, _h(3, 8), claim="no readings"),
        Recipe("sensor_detach", "device_fault", PETS, _h(6, 36), claim="the sensor falls off: no readings"),
        Recipe(
            "dka_prodrome",
            "hyperglycemia",
            PETS,
            _h(24, 48),
            {"rise": (200, 300), "eaten": (0.0, 0.3)},
            claim="> 400 mg/dL with anorexia",
        ),
        Recipe(
            "remission_onset",
            "glycemic_control",
            ("cat",),
            _h(30 * 24, 60 * 24),
            {"gain": (0.5, 1.0), "drop": (60, 120)},
            claim="endogenous insulin rises: repeated lows at a stable dose",
        ),
        # horses, ponies and donkeys at a feeder (§7.2)
        Recipe(
            "colic_acute",
            "feed_intake_drop",
            EQUINES,
            _h(6, 24),
            {"level": (0.0, 0.25), "onset_h": (1, 2), "water": (0.3, 0.6)},
            claim="intake 0-25 % of normal within 1-2 h, water down",
        ),
        Recipe(
            "illness_gradual",
            "feed_intake_drop",
            EQUINES,
            _h(96, 120),
            {"drop": (0.2, 0.4), "ramp_d": (2, 3)},
            claim="intake -20 to -40 % over 2-3 d",
        ),
        Recipe(
            "dental",
            "feed_intake_drop",
            EQUINES,
            _h(120, 168),
            {"rate_drop": (0.25, 0.35), "total_drop": (0.0, 0.1)},
            claim="eating rate -30 %, total -0 to -10 %",
        ),
        Recipe(
            "hyperlipaemia_risk",
            "feed_intake_drop",
            ("pony", "donkey"),
            _h(30, 48),
            {"level": (0.45, 0.55)},
            claim="intake -50 % for >= 24 h",
        ),
        Recipe("water_freeze", "water_intake_drop", EQUINES, _h(24, 48), {"level": (0.55, 0.65)}, claim="water -40 %"),
        Recipe(
            "diet_change",
            "feed_intake_drop",
            EQUINES,
            _h(72, 120),
            {"drop": (0.1, 0.2)},
            claim="new hay batch: transient intake -10 to -20 %",
        ),
        Recipe("feeder_fault", "device_fault", EQUINES, _h(6, 24), claim="flat-line scale: intake reads 0"),
        # dairy cows on a milking robot (§7.3)
        Recipe(
            "mastitis_clinical",
            "mastitis",
            COWS,
            _h(96, 168),
            {"ec_rise": (0.2, 0.6), "quarter_drop": (0.2, 0.5), "cow_drop": (0.05, 0.15), "scc": (1500, 5000)},
            {"quarter": ("lf", "rf", "lr", "rr")},
            claim="quarter EC +20-60 %, quarter yield -20-50 %, SCC > 1000, blood flags",
        ),
        Recipe(
            "mastitis_subclinical",
            "mastitis",
            COWS,
            _h(14 * 24, 21 * 24),
            {"ec_rise": (0.10, 0.15), "cow_drop": (0.02, 0.05), "scc": (200, 1000)},
            {"quarter": ("lf", "rf", "lr", "rr")},
            claim="quarter EC +10-15 %, SCC 200-1000",
        ),
        Recipe(
            "ketosis",
            "ketosis",
            COWS,
            _h(5 * 24, 7 * 24),
            {
                "fp": (1.45, 1.7),
                "yield_drop": (0.05, 0.15),
                "rumination_drop": (0.15, 0.3),
                "activity_drop": (0.1, 0.25),
                "ramp_d": (3, 5),
            },
            claim="F:P 1.4-1.8, yield -5-15 %, rumination -15-30 %",
        ),
        Recipe(
            "lameness",
            "lameness",
            COWS,
            _h(7 * 24, 10 * 24),
            {
                "visit_drop": (0.2, 0.4),
                "yield_drop": (0.05, 0.1),
                "duration_rise": (0.05, 0.1),
                "activity_drop": (0.2, 0.4),
            },
            claim="visits -20-40 %, yield -5-10 %, duration +5-10 %",
        ),
        Recipe(
            "heat_stress",
            "milk_yield_drop",
            COWS,
            _h(72, 120),
            {"yield_drop": (0.05, 0.10), "rumination_drop": (0.1, 0.2)},
            claim="yield -5-10 %, rumination down (THI); give animal = 'herd-*' for the herd",
        ),
        Recipe(
            "feed_issue",
            "milk_yield_drop",
            COWS,
            _h(72, 168),
            {"yield_drop": (0.05, 0.10), "rumination_drop": (0.05, 0.15)},
            claim="ration problem: yield -5-10 %, rumination down",
        ),
        Recipe(
            "ec_drift",
            "device_fault",
            COWS,
            _h(14 * 24),
            {"rate": (0.4, 0.6)},
            claim="conductivity sensor drifts +0.5 mS/cm per week",
        ),
        Recipe(
            "estrus", "estrus", COWS, _h(8, 9), {"factor": (2.3, 3.0), "yield_drop": (0.0, 0.05)}, claim="activity x2-3"
        ),
        # transport faults, labelled too
        Recipe(
            "offline_backlog", "data_gap", PETS + EQUINES + COWS, None, claim="device offline, backlog on reconnect"
        ),
    )
}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """A resolved anomaly: absolute times (epoch s) and every parameter."""

    recipe: str
    category: str
    animal_id: str
    start: float
    end: float
    params: dict[str, Any]

    def label(self, device_id: str | None = None) -> dict[str, Any]:
        """The JSON label (one line of the labels file)."""
        out: dict[str, Any] = {
            "animal_id": self.animal_id,
            "category": self.category,
            "recipe": self.recipe,
            "start": rfc3339_one(self.start),
            "end": rfc3339_one(self.end),
            "parameters": {"recipe": self.recipe, **self.params},
        }
        if device_id is not None:
            out["device_id"] = device_id
        return out

    def f(self, key: str) -> float:
        """A numeric parameter."""
        return float(self.params[key])


def _draw(recipe: Recipe, given: dict[str, Any], rng: np.random.Generator) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for key, (lo, hi) in recipe.ranges.items():
        drawn = float(rng.uniform(lo, hi))
        value = given.get(key, drawn)
        if not isinstance(value, int | float) or isinstance(value, bool):
            raise ScenarioError(f"recipe {recipe.name}: parameter {key} must be a number")
        params[key] = round(float(value), 4)
    for key, options in recipe.choices.items():
        drawn_choice = options[int(rng.integers(len(options)))]
        choice = given.get(key, drawn_choice)
        if choice not in options:
            raise ScenarioError(f"recipe {recipe.name}: parameter {key} must be one of {', '.join(options)}")
        params[key] = choice
    unknown = set(given) - set(recipe.ranges) - set(recipe.choices)
    if unknown:
        raise ScenarioError(f"recipe {recipe.name}: unknown parameters {', '.join(sorted(unknown))}")
    return params


def _intrinsic_duration(recipe: str, params: dict[str, Any]) -> float | None:
    if recipe == "somogyi_rebound":
        return 2 * HOUR_S + float(params["rebound_h"]) * HOUR_S
    if recipe == "compression_artifact":
        return MINUTE_S * (float(params["fall_min"]) + float(params["hold_min"]) + float(params["recover_min"]))
    return None


def resolve(
    specs: Sequence[AnomalySpec], *, seed: int, start: float, end: float, species: dict[str, str]
) -> list[Anomaly]:
    """Absolute, fully parametrised anomalies of a scenario whose timeline is [start, end]."""
    out: list[Anomaly] = []
    for index, spec in enumerate(specs):
        recipe = RECIPES[spec.recipe]
        rng = np.random.default_rng([seed, 7919, index])
        params = _draw(recipe, spec.parameters, rng)
        try:
            t0 = parse_moment(spec.start, start=start, end=end)
            if spec.end is not None:
                t1 = parse_moment(spec.end, start=start, end=end)
            elif spec.duration is not None:
                t1 = t0 + spec.duration
            else:
                intrinsic = _intrinsic_duration(spec.recipe, params)
                if intrinsic is None:
                    assert recipe.default_duration_s is not None  # noqa: S101 - checked when the scenario was read
                    intrinsic = float(rng.uniform(*recipe.default_duration_s))
                t1 = t0 + intrinsic
        except ValueError as exc:
            raise ScenarioError(f"anomalies[{index}] ({spec.recipe}): {exc}") from None
        if t1 <= t0:
            raise ScenarioError(f"anomalies[{index}] ({spec.recipe}): end must be after start")
        if species[spec.animal] not in recipe.species:
            raise ScenarioError(f"anomalies[{index}]: {spec.recipe} does not apply to a {species[spec.animal]}")
        out.append(Anomaly(spec.recipe, recipe.category, spec.animal, float(round(t0)), float(round(t1)), params))
    return out


def envelope(
    t: NDArray[np.float64], start: float, end: float, ramp_in: float = 0.0, ramp_out: float = 0.0
) -> NDArray[np.float64]:
    """1 inside [start, end], 0 outside, with linear ramps of ``ramp_in`` after start and ``ramp_out`` before end."""
    rise = (t - start) / ramp_in if ramp_in > 0 else np.where(t >= start, 1.0, 0.0)
    fall = (end - t) / ramp_out if ramp_out > 0 else np.where(t <= end, 1.0, 0.0)
    return np.clip(np.minimum(rise, fall), 0.0, 1.0)


def of_animal(anomalies: Sequence[Anomaly], animal_id: str, *recipes: str) -> list[Anomaly]:
    """The anomalies of one animal, optionally only some recipes."""
    return [a for a in anomalies if a.animal_id == animal_id and (not recipes or a.recipe in recipes)]


def day_overlaps(anomaly: Anomaly, day_start: float) -> bool:
    """True when the anomaly touches the day (with a day of margin for effects that outlast their window)."""
    return anomaly.start < day_start + 2 * DAY_S and anomaly.end > day_start - DAY_S
