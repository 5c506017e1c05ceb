"""Milking robot (AMS) for a herd: one device reports every cow's milkings, rumination and activity (§3, §7.3).

Daily rate: Wood y(t) = a·t^b·e^(-c·t) per cow (a CV 12 %, b and c ± 20 % uniform around the parity profile).
Visits: gamma intervals around 24 h / (2-3 milkings/day) with a minimum permission (6 h early, 8 h late lactation),
refused visits when a cow comes back too early; yield per milking = rate x interval/24 with a secretion decline
beyond 12 h, CV 6 %; 7 % incomplete and 4 % failed milkings carry their residual milk to the next milking.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import numpy as np
from numpy.typing import NDArray

from simulators._anomalies import Anomaly, envelope, of_animal
from simulators._fleet import Fleet, Label
from simulators._readings import QUARTERS, Readings, code, enum_code
from simulators._scenario import Device
from simulators._time import DAY_S, HOUR_S, MINUTE_S
from simulators.errors import ScenarioError

F64 = NDArray[np.float64]
# Holstein Wood profiles [D, checked in domain.md §3.2]: a, b, c
WOOD = {"multiparous": (22.3, 0.20, 0.0040), "primiparous": (18.9, 0.15, 0.0025)}
P_INCOMPLETE, P_FAILED = 0.07, 0.04  # 5-9 % / 2-7 % of visits [S]
RUMINATION_MIN_DAY = 480.0  # ± 60 [S]
ESTRUS_FACTOR = 2.8  # ln +1.03 [S Løvendahl 2010]
BLOCK_S = 7 * DAY_S


def wood(dim: F64, a: float, b: float, c: float) -> F64:
    """Daily milk (kg/day) at ``dim`` days in milk."""
    d = np.clip(dim, 0.5, None)
    return np.asarray(a * d**b * np.exp(-c * d), dtype=np.float64)


@dataclass(slots=True)
class _Cow:
    animal_id: str
    animal: int
    device: int
    parity: str
    a: float
    b: float
    c: float
    calving: float
    rate_per_day: float
    front_share: float
    ec_base: float
    ec_offset: F64
    fat: float
    protein: float
    flow: float
    rumination: float
    activity: float
    visits: list[F64] = field(default_factory=list)  # blocks of visit times (milkings and refusals)
    refused: list[NDArray[np.bool_]] = field(default_factory=list)

    @property
    def peak_day(self) -> float:
        """Wood peak day b/c."""
        return self.b / self.c

    @property
    def peak_yield(self) -> float:
        """Wood peak yield a·(b/c)^b·e^(-b)."""
        return float(self.a * (self.b / self.c) ** self.b * np.exp(-self.b))


class DairySimulator:
    """All milking robots of a fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        rate = fleet.scenario.environment.get("milkings_per_day", 2.5)
        if not isinstance(rate, int | float) or not 1.0 <= rate <= 4.0:
            raise ScenarioError("environment.milkings_per_day must be between 1 and 4")
        self.milkings_per_day = float(rate)
        self.cows = [c for d in fleet.devices_of("milking") for c in self._cows(d)]
        self.origin = fleet.first_day * DAY_S

    def _ketosis_dim(self, animal_id: str, drawn: float) -> float:
        """Days in milk at the start for a cow without a ``dim`` parameter: ``drawn`` (5-300), unless a ``ketosis``
        anomaly is planned for her. Ketosis is a disease of early lactation (domain.md §7.3: DIM 5-40 [S + D]), so
        her DIM at its start is mapped into 5-40 from the same draw (the other cows' data do not change), and at
        least 5 at the timeline's start."""
        starts = [a.start for a in self.fleet.anomalies if a.animal_id == animal_id and a.recipe == "ketosis"]
        if not starts:
            return drawn
        offset_d = (min(starts) - self.fleet.start) / DAY_S
        low = min(max(5.0, offset_d + 5.0), 40.0)
        at_onset = low + (drawn - 5.0) / 295.0 * (40.0 - low)
        return max(at_onset - offset_d, 0.5)

    def _cows(self, device: Device) -> list[_Cow]:
        out = []
        for animal_id in device.animals:
            animal = self.fleet.animal(animal_id)
            rng = self.fleet.rng(animal_id, 30)
            parity = str(animal.params.get("parity", "primiparous" if rng.random() < 0.35 else "multiparous"))
            if parity not in WOOD:
                raise ScenarioError(f"animal {animal_id}: parity must be primiparous or multiparous")
            a0, b0, c0 = WOOD[parity]
            dim = animal.params.get("dim")
            if dim is None:
                dim = self._ketosis_dim(animal_id, float(rng.uniform(5, 300)))
            elif not isinstance(dim, int | float) or not 0 <= dim <= 600:
                raise ScenarioError(f"animal {animal_id}: dim (days in milk at the start) must be 0-600")
            out.append(
                _Cow(
                    animal_id=animal_id,
                    animal=self.fleet.animal_index[animal_id],
                    device=self.fleet.device_of(device),
                    parity=parity,
                    a=float(a0 * rng.lognormal(0, 0.12)),
                    b=float(b0 * rng.uniform(0.8, 1.2)),
                    c=float(c0 * rng.uniform(0.8, 1.2)),
                    calving=self.fleet.start - float(dim) * DAY_S,
                    rate_per_day=float(np.clip(rng.normal(self.milkings_per_day, 0.3), 1.0, 4.0)),
                    front_share=float(rng.uniform(0.40, 0.45)),
                    ec_base=float(rng.uniform(4.5, 6.0)),
                    ec_offset=rng.normal(0, 0.2, 4),
                    fat=float(rng.uniform(3.6, 4.2)),
                    protein=float(rng.uniform(3.1, 3.5)),
                    flow=float(rng.uniform(1.7, 2.5)),
                    rumination=float(rng.normal(RUMINATION_MIN_DAY, 40)),
                    activity=float(rng.uniform(80, 140)),
                )
            )
        return out

    # --- visits -----------------------------------------------------------------------------------

    def _visit_block(self, cow: _Cow, block: int, last: float) -> tuple[F64, NDArray[np.bool_]]:
        rng = self.fleet.rng(cow.animal_id, 31, block)
        mean_h = 24 / cow.rate_per_day
        n = int(7 * 24 / 4) + 10
        gaps = rng.gamma(8.0, mean_h / 8, n) * HOUR_S
        times = last + np.cumsum(gaps)
        dim = (times - cow.calving) / DAY_S
        permission = np.where(dim < 100, 6.0, 8.0) * HOUR_S
        lame = np.zeros(n)
        for a in of_animal(self.fleet.anomalies, cow.animal_id, "lameness"):
            lame = np.maximum(lame, envelope(times, a.start, a.end, DAY_S, DAY_S) * a.f("visit_drop"))
        gaps = np.clip(gaps / (1 - lame), permission, 16 * HOUR_S)  # fetched when overdue
        times = last + np.cumsum(gaps)
        end = self.origin + (block + 1) * BLOCK_S
        keep = times < end
        times = times[keep]
        # a cow that comes back before her permission is refused (no milking) [S]
        early = rng.random(times.size) < 0.25
        refusals = times - rng.uniform(0.3, 0.7, times.size) * gaps[keep]
        refusals = refusals[early]
        all_t = np.concatenate([times, refusals])
        refused = np.concatenate([np.zeros(times.size, bool), np.ones(refusals.size, bool)])
        order = np.argsort(all_t, kind="stable")
        return all_t[order], refused[order]

    def _visits(self, cow: _Cow, upto: float) -> tuple[F64, NDArray[np.bool_]]:
        """All visits from the origin up to ``upto`` (blocks of a week, generated in order and kept)."""
        while self.origin + len(cow.visits) * BLOCK_S < upto + DAY_S:
            if cow.visits:
                milkings = cow.visits[-1][~cow.refused[-1]]
                last = float(milkings[-1]) if milkings.size else self.origin + (len(cow.visits)) * BLOCK_S
            else:
                last = self.origin - self.fleet.rng(cow.animal_id, 32).uniform(0, 10 * HOUR_S)
            t, r = self._visit_block(cow, len(cow.visits), last)
            cow.visits.append(t)
            cow.refused.append(r)
        return np.concatenate(cow.visits), np.concatenate(cow.refused)

    # --- readings ---------------------------------------------------------------------------------

    def _effects(self, cow: _Cow, t: F64) -> dict[str, F64]:
        """Multipliers and shifts of the anomalies at times ``t``."""
        t = np.asarray(t, dtype=np.float64)
        one = np.ones_like(t)
        fx: dict[str, F64] = {
            "yield": one.copy(),
            "duration": one.copy(),
            "activity": one.copy(),
            "rumination": one.copy(),
            "fp": np.zeros_like(t),
            "fp_target": np.zeros_like(t),
            "scc": np.zeros_like(t),
            "scc_target": np.zeros_like(t),
            "blood": np.zeros_like(t),
            "ec_add": np.zeros_like(t),
        }
        for q in QUARTERS:
            fx[f"ec_{q}"] = one.copy()
            fx[f"q_{q}"] = one.copy()
        for a in of_animal(self.fleet.anomalies, cow.animal_id):
            self._apply(a, t, fx)
        return fx

    @staticmethod
    def _apply(a: Anomaly, t: F64, fx: dict[str, F64]) -> None:
        if a.recipe in ("mastitis_clinical", "mastitis_subclinical"):
            clinical = a.recipe == "mastitis_clinical"
            w = envelope(t, a.start, a.end, 12 * HOUR_S if clinical else 2 * DAY_S, DAY_S)
            q = str(a.params["quarter"])
            fx[f"ec_{q}"] *= 1 + w * a.f("ec_rise")
            fx["yield"] *= 1 - w * a.f("cow_drop")
            if clinical:
                fx[f"q_{q}"] *= 1 - w * a.f("quarter_drop")
                fx["blood"] = np.maximum(fx["blood"], w * 0.4)
            fx["scc"] = np.maximum(fx["scc"], w)
            fx["scc_target"] = np.where(w > 0, a.f("scc"), fx["scc_target"])
        elif a.recipe == "ketosis":
            w = envelope(t, a.start, a.end, a.f("ramp_d") * DAY_S, DAY_S)
            fx["yield"] *= 1 - w * a.f("yield_drop")
            fx["rumination"] *= 1 - w * a.f("rumination_drop")
            fx["activity"] *= 1 - w * a.f("activity_drop")
            fx["fp"] = np.maximum(fx["fp"], w)
            fx["fp_target"] = np.where(w > 0, a.f("fp"), fx["fp_target"])
        elif a.recipe == "lameness":
            w = envelope(t, a.start, a.end, DAY_S, DAY_S)
            fx["yield"] *= 1 - w * a.f("yield_drop")
            fx["duration"] *= 1 + w * a.f("duration_rise")
            fx["activity"] *= 1 - w * a.f("activity_drop")
        elif a.recipe in ("heat_stress", "feed_issue"):
            w = envelope(t, a.start, a.end, DAY_S, DAY_S)
            fx["yield"] *= 1 - w * a.f("yield_drop")
            fx["rumination"] *= 1 - w * a.f("rumination_drop")
        elif a.recipe == "ec_drift":
            fx["ec_add"] += np.where((t >= a.start) & (t <= a.end), (t - a.start) / (7 * DAY_S) * a.f("rate"), 0.0)
        elif a.recipe == "estrus":
            w = envelope(t, a.start, a.end, HOUR_S, HOUR_S)
            fx["activity"] *= 1 + w * (a.f("factor") - 1)
            fx["yield"] *= 1 - envelope(t, a.start - 6 * HOUR_S, a.end + 12 * HOUR_S) * a.f("yield_drop")

    def _visit_draws(self, cow: _Cow, t: F64) -> tuple[F64, F64]:
        """Uniforms (n, 3) and normals (n, 14) of each visit, keyed on the visit: the same whichever day asks."""
        u = np.empty((t.size, 3))
        z = np.empty((t.size, 14))
        for i, x in enumerate(t):
            g = self.fleet.rng(cow.animal_id, 34, int(x))
            u[i] = g.random(3)
            z[i] = g.standard_normal(14)
        return u, z

    def _milkings(self, cow: _Cow, day: int) -> Readings:
        lo, hi = day * DAY_S, (day + 1) * DAY_S
        times, refused = self._visits(cow, hi)
        milk_t = times[~refused]
        k = np.flatnonzero((milk_t >= lo - 2 * DAY_S) & (milk_t < hi))
        k = k[k > 0]
        t = milk_t[k]
        interval = (t - milk_t[k - 1]) / HOUR_S
        u, z = self._visit_draws(cow, t)
        fx = self._effects(cow, t)
        rate = wood((t - cow.calving) / DAY_S, cow.a, cow.b, cow.c) * fx["yield"]
        secreted = rate * interval / 24 * (1 - 0.02 * np.clip(interval - 12, 0, None))
        secreted = secreted * np.exp(0.06 * z[:, 0])
        failed = u[:, 0] < P_FAILED
        incomplete = (u[:, 0] >= P_FAILED) & (u[:, 0] < P_FAILED + P_INCOMPLETE)
        harvest = np.where(
            failed,
            u[:, 0] / P_FAILED * 0.1,
            np.where(incomplete, 0.5 + 0.35 * (u[:, 0] - P_FAILED) / P_INCOMPLETE, 1.0),
        )
        carry = np.concatenate([[0.0], (secreted * (1 - harvest))[:-1]])
        milk = secreted * harvest + carry * (1 - failed)
        front, rear = cow.front_share / 2, (1 - cow.front_share) / 2
        shares = np.array([front, front, rear, rear])[:, None] * (1 + 0.03 * z[:, 1:5].T)
        shares *= np.stack([fx[f"q_{q}"] for q in QUARTERS])
        shares /= shares.sum(axis=0)
        common = 1 + 0.04 * z[:, 5]
        ec = (cow.ec_base + cow.ec_offset[:, None]) * common * (1 + 0.01 * z[:, 6:10].T)
        ec *= np.stack([fx[f"ec_{q}"] for q in QUARTERS])
        ec += fx["ec_add"]
        protein = cow.protein * (1 - 0.05 * fx["fp"]) + 0.04 * z[:, 10]
        fat = cow.fat + 0.08 * z[:, 11]
        fat = fat + fx["fp"] * (fx["fp_target"] * protein - fat)
        healthy = np.log(60.0) + 0.5 * z[:, 12]
        scc = np.exp(healthy + fx["scc"] * (np.log(np.maximum(fx["scc_target"], 1.0)) - healthy))
        blood = u[:, 1] < np.maximum(fx["blood"], 0.002)
        duration = np.where(failed, 0.5 + 1.5 * u[:, 2], milk / (cow.flow * (1 + 0.05 * z[:, 13])) + 0.5)
        duration *= fx["duration"]
        outcome = np.where(
            failed,
            enum_code("milking_outcome", "failed"),
            np.where(incomplete, enum_code("milking_outcome", "incomplete"), enum_code("milking_outcome", "complete")),
        )
        keep = (t >= lo) & (t < hi)
        ok = keep & ~failed
        dev, ani = cow.device, cow.animal
        parts = [
            Readings.build(t[keep], code("milk_yield"), milk[keep], device=dev, animal=ani),
            Readings.build(t[keep], code("milking_interval"), interval[keep], device=dev, animal=ani),
            Readings.build(t[keep], code("milking_duration"), duration[keep], device=dev, animal=ani),
            Readings.build(t[keep], code("milking_outcome"), outcome[keep], device=dev, animal=ani),
            Readings.build(t[keep], code("milk_blood"), blood[keep].astype(float), device=dev, animal=ani),
            Readings.build(t[ok], code("milk_fat"), fat[ok], device=dev, animal=ani),
            Readings.build(t[ok], code("milk_protein"), protein[ok], device=dev, animal=ani),
            Readings.build(t[ok], code("somatic_cell_count"), scc[ok], device=dev, animal=ani),
        ]
        for i, q in enumerate(QUARTERS):
            parts.append(
                Readings.build(t[keep], code(f"milk_yield_{q}"), (milk * shares[i])[keep], device=dev, animal=ani)
            )
            parts.append(Readings.build(t[ok], code(f"conductivity_{q}"), ec[i][ok], device=dev, animal=ani))
        out = Readings.concat(parts)
        out.sent = out.t + np.rint(np.interp(out.t, t, duration) * MINUTE_S).astype(np.int64) if t.size else out.t
        refusal_t = times[refused & (times >= lo) & (times < hi)]
        refusals = Readings.build(
            refusal_t, code("milking_outcome"), enum_code("milking_outcome", "refused"), device=dev, animal=ani
        )
        return Readings.concat([out, refusals])

    def _estrus(self, cow: _Cow, day: int) -> list[Anomaly]:
        """Natural heats: from ~30 DIM every 21 ± 3 d until 150 DIM (then pregnant), 8-9 h, activity x2.8 [S/D]."""
        rng = self.fleet.rng(cow.animal_id, 35)
        cycles = (
            cow.calving + (rng.uniform(25, 40) + np.cumsum(np.concatenate([[0.0], rng.normal(21, 1.5, 8)]))) * DAY_S
        )
        hours = rng.uniform(8, 9.5, cycles.size)
        factors = np.exp(rng.normal(np.log(ESTRUS_FACTOR), 0.1, cycles.size))
        out = []
        for i, t0 in enumerate(cycles):
            if (t0 - cow.calving) / DAY_S > 150 or not (day - 1) * DAY_S <= t0 < (day + 1) * DAY_S:
                continue
            params = {"factor": round(float(factors[i]), 3), "spontaneous": True, "yield_drop": 0.02}
            end = t0 + float(hours[i]) * HOUR_S
            out.append(Anomaly("estrus", "estrus", cow.animal_id, round(t0), round(end), params))
        return out

    def _sensors(self, cow: _Cow, day: int, heats: list[Anomaly]) -> Readings:
        """2-hourly rumination and hourly activity from the cow's collar, relayed by the robot."""
        rng = self.fleet.rng(cow.animal_id, 36, day)
        base = day * DAY_S
        rum_t = base + np.arange(1, 13, dtype=np.float64) * 2 * HOUR_S
        profile = 1 + 0.3 * np.cos(2 * np.pi * (rum_t / HOUR_S % 24 - 3) / 24)
        rum = cow.rumination / 12 * profile / profile.mean() * rng.normal(1, 0.05) + rng.normal(0, 4, 12)
        rum = np.clip(rum * self._effects(cow, rum_t)["rumination"], 0, 120)
        act_t = base + np.arange(1, 25, dtype=np.float64) * HOUR_S
        hour = act_t / HOUR_S % 24
        circadian = 1 + 0.5 * np.sin(2 * np.pi * (hour - 8) / 24)
        act = cow.activity * circadian * rng.lognormal(0, 0.15, 24) * self._effects(cow, act_t)["activity"]
        for h in heats:
            act *= 1 + envelope(act_t, h.start, h.end, HOUR_S, HOUR_S) * (h.f("factor") - 1)
        return Readings.concat(
            [
                Readings.build(rum_t, code("rumination"), np.rint(rum), device=cow.device, animal=cow.animal),
                Readings.build(act_t, code("activity"), np.rint(act), device=cow.device, animal=cow.animal),
            ]
        )

    def day(self, day: int) -> tuple[Readings, list[Label]]:
        """Readings measured during ``day`` by every robot, and the labels of natural heats that started then."""
        parts: list[Readings] = []
        labels: list[Label] = []
        for cow in self.cows:
            if day * DAY_S < self.origin - DAY_S:
                continue
            heats = self._estrus(cow, day)
            labels.extend(h.label(self.fleet.device_ids[cow.device]) for h in heats if h.start >= day * DAY_S)
            parts.append(self._milkings(cow, day))
            sensors = self._sensors(cow, day, heats)
            sensors.sent = sensors.t + 10
            parts.append(sensors)
        return Readings.concat(parts), labels


def calving_dates(fleet: Fleet) -> dict[str, date]:
    """The (UTC) calving day of every simulated cow, as the milking robots' herd software would report it."""
    return {c.animal_id: datetime.fromtimestamp(c.calving, UTC).date() for c in DairySimulator(fleet).cows}
