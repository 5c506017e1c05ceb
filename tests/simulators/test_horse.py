"""Horse feeder simulator: intake, time budget and water of domain.md §2/§7.2, and the equine recipes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pytest

from simulators._horse import HAY_DM
from simulators._time import DAY_S, HOUR_S

from .helpers import END, daily_sums, measured, scenario_raw, series

HORSES = {"id": "h", "species": "horse", "count": 6}
FEEDER = {"id": "feeder", "kind": "feeder", "animals": ["h-*", "p", "d"]}
PONY = {"id": "p", "species": "pony", "weight": 280}
DONKEY = {"id": "d", "species": "donkey", "weight": 190}


def raw(anomalies: Sequence[Mapping[str, object]] | None = None, **env: object) -> dict[str, object]:
    r = scenario_raw([HORSES, PONY, DONKEY], [FEEDER], [dict(a) for a in anomalies or []])
    r["environment"] = env
    return r


def full_days(t: np.ndarray, v: np.ndarray, start: float) -> tuple[np.ndarray, np.ndarray]:
    keep = (t >= np.ceil(start / DAY_S) * DAY_S) & (t < END)
    return t[keep], v[keep]


def test_daily_forage_is_two_percent_of_body_weight_as_dry_matter() -> None:
    """Forage DM ≈ 2.0 % BW/day (NRC 2007 [S]) within ±0.2 %; day-to-day CV 5-15 % [D]."""
    e, r = measured(raw(), days=8, seed=3)
    shares, cvs = [], []
    for animal_id in e.fleet.animal_ids:
        i = e.fleet.animal_index[animal_id]
        t, kg = full_days(*series(r, "feed_intake", i), e.fleet.start)
        per_day = daily_sums(t, kg)
        shares.append(per_day.mean() * HAY_DM / e.fleet.weights[animal_id])
        cvs.append(per_day.std() / per_day.mean())
    assert np.mean(shares) == pytest.approx(0.020, abs=0.002)
    assert 0.05 <= np.mean(cvs) <= 0.15


def test_eating_time_bouts_and_night_rest() -> None:
    """12-16 h/day eating in bouts of 15-90 min, fewer bouts 02:00-05:00 [S/D]."""
    e, r = measured(raw(), days=6, seed=4)
    t, minutes = full_days(*series(r, "eating_time", 0), e.fleet.start)
    hours = daily_sums(t, minutes) / 60
    assert np.all((hours > 11) & (hours < 17))
    assert 15 <= np.median(minutes) <= 90
    hour_of_day = (t % DAY_S) / HOUR_S
    night = ((hour_of_day >= 2) & (hour_of_day < 5)).sum() / 3
    day = ((hour_of_day >= 8) & (hour_of_day < 20)).sum() / 12
    assert night < day


def test_water_is_five_litres_per_100_kg_and_more_in_the_heat() -> None:
    per_kg = {}
    for temp in (15, 30):
        e, r = measured(raw(temperature_c=temp), days=6, seed=5)
        values = []
        for animal_id in e.fleet.animal_ids:
            t, litres = full_days(*series(r, "water_intake", e.fleet.animal_index[animal_id]), e.fleet.start)
            values.append(daily_sums(t, litres).mean() / e.fleet.weights[animal_id] * 100)
        per_kg[temp] = np.mean(values)
    assert per_kg[15] == pytest.approx(5.0, rel=0.12)  # NRC: 5 L/100 kg on a dry diet [S]
    assert 1.5 <= per_kg[30] / per_kg[15] <= 2.0  # x1.5-2 at 30 °C [S]


def test_concentrate_meals_and_weighing() -> None:
    e, r = measured(raw(), days=4, seed=6)
    i = e.fleet.animal_index["h-001"]
    _, conc = series(r, "concentrate_intake", i)
    assert conc.size >= 2 * 3
    assert np.all(conc <= 0.005 * e.fleet.weights["h-001"])  # ≤ 0.5 % BW per meal [S]
    _, bw = series(r, "body_weight", i)
    assert bw == pytest.approx(e.fleet.weights["h-001"], rel=0.03)
    assert series(r, "concentrate_intake", e.fleet.animal_index["p"])[1].size == 0  # ponies get no concentrate here


def _intake(anomaly: Mapping[str, object], animal: str, *, days: float = 8, seed: int = 1):  # type: ignore[no-untyped-def]
    e1, r1 = measured(raw([anomaly]), days=days, seed=seed)
    _, r0 = measured(raw(), days=days, seed=seed)
    return e1.fleet.anomalies[0], e1.fleet.animal_index[animal], r1, r0


def _sum_between(r, metric: str, i: int, lo: float, hi: float) -> float:  # type: ignore[no-untyped-def]
    t, v = series(r, metric, i)
    return float(v[(t >= lo) & (t < hi)].sum())


def test_colic_acute_cuts_intake_to_a_quarter_within_two_hours_and_lowers_water() -> None:
    anomaly = {"recipe": "colic_acute", "animal": "h-002", "start": "end-2d", "duration": "16h"}
    a, i, r1, r0 = _intake(anomaly, "h-002")
    lo, hi = a.start + a.f("onset_h") * HOUR_S, a.end - 2 * HOUR_S
    ratio = _sum_between(r1, "feed_intake", i, lo, hi) / _sum_between(r0, "feed_intake", i, lo, hi)
    assert ratio <= 0.3
    water = _sum_between(r1, "water_intake", i, a.start, a.end) / _sum_between(r0, "water_intake", i, a.start, a.end)
    assert water < 0.75
    other, other0 = (
        _sum_between(r1, "feed_intake", 0, a.start, a.end),
        _sum_between(r0, "feed_intake", 0, a.start, a.end),
    )
    assert other == other0 > 0  # the other horses are not affected


def test_illness_gradual_drops_intake_20_to_40_percent_over_days() -> None:
    anomaly = {"recipe": "illness_gradual", "animal": "h-003", "start": "start+1d", "duration": "5d"}
    a, i, r1, r0 = _intake(anomaly, "h-003")
    ramp_end = a.start + a.f("ramp_d") * DAY_S
    late = _sum_between(r1, "feed_intake", i, ramp_end, ramp_end + DAY_S)
    late0 = _sum_between(r0, "feed_intake", i, ramp_end, ramp_end + DAY_S)
    assert 1 - late / late0 == pytest.approx(a.f("drop"), abs=0.08)
    assert 0.15 <= 1 - late / late0 <= 0.45
    first = _sum_between(r1, "feed_intake", i, a.start, a.start + 12 * HOUR_S)
    first0 = _sum_between(r0, "feed_intake", i, a.start, a.start + 12 * HOUR_S)
    assert first / first0 > late / late0  # gradual, not sudden


def test_dental_slows_eating_with_little_loss_of_total() -> None:
    anomaly = {"recipe": "dental", "animal": "h-004", "start": "start+1d", "duration": "6d"}
    a, i, r1, r0 = _intake(anomaly, "h-004")
    lo, hi = a.start + DAY_S, a.end - DAY_S
    kg, kg0 = _sum_between(r1, "feed_intake", i, lo, hi), _sum_between(r0, "feed_intake", i, lo, hi)
    mins, mins0 = _sum_between(r1, "eating_time", i, lo, hi), _sum_between(r0, "eating_time", i, lo, hi)
    rate_drop = 1 - (kg / mins) / (kg0 / mins0)
    assert rate_drop == pytest.approx(0.30, abs=0.07)
    assert 0.0 <= 1 - kg / kg0 <= 0.12


def test_hyperlipaemia_risk_halves_a_ponys_intake_for_a_day_or_more() -> None:
    anomaly = {"recipe": "hyperlipaemia_risk", "animal": "p", "start": "end-3d", "duration": "36h"}
    a, i, r1, r0 = _intake(anomaly, "p")
    lo, hi = a.start + 2 * HOUR_S, a.end - 4 * HOUR_S
    assert hi - lo >= 24 * HOUR_S
    ratio = _sum_between(r1, "feed_intake", i, lo, hi) / _sum_between(r0, "feed_intake", i, lo, hi)
    assert ratio == pytest.approx(0.5, abs=0.1)


def test_water_freeze_cuts_water_by_about_40_percent() -> None:
    anomaly = {"recipe": "water_freeze", "animal": "h-001", "start": "end-3d", "duration": "2d"}
    a, i, r1, r0 = _intake(anomaly, "h-001")
    ratio = _sum_between(r1, "water_intake", i, a.start + HOUR_S, a.end - HOUR_S) / _sum_between(
        r0, "water_intake", i, a.start + HOUR_S, a.end - HOUR_S
    )
    assert ratio == pytest.approx(0.6, abs=0.07)


def test_diet_change_is_a_transient_10_to_20_percent_drop() -> None:
    anomaly = {"recipe": "diet_change", "animal": "h-005", "start": "start+2d", "duration": "4d"}
    a, i, r1, r0 = _intake(anomaly, "h-005")
    lo, hi = a.start + 6 * HOUR_S, a.end - 2 * DAY_S
    ratio = _sum_between(r1, "feed_intake", i, lo, hi) / _sum_between(r0, "feed_intake", i, lo, hi)
    assert 1 - ratio == pytest.approx(a.f("drop"), abs=0.05)


def test_feeder_fault_flat_lines_the_scale_while_the_horse_eats() -> None:
    anomaly = {"recipe": "feeder_fault", "animal": "h-006", "start": "end-2d", "duration": "12h"}
    a, i, r1, _ = _intake(anomaly, "h-006")
    assert _sum_between(r1, "feed_intake", i, a.start, a.end) == 0
    assert _sum_between(r1, "eating_time", i, a.start, a.end) > 60
    assert a.category == "device_fault"
