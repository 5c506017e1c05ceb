"""Smart feeder for horses, ponies and donkeys (domain.md §2, §7.2).

Per animal and day: forage as fed = BW x DM share / hay DM (2.0 % BW DM, day CV 10 %), eaten in bouts of 15-90 min
adding up to 12-16 h with a night rest around 02:00-05:00; 2-3 concentrate meals; water 5 L/100 kg/day (more when
hot), 80 % of drinks within 2 h of a bout; ± 50-100 g scale noise per visit with occasional end-weight errors that
the next visit corrects; one weighing a day.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from simulators._anomalies import envelope, of_animal
from simulators._fleet import Fleet, Label
from simulators._readings import Readings, code
from simulators._scenario import Device
from simulators._time import DAY_S, HOUR_S, MINUTE_S
from simulators.errors import ScenarioError

F64 = NDArray[np.float64]
HAY_DM = 0.875  # hay dry matter 85-90 % [S]
FORAGE_DM_SHARE = 0.020  # 2.0 % BW DM/day, range 1.5-2.5 [S NRC 2007]
WATER_L_PER_100KG = 5.0  # dry diet [S]
SCALE_NOISE_KG = 0.075  # ± 50-100 g per visit [S/D]
DEFAULT_CONCENTRATE = {"horse": 0.15, "pony": 0.0, "donkey": 0.0}  # % BW per meal (≤ 0.5 %) [S/D]


@dataclass(slots=True)
class _Equine:
    animal_id: str
    animal: int
    device: int
    species: str
    weight: float
    dm_share: float
    eating_h: float
    concentrate_pct: float
    meals: tuple[float, ...]
    water_l: float


def water_factor(temperature_c: float) -> float:
    """Water need relative to 20 °C: x1.5-2 at 30 °C, -6-14 % in the cold [S]."""
    if temperature_c >= 20:
        return 1.0 + 0.075 * (temperature_c - 20)
    if temperature_c < 5:
        return 0.9
    return 1.0


class FeederSimulator:
    """All feeder devices of a fleet (bound to one animal or shared by a stable)."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        temperature = fleet.scenario.environment.get("temperature_c", 15.0)
        if not isinstance(temperature, int | float) or not -40 <= temperature <= 50:
            raise ScenarioError("environment.temperature_c must be a number between -40 and 50")
        self.temperature = float(temperature)
        self.equines = [e for d in fleet.devices_of("feeder") for e in self._equines(d)]

    def _equines(self, device: Device) -> list[_Equine]:
        out = []
        for animal_id in device.animals:
            animal = self.fleet.animal(animal_id)
            rng = self.fleet.rng(animal_id, 20)
            weight = self.fleet.weights[animal_id]
            conc = float(animal.params.get("concentrate", DEFAULT_CONCENTRATE[animal.species]))
            if not 0 <= conc <= 0.5:
                raise ScenarioError(f"animal {animal_id}: concentrate is % BW per meal, 0 to 0.5")
            n_meals = int(rng.integers(2, 4))
            meals = (7 * HOUR_S, 18 * HOUR_S) if n_meals == 2 else (7 * HOUR_S, 12.5 * HOUR_S, 18 * HOUR_S)
            out.append(
                _Equine(
                    animal_id=animal_id,
                    animal=self.fleet.animal_index[animal_id],
                    device=self.fleet.device_of(device),
                    species=animal.species,
                    weight=weight,
                    dm_share=float(np.clip(rng.normal(FORAGE_DM_SHARE, 0.0015), 0.015, 0.025)),
                    eating_h=float(rng.uniform(12, 16)),
                    concentrate_pct=conc,
                    meals=tuple(m + rng.normal(0, 10 * MINUTE_S) for m in meals),
                    water_l=WATER_L_PER_100KG * weight / 100 * water_factor(self.temperature),
                )
            )
        return out

    def _modifiers(self, eq: _Equine, t: F64) -> tuple[F64, F64, F64, F64]:
        """Intake, eating-rate, water and scale-reading multipliers of the anomalies at times ``t``."""
        t = np.asarray(t, dtype=np.float64)
        intake = np.ones_like(t)
        rate = np.ones_like(t)
        water = np.ones_like(t)
        scale = np.ones_like(t)
        for a in of_animal(self.fleet.anomalies, eq.animal_id):
            if a.recipe == "colic_acute":
                w = envelope(t, a.start, a.end, a.f("onset_h") * HOUR_S, 2 * HOUR_S)
                intake *= 1 - w * (1 - a.f("level"))
                water *= 1 - w * (1 - a.f("water"))
            elif a.recipe == "illness_gradual":
                w = envelope(t, a.start, a.end, a.f("ramp_d") * DAY_S, 12 * HOUR_S)
                intake *= 1 - w * a.f("drop")
                water *= 1 - 0.5 * w * a.f("drop")
            elif a.recipe == "hyperlipaemia_risk":
                w = envelope(t, a.start, a.end, 2 * HOUR_S, 4 * HOUR_S)
                intake *= 1 - w * (1 - a.f("level"))
            elif a.recipe == "dental":
                w = envelope(t, a.start, a.end, 12 * HOUR_S, 12 * HOUR_S)
                rate *= 1 - w * a.f("rate_drop")
                intake *= 1 - w * a.f("total_drop")
            elif a.recipe == "water_freeze":
                water *= 1 - envelope(t, a.start, a.end, HOUR_S, HOUR_S) * (1 - a.f("level"))
            elif a.recipe == "diet_change":  # a new batch: refused at first, then accepted over two days
                intake *= 1 - envelope(t, a.start, a.end, 6 * HOUR_S, 2 * DAY_S) * a.f("drop")
            elif a.recipe == "feeder_fault":
                scale = np.where((t >= a.start) & (t <= a.end), 0.0, scale)
        return intake, rate, water, scale

    def _feeding_day(self, eq: _Equine, day: int) -> Readings:
        """Everything of the feeding day that starts at 05:00 of ``day`` (it ends in the next night)."""
        rng = self.fleet.rng(eq.animal_id, 21, day)
        origin = day * DAY_S + 5 * HOUR_S + rng.uniform(0, 30 * MINUTE_S)
        total_kg = eq.weight * eq.dm_share / HAY_DM * rng.lognormal(0, 0.10)
        eating_min = eq.eating_h * 60 * rng.lognormal(0, 0.05)
        dur = rng.uniform(15, 90, 80)
        n = int(np.searchsorted(np.cumsum(dur), eating_min)) + 1
        dur = dur[:n] * eating_min / dur[:n].sum()
        rest_min = 1440 - eating_min - rng.uniform(90, 180)  # the night rest is outside the day's sequence
        gaps = rng.dirichlet(np.ones(n)) * rest_min
        starts = origin + (np.cumsum(gaps) + np.concatenate([[0.0], np.cumsum(dur)[:-1]])) * MINUTE_S
        intake_mult, rate_mult, _, scale_mult = self._modifiers(eq, starts)
        kg = total_kg * dur / eating_min * intake_mult
        minutes = dur * intake_mult / rate_mult
        ends = starts + minutes * MINUTE_S
        # scale: noise per visit; 2 % of visits with an end-weight error that the next start weight corrects [S/D]
        err = np.where(rng.random(n) < 0.02, rng.uniform(0.3, 1.0, n), 0.0)
        measured = kg + rng.normal(0, SCALE_NOISE_KG, n) + err - np.concatenate([[0.0], err[:-1]])
        measured = np.clip(measured, 0.0, None) * scale_mult
        parts = [
            Readings.build(ends, code("feed_intake"), measured, device=eq.device, animal=eq.animal),
            Readings.build(ends, code("eating_time"), minutes, device=eq.device, animal=eq.animal),
        ]
        if eq.concentrate_pct > 0:
            meal_t = day * DAY_S + np.asarray(eq.meals) + rng.uniform(10, 20, len(eq.meals)) * MINUTE_S
            conc = eq.weight * eq.concentrate_pct / 100 * self._modifiers(eq, meal_t)[0]
            conc = np.clip(conc + rng.normal(0, 0.02, conc.size), 0.0, None)
            parts.append(Readings.build(meal_t, code("concentrate_intake"), conc, device=eq.device, animal=eq.animal))
        n_drinks = int(rng.integers(8, 13))
        after = rng.random(n_drinks) < 0.8
        drink_t = np.where(
            after,
            rng.choice(ends, n_drinks) + rng.uniform(0, 2 * HOUR_S, n_drinks),
            origin + rng.uniform(0, DAY_S, n_drinks),
        )
        litres = rng.dirichlet(np.ones(n_drinks) * 2) * eq.water_l * rng.lognormal(0, 0.08)
        litres = litres * self._modifiers(eq, drink_t)[2]
        parts.append(Readings.build(drink_t, code("water_intake"), litres, device=eq.device, animal=eq.animal))
        weigh_t = day * DAY_S + 6 * HOUR_S + rng.uniform(0, HOUR_S)
        weight = eq.weight * (1 + rng.normal(0, 0.005))
        parts.append(Readings.build([weigh_t], code("body_weight"), weight, device=eq.device, animal=eq.animal))
        return Readings.concat(parts)

    def day(self, day: int) -> tuple[Readings, list[Label]]:
        """Readings measured during ``day`` for every feeder (sent 2 s after the visit)."""
        parts = []
        lo, hi = day * DAY_S, (day + 1) * DAY_S
        for eq in self.equines:
            for d in (day - 1, day):
                r = self._feeding_day(eq, d)
                parts.append(r.take((r.t >= lo) & (r.t < hi)))
        out = Readings.concat(parts)
        out.sent = out.t + 2
        return out, []
