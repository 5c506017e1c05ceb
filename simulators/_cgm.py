"""CGM (FreeStyle-Libre-like) on diabetic dogs and cats: insulin, meals, glucose, sensor behaviour (domain.md §7.1).

Truth: G(t) = Gb + b(t) - A·s(t)·Σ dose_i/nominal·E(t - t_i) + Σ P·f_i·M(t - m_i) + anomaly terms, on a 1-min grid,
with E a gamma-shaped insulin action (peak 1 at the time to nadir, 20 % left at the end of its duration), M a
delayed meal bump, s(t) and b(t) the day-to-day sensitivity and offset. A and Gb are calibrated per animal so that
a nominal day has the drawn pre-insulin value and nadir. The sensor adds ISF lag (first-order, τ ≈ 10 min), AR(1)
Johnson-SU noise (simglucose), low-range bias, warm-up, dropouts, sensor life and the phone's upload pattern.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.signal import lfilter, lfilter_zi

from simulators._anomalies import RECIPES, Anomaly, envelope, of_animal
from simulators._cgm_lows import MIN_FALL_S, paced
from simulators._cgm_model import (
    DEFAULT_DOSE_U_KG,
    DEFAULT_INSULIN,
    F64,
    INSULIN_PROFILE,
    JSU_DELTA,
    JSU_GAMMA,
    JSU_LAMBDA,
    JSU_XI,
    MAX_BASELINE,
    MAX_LIFE_S,
    PHI_15MIN,
    SCAN_BUFFER_S,
    SENSOR_HIGH,
    SENSOR_LOW,
    TRUE_CAP,
    TRUE_LOW,
    TRUE_LOW_MIN_S,
    WARMUP_S,
    gamma_k,
    insulin_effect,
    meal_effect,
)
from simulators._fleet import Fleet, Label
from simulators._readings import Readings, code, enum_code
from simulators._scenario import Device
from simulators._time import DAY_S, HOUR_S, MINUTE_S, parse_moment, rfc3339_one
from simulators.errors import ScenarioError


@dataclass(slots=True)
class _Pet:
    """Per-animal constants."""

    animal_id: str
    animal: int
    device: int
    species: str
    weight: float
    insulin: str
    tn_h: float
    k: float
    dose_u: float
    routine_s: tuple[float, ...]
    pre: float
    nadir: float
    meal_peak: float
    meal_delay_h: float
    meal_peak_h: float
    meal_g: float
    tau_min: float
    low_bias: float
    over_read: float
    dropout: float
    interval_s: int
    mode: str
    compressions_per_night: float
    outages_per_day: float
    sensor_start: float | None
    amplitude: float = 0.0
    baseline: float = 0.0
    sensors: NDArray[np.float64] | None = None  # rows: start, end, early-failure flag


def _rate(device: Device, key: str, default: float) -> float:
    value = device.params.get(key, default)
    if not isinstance(value, int | float) or isinstance(value, bool) or not 0 <= value <= 10:
        raise ScenarioError(f"device {device.id}: {key} must be a number between 0 and 10")
    return float(value)


def _hhmm(value: Any) -> float:
    try:
        hh, mm = str(value).split(":")
        seconds = int(hh) * HOUR_S + int(mm) * MINUTE_S
    except ValueError:
        raise ScenarioError(f"injection time {value!r} must be HH:MM") from None
    if not 0 <= seconds < DAY_S:
        raise ScenarioError(f"injection time {value!r} must be HH:MM")
    return float(seconds)


class CgmSimulator:
    """All CGM devices of a fleet."""

    def __init__(self, fleet: Fleet) -> None:
        self.fleet = fleet
        self.pets: list[_Pet] = [self._pet(d) for d in fleet.devices_of("cgm")]
        # injected lows fall at a physiological pace from the glucose they start at (simulators/_cgm_lows.py)
        pets = {p.animal_id: p for p in self.pets}
        fleet.anomalies = paced(fleet.anomalies, lambda a: self._glucose_at(pets.get(a.animal_id), a.start))

    # --- per-animal set-up ------------------------------------------------------------------------

    def _pet(self, device: Device) -> _Pet:
        fleet = self.fleet
        assert device.animal is not None  # noqa: S101 - CGMs are bound devices (scenario check)
        animal = fleet.animal(device.animal)
        rng = fleet.rng(animal.id, 2)
        species = animal.species
        insulin = str(animal.params.get("insulin", DEFAULT_INSULIN[species]))
        if (insulin, species) not in INSULIN_PROFILE:
            known = ", ".join(sorted({i for i, _ in INSULIN_PROFILE}))
            raise ScenarioError(f"animal {animal.id}: unknown insulin {insulin!r}: use one of {known}")
        tn, duration = INSULIN_PROFILE[insulin, species]
        weight = fleet.weights[animal.id]
        step = 0.5 if species == "dog" else 0.25
        dose_u_kg = float(animal.params.get("dose", DEFAULT_DOSE_U_KG[species]))
        dose_u = max(step, round(dose_u_kg * weight / step) * step)
        control = str(animal.params.get("control", "controlled"))
        if control == "controlled":  # pre-insulin 200-300, nadir 80-150 [D/S]
            pre, nadir = rng.uniform(230, 300), rng.uniform(95, 140)
        elif control == "poor":  # pre-insulin 350-450 [D], nadir above target
            pre, nadir = rng.uniform(350, 450), rng.uniform(170, 240)
        else:
            raise ScenarioError(f"animal {animal.id}: control must be controlled or poor")
        injections = animal.params.get("injections", ["07:00", "19:00"])
        if not isinstance(injections, list) or not 1 <= len(injections) <= 3:
            raise ScenarioError(f"animal {animal.id}: injections must be a list of 1-3 HH:MM times")
        routine = tuple(_hhmm(v) + rng.normal(0, 10 * MINUTE_S) for v in injections)
        interval_min = int(device.params.get("interval_min", 5))
        if interval_min not in (1, 5, 15):
            raise ScenarioError(f"device {device.id}: interval_min must be 1, 5 or 15")
        mode = str(device.params.get("mode", "scan" if interval_min == 15 else "stream"))
        if mode not in ("scan", "stream"):
            raise ScenarioError(f"device {device.id}: mode must be scan or stream")
        pet = _Pet(
            animal_id=animal.id,
            animal=fleet.animal_index[animal.id],
            device=fleet.device_of(device),
            species=species,
            weight=weight,
            insulin=insulin,
            tn_h=tn,
            k=gamma_k(tn, duration),
            dose_u=dose_u,
            routine_s=routine,
            pre=float(pre),
            nadir=float(nadir),
            meal_peak=float(rng.uniform(50, 110) if species == "dog" else rng.uniform(20, 50)),
            meal_delay_h=float(rng.uniform(0.5, 1.0)),
            meal_peak_h=float(rng.uniform(1.5, 3.0)),
            meal_g=round(weight * (7.5 if species == "dog" else 12.0) * rng.uniform(0.9, 1.1)),
            tau_min=float(np.clip(rng.normal(10, 2.5), 5, 15)),
            low_bias=float(rng.uniform(10, 20)),
            over_read=float(rng.uniform(10, 20)),
            dropout=float(rng.uniform(0.01, 0.05)),
            interval_s=interval_min * MINUTE_S,
            mode=mode,
            compressions_per_night=_rate(device, "compression_per_night", 0.3),
            outages_per_day=_rate(device, "outages_per_day", 0.3),
            sensor_start=self._moment(device, "sensor_start"),
        )
        self._calibrate(pet)
        pet.sensors = self._sensors(pet)
        return pet

    def _nominal_terms(self, pet: _Pet, t_h: F64) -> tuple[F64, F64]:
        """Insulin and meal terms of a steady nominal schedule (3 days of routine) on hours ``t_h``."""
        e = np.zeros_like(t_h)
        m = np.zeros_like(t_h)
        for day in range(-2, 2):
            for r in pet.routine_s:
                t0 = day * 24 + r / HOUR_S
                e += insulin_effect(t_h - t0, pet.tn_h, pet.k)
                m += meal_effect(t_h - t0, pet.meal_delay_h, pet.meal_peak_h)
        return e, m * pet.meal_peak

    def _calibrate(self, pet: _Pet) -> None:
        t_h = np.arange(0, 24, 1 / 60)
        e, m = self._nominal_terms(pet, t_h)
        first = pet.routine_s[0] / HOUR_S
        i_pre = round(first * 60) % t_h.size
        a = (pet.pre - pet.nadir) / max(float(e.max() - e[i_pre]), 1e-3)
        gb = pet.pre
        for _ in range(6):
            gb = pet.pre + a * e[i_pre] - m[i_pre]
            g = gb - a * e + m
            span = pet.pre - float(g.min())
            a *= (pet.pre - pet.nadir) / max(span, 1.0)
        gb = pet.pre + a * e[i_pre] - m[i_pre]
        if gb > MAX_BASELINE:  # a flat profile: keep the pre-insulin value, give up some of the nadir's depth
            a = (MAX_BASELINE - pet.pre + m[i_pre]) / max(float(e[i_pre]), 1e-3)
            gb = MAX_BASELINE
            pet.nadir = float((gb - a * e + m).min())
        pet.amplitude = float(a)
        pet.baseline = float(gb)

    def _moment(self, device: Device, key: str) -> float | None:
        value = device.params.get(key)
        if value is None:
            return None
        try:
            return parse_moment(str(value), start=self.fleet.start, end=self.fleet.end)
        except ValueError as exc:
            raise ScenarioError(f"device {device.id}: {key}: {exc}") from None

    def _sensors(self, pet: _Pet) -> NDArray[np.float64]:
        """Sensor wear periods: start, end, early-failure flag (Weibull life, median 10 d, at most 14 d) [S/D].

        With ``sensor_start`` a fresh sensor goes on at that moment and lasts its full 14 days (demos need a sensor
        that is surely there); the sensors before it are drawn backwards from it.
        """
        rng = self.fleet.rng(pet.animal_id, 3)
        n = 96
        life = np.minimum(rng.weibull(3.0, n) * 10 * DAY_S / np.log(2) ** (1 / 3), MAX_LIFE_S)
        life = np.maximum(life, 6 * HOUR_S)
        gap = rng.uniform(2, 30, n) * HOUR_S
        if pet.sensor_start is None:
            first = self.fleet.first_day * DAY_S - rng.uniform(0, 12 * DAY_S)
            starts = first + np.concatenate([[0.0], np.cumsum(life + gap)[:-1]])
        else:
            half = n // 2
            life[half] = MAX_LIFE_S
            back = np.cumsum((life[:half] + gap[:half])[::-1])[::-1]
            starts = np.concatenate(
                [pet.sensor_start - back, pet.sensor_start + np.concatenate([[0.0], np.cumsum((life + gap)[half:-1])])]
            )
        early = (life < MAX_LIFE_S - HOUR_S).astype(np.float64)
        return np.stack([starts, starts + life, early], axis=1)

    # --- per-day schedule -------------------------------------------------------------------------

    def _schedule(self, pet: _Pet, day: int) -> tuple[F64, F64, F64]:
        """Injection times, doses (U) and meal fractions eaten on ``day``."""
        rng = self.fleet.rng(pet.animal_id, 4, day)
        base = day * DAY_S
        times = np.array([base + r + rng.normal(0, 15 * MINUTE_S) for r in pet.routine_s])
        doses = np.full(times.size, pet.dose_u)
        eaten = np.clip(rng.normal(1.0, 0.08, times.size), 0.6, 1.1)
        recipes = ("missed_dose", "double_dose", "inappetence", "dka_prodrome")
        for a in of_animal(self.fleet.anomalies, pet.animal_id, *recipes):
            inside = (times >= a.start) & (times <= a.end)
            if a.recipe == "missed_dose":
                doses[inside] = 0.0
            elif a.recipe == "double_dose":
                doses[inside] *= 2
            else:
                eaten[inside] = a.f("eaten")
        return times, doses, eaten

    def _day_factor(self, pet: _Pet, t: F64, day: int) -> tuple[F64, F64]:
        """Sensitivity s(t) and offset b(t): day draws (SD 15 %, 20 mg/dL) interpolated between day middles [D]."""
        days = np.arange(day - 2, day + 3)
        sens = np.empty(days.size)
        off = np.empty(days.size)
        for i, d in enumerate(days):
            rng = self.fleet.rng(pet.animal_id, 5, int(d))
            sens[i] = rng.lognormal(0.0, 0.15)
            off[i] = rng.normal(0.0, 20.0)
        mids = days * DAY_S + DAY_S / 2
        return np.interp(t, mids, sens), np.interp(t, mids, off)

    # --- truth ------------------------------------------------------------------------------------

    def _glucose_at(self, pet: _Pet | None, t: float) -> float | None:
        """True glucose at ``t`` without the injected lows (the level a low starts from); None without a CGM."""
        if pet is None:
            return None
        return float(self.truth(pet, np.array([t]), int(t // DAY_S), lows=False)[0])

    def truth(self, pet: _Pet, t: F64, day: int, *, lows: bool = True) -> F64:
        """True blood glucose (mg/dL) at times ``t`` (a 1-min grid around ``day``); ``lows=False`` leaves out the
        injected hypoglycaemias."""
        anomalies = of_animal(self.fleet.anomalies, pet.animal_id)
        sens, off = self._day_factor(pet, t, day)
        e = np.zeros_like(t)
        m = np.zeros_like(t)
        for d in range(day - 2, day + 1):
            times, doses, eaten = self._schedule(pet, d)
            for t0, dose, frac in zip(times, doses, eaten, strict=True):
                tau_h = (t - t0) / HOUR_S
                tn, k = pet.tn_h, pet.k
                for a in anomalies:
                    if a.recipe == "short_duration" and a.start <= t0 <= a.end:
                        tn *= a.f("factor")  # same shape, time axis compressed: duration x factor
                e += dose / pet.dose_u * insulin_effect(tau_h, tn, k)
                m += frac * meal_effect(tau_h, pet.meal_delay_h, pet.meal_peak_h)
        efficacy = np.ones_like(t)
        extra = np.zeros_like(t)
        for a in anomalies:
            if a.recipe == "insulin_resistance":
                w = envelope(t, a.start, a.end, 6 * HOUR_S, 6 * HOUR_S)
                efficacy -= w * (1 - a.f("efficacy"))
                extra += w * a.f("rise")
            elif a.recipe == "inappetence":
                extra -= envelope(t, a.start, a.end, 2 * HOUR_S, 2 * HOUR_S) * a.f("fasting_drop")
            elif a.recipe == "stress_day":
                extra += envelope(t, a.start, a.end, 30 * MINUTE_S, HOUR_S) * a.f("rise")
            elif a.recipe == "dka_prodrome":  # relative insulin deficiency and counter-regulation
                w = envelope(t, a.start, a.end, 12 * HOUR_S, 2 * HOUR_S)
                efficacy -= 0.5 * w
                extra += w * a.f("rise")
            elif a.recipe == "remission_onset":  # beta cells recover: more insulin effect, lower baseline
                w = envelope(t, a.start, a.end, a.end - a.start, 0.0)
                efficacy *= 1 + w * a.f("gain")
                extra -= w * a.f("drop")
        g = pet.baseline + off - pet.amplitude * sens * efficacy * e + pet.meal_peak * m + extra
        for a in anomalies:
            if a.recipe == "hypoglycaemia" and lows:
                fall = a.f("fall_min") * MINUTE_S if "fall_min" in a.params else MIN_FALL_S
                w = envelope(t, a.start, a.end, fall, 45 * MINUTE_S)
                g = g * (1 - w) + a.f("nadir") * w
            elif a.recipe == "somogyi_rebound":
                hypo_end = a.start + 2 * HOUR_S
                w = envelope(t, a.start, hypo_end, 30 * MINUTE_S, 30 * MINUTE_S)
                g = g * (1 - w) + a.f("nadir") * w
                rebound = envelope(t, hypo_end, a.end, 3 * HOUR_S, 0.3 * (a.end - hypo_end))
                g = g + rebound * max(a.f("peak") - pet.pre, 0.0)
        return np.clip(g, 20.0, TRUE_CAP)

    # --- sensor -----------------------------------------------------------------------------------

    def _noise(self, pet: _Pet, day: int, t: F64) -> F64:
        """AR(1) (φ 0.7 per 15 min) Johnson-SU noise interpolated to ``t`` (mg/dL), fresh each day [S]."""
        rng = self.fleet.rng(pet.animal_id, 6, day)
        start = day * DAY_S - 3 * HOUR_S
        n = int((DAY_S + 4 * HOUR_S) / (15 * MINUTE_S)) + 2
        eps = rng.standard_normal(n)
        e = lfilter([np.sqrt(1 - PHI_15MIN**2)], [1, -PHI_15MIN], eps, zi=[PHI_15MIN * eps[0]])[0]
        e[0] = eps[0]
        noise = JSU_XI + JSU_LAMBDA * np.sinh((e - JSU_GAMMA) / JSU_DELTA)
        grid = start + np.arange(n) * 15 * MINUTE_S
        return np.asarray(np.interp(t, grid, noise), dtype=np.float64)

    def _upload_times(self, pet: _Pet, day: int, t: F64) -> tuple[F64, NDArray[np.bool_], list[Label]]:
        """When each reading reaches the platform, which are lost, and the phone's offline periods."""
        labels: list[Label] = []
        if pet.mode == "scan":
            # the owner scans 3-6 times a day; a reading older than 8 h at a scan is lost [S]. One scan on waking
            # (07:00-09:00) and one at bedtime (21:30-23:00), the others spread between them [D]: the Libre 14-day
            # must be scanned at least every 8 h (domain §1.6 [S]), so owners scan morning and evening and lose only
            # what the night's sleep leaves beyond 8 h. (Scans drawn anywhere in 07:00-23:00 lost 25-30 % of the
            # 15-min sensors' readings, most of the evenings, when all of a day's scans fell early.)
            scans: list[float] = []
            for d in (day, day + 1, day + 2):
                rng = self.fleet.rng(pet.animal_id, 7, d)
                wake, bed = rng.uniform(7 * HOUR_S, 9 * HOUR_S), rng.uniform(21.5 * HOUR_S, 23 * HOUR_S)
                n = int(rng.integers(1, 5))  # spread over the day, each within ± a quarter of its share of it
                between = wake + (np.arange(1, n + 1) + rng.uniform(-0.25, 0.25, n)) * (bed - wake) / (n + 1)
                scans.extend(np.sort(d * DAY_S + np.concatenate([[wake, bed], between])))
            scan_arr = np.asarray(scans)
            idx = np.searchsorted(scan_arr, t)
            sent = scan_arr[np.minimum(idx, scan_arr.size - 1)]
            lost = (sent - t > SCAN_BUFFER_S) | (idx >= scan_arr.size)
            return sent, lost, labels
        # streaming: sent within seconds; the phone drops out ~0.3x/day for 0.5-10 h, then uploads ≤ 8 h [S/D]
        sent = t + 5.0
        lost = np.zeros(t.size, dtype=bool)
        for d in (day - 1, day):
            rng = self.fleet.rng(pet.animal_id, 8, d)
            for _ in range(int(rng.poisson(pet.outages_per_day))):
                off0 = d * DAY_S + rng.uniform(0, DAY_S)
                off1 = off0 + rng.uniform(0.5, 10) * HOUR_S
                inside = (t >= off0) & (t < off1)
                sent = np.where(inside, off1 + 20.0, sent)
                lost |= inside & (off1 - t > SCAN_BUFFER_S)
                if d == day:
                    labels.append(self._label(pet, "phone_offline", "data_gap", off0, off1, {"backlog_h": 8}))
        return sent, lost, labels

    def _label(self, pet: _Pet, recipe: str, category: str, start: float, end: float, params: dict[str, Any]) -> Label:
        return Anomaly(recipe, category, pet.animal_id, round(start), round(end), params).label(
            self.fleet.device_ids[pet.device]
        )

    def _compressions(self, pet: _Pet, day: int) -> list[Anomaly]:
        """Spontaneous compression lows at night (rate per night per animal) [U] plus injected ones."""
        rng = self.fleet.rng(pet.animal_id, 9, day)
        found = of_animal(self.fleet.anomalies, pet.animal_id, "compression_artifact")
        for _ in range(int(rng.poisson(pet.compressions_per_night))):
            t0 = day * DAY_S + rng.uniform(-2 * HOUR_S, 6 * HOUR_S)
            params = {
                "depth": round(float(rng.uniform(0.3, 0.6)), 3),
                "fall_min": round(float(rng.uniform(10, 20)), 1),
                "hold_min": round(float(rng.uniform(10, 40)), 1),
                "recover_min": round(float(rng.uniform(10, 20)), 1),
                "spontaneous": True,
            }
            total = (params["fall_min"] + params["hold_min"] + params["recover_min"]) * MINUTE_S
            found.append(
                Anomaly("compression_artifact", "device_fault", pet.animal_id, round(t0), round(t0 + total), params)
            )
        return found

    def day(self, day: int) -> tuple[Readings, list[Label]]:
        """Readings measured on ``day`` for every CGM, with the labels of sensor and phone events."""
        parts: list[Readings] = []
        labels: list[Label] = []
        for pet in self.pets:
            readings, pet_labels = self._pet_day(pet, day)
            parts.append(readings)
            labels.extend(pet_labels)
        return Readings.concat(parts), labels

    def interstitial(self, pet: _Pet, day: int) -> tuple[F64, F64, F64]:
        """1-min grid around ``day``, true blood glucose and interstitial glucose (first-order lag τ)."""
        base = day * DAY_S
        grid = base - 3 * HOUR_S + np.arange(int((DAY_S + 3 * HOUR_S) / MINUTE_S) + 1, dtype=np.float64) * MINUTE_S
        g = self.truth(pet, grid, day)
        alpha = 1 - np.exp(-1.0 / pet.tau_min)
        ig = lfilter([alpha], [1, alpha - 1], g, zi=lfilter_zi([alpha], [1, alpha - 1]) * g[0])[0]
        return grid, g, np.asarray(ig, dtype=np.float64)

    def _true_lows(self, pet: _Pet, day: int, grid: F64, g: F64) -> list[Label]:
        """Labels of the true hypoglycaemias (blood glucose < 60 mg/dL for ≥ 15 min) that begin on ``day`` and that
        no injected hypoglycaemia explains: the day-to-day sensitivity, meals and insulin make some on their own."""
        base = day * DAY_S
        after = base + DAY_S + np.arange(0, 6 * HOUR_S, MINUTE_S, dtype=np.float64)  # a low crossing midnight
        t = np.concatenate([grid[grid < base + DAY_S], after])
        v = np.concatenate([g[grid < base + DAY_S], self.truth(pet, after, day + 1)])
        low = np.concatenate([[False], v < TRUE_LOW, [False]]).astype(np.int8)
        edges = np.flatnonzero(np.diff(low))
        injected = [
            a for a in of_animal(self.fleet.anomalies, pet.animal_id) if RECIPES[a.recipe].category == "hypoglycemia"
        ]
        out: list[Label] = []
        for i, j in zip(edges[::2], edges[1::2] - 1, strict=True):
            t0, t1 = float(t[i]), float(t[j])
            if not base <= t0 < base + DAY_S or i == 0 or t1 - t0 + MINUTE_S < TRUE_LOW_MIN_S:
                continue
            if any(a.start <= t1 and a.end >= t0 for a in injected):
                continue
            params = {"nadir": round(float(v[i : j + 1].min()), 1), "spontaneous": True}
            label = self._label(pet, "spontaneous_hypoglycaemia", "hypoglycemia", t0, t1, params)
            out.append({**label, "onset": label["start"]})  # the window opens at the crossing of 60 mg/dL
        return out

    def hypo_onset(self, animal_id: str, start: float, end: float) -> float | None:
        """The first minute of [start, end] at which the animal's true blood glucose is < 60 mg/dL (the onset of a
        hypoglycaemia label), or None: it never was (or the animal has no CGM)."""
        pet = next((p for p in self.pets if p.animal_id == animal_id), None)
        if pet is None:
            return None
        t = np.arange(np.ceil(start / MINUTE_S) * MINUTE_S, end + 1.0, MINUTE_S, dtype=np.float64)
        days = np.floor(t / DAY_S).astype(np.int64)
        for d in np.unique(days):
            seg = t[days == d]
            below = np.flatnonzero(self.truth(pet, seg, int(d)) < TRUE_LOW)
            if below.size:
                return float(seg[below[0]])
        return None

    def _pet_day(self, pet: _Pet, day: int) -> tuple[Readings, list[Label]]:
        base = day * DAY_S
        grid, truth, ig = self.interstitial(pet, day)
        offset = int(self.fleet.rng(pet.animal_id, 10).integers(0, pet.interval_s // MINUTE_S))
        samples = base + offset * MINUTE_S + np.arange(0, DAY_S, pet.interval_s, dtype=np.float64)
        samples = samples[samples < base + DAY_S]
        value = np.interp(samples, grid, ig)
        # low-range bias: under-read below 80 (dogs, cats), over-read in marked hypoglycaemia (cats) [S, magnitudes D]
        value -= pet.low_bias * np.clip((80 - value) / 30, 0, 1)
        if pet.species == "cat":
            value += (pet.low_bias + pet.over_read) * np.clip((50 - value) / 20, 0, 1)
        noise = self._noise(pet, day, samples)
        labels: list[Label] = self._true_lows(pet, day, grid, truth)
        assert pet.sensors is not None  # noqa: S101 - set in __init__
        sensors = pet.sensors
        idx = np.searchsorted(sensors[:, 0], samples, side="right") - 1
        s_start, s_end, s_early = sensors[idx, 0], sensors[idx, 1], sensors[idx, 2]
        worn = (idx >= 0) & (samples >= s_start + WARMUP_S) & (samples < s_end)
        age = samples - s_start
        scale = np.where(age < DAY_S, 1.5, 1.0) * np.where((s_early > 0) & (s_end - samples < 6 * HOUR_S), 2.5, 1.0)
        value += noise * scale
        for a in self._compressions(pet, day):
            w = envelope(samples, a.start, a.end, a.f("fall_min") * MINUTE_S, a.f("recover_min") * MINUTE_S)
            value *= 1 - a.f("depth") * w
            if a.params.get("spontaneous"):
                labels.append(a.label(self.fleet.device_ids[pet.device]))
        rng = self.fleet.rng(pet.animal_id, 11, day)
        keep = worn & (rng.random(samples.size) >= pet.dropout)
        for a in of_animal(self.fleet.anomalies, pet.animal_id, "sensor_dropout", "sensor_detach"):
            keep &= (samples < a.start) | (samples > a.end)
        for i in np.flatnonzero((sensors[:-1, 1] >= base) & (sensors[:-1, 1] < base + DAY_S)):
            row = sensors[i]
            params = {"early_failure": bool(row[2]), "sensor_age_d": round(float(row[1] - row[0]) / DAY_S, 2)}
            end = sensors[i + 1, 0] + WARMUP_S
            labels.append(self._label(pet, "sensor_change", "data_gap", row[1], end, params))
        sent, lost, upload_labels = self._upload_times(pet, day, samples)
        labels.extend(upload_labels)
        keep &= ~lost
        value = np.clip(np.rint(value), SENSOR_LOW, SENSOR_HIGH)
        glucose = Readings.build(
            samples[keep], code("glucose"), value[keep], device=pet.device, animal=pet.animal, sent=sent[keep]
        )
        return Readings.concat([glucose, self._events(pet, day)]), labels

    def _events(self, pet: _Pet, day: int) -> Readings:
        """Injections (dose and insulin type) and meals, logged by the owner in the phone app."""
        times, doses, eaten = self._schedule(pet, day)
        given = doses > 0
        meal_t = times - 10 * MINUTE_S
        parts = [
            Readings.build(times[given], code("insulin_dose"), doses[given], device=pet.device, animal=pet.animal),
            Readings.build(
                times[given],
                code("insulin_type"),
                enum_code("insulin_type", pet.insulin),
                device=pet.device,
                animal=pet.animal,
            ),
            Readings.build(meal_t, code("meal"), np.rint(eaten * pet.meal_g), device=pet.device, animal=pet.animal),
        ]
        events = Readings.concat(parts)
        events.sent = events.t + 60
        inside = (events.t >= day * DAY_S) & (events.t < (day + 1) * DAY_S)
        return events.take(inside)


def describe(pet: _Pet) -> dict[str, Any]:
    """Constants of one simulated pet (for docs and tests)."""
    return {
        "animal_id": pet.animal_id,
        "insulin": pet.insulin,
        "dose_u": pet.dose_u,
        "pre": round(pet.pre, 1),
        "nadir": round(pet.nadir, 1),
        "interval_min": pet.interval_s // MINUTE_S,
        "mode": pet.mode,
        "first_sensor": rfc3339_one(float(pet.sensors[0, 0])) if pet.sensors is not None else None,
    }
