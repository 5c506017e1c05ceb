"""Milking robot simulator: Wood curves, milking frequency and outcomes, quarters, and the dairy recipes (§3, §7.3)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from simulators._dairy import WOOD
from simulators._readings import CODE, enum_code
from simulators._time import DAY_S, HOUR_S

from .helpers import END, daily_sums, measured, scenario_raw, series

ROBOT = {"id": "robot", "kind": "milking", "animals": ["cow-*"]}


def raw(anomalies: Sequence[Mapping[str, object]] | None = None, *, count: int = 30, **cow: Any) -> dict[str, object]:
    return scenario_raw(
        [{"id": "cow", "species": "cow", "count": count, **cow}], [ROBOT], [dict(a) for a in anomalies or []]
    )


def test_wood_curve_peak_day_and_yield_are_reproduced() -> None:
    """Fitting Wood to each simulated lactation gives back the cow's peak day (±20 %) and peak yield (±8 %)."""
    e, r = measured(raw(count=4, dim=3), days=290, seed=2)
    sim = e.simulators[2]
    for cow in sim.cows:  # type: ignore[attr-defined]
        _, b0, c0 = WOOD[cow.parity]
        assert cow.b / b0 == pytest.approx(1, abs=0.2)
        assert cow.c / c0 == pytest.approx(1, abs=0.2)
        t, kg = series(r, "milk_yield", cow.animal)
        dim = (t - cow.calving) / DAY_S
        days = np.floor(dim).astype(int)
        keep = (days >= 5) & (days < 285)
        per_day = np.bincount(days[keep], weights=kg[keep])[5:]
        weekly = per_day[: per_day.size // 7 * 7].reshape(-1, 7).mean(axis=1)
        x = np.arange(weekly.size) * 7 + 5 + 3.0
        design = np.stack([np.ones_like(x), np.log(x), -x], axis=1)
        ln_a, b, c = np.linalg.lstsq(design, np.log(weekly), rcond=None)[0]
        peak_day, peak = b / c, np.exp(ln_a) * (b / c) ** b * np.exp(-b)
        assert peak_day == pytest.approx(cow.peak_day, rel=0.2)
        assert peak == pytest.approx(cow.peak_yield, rel=0.08)


def test_holstein_profiles_peak_where_domain_md_says() -> None:
    for parity, (day, kg) in {"multiparous": (50, 39.9), "primiparous": (60, 30.1)}.items():
        a, b, c = WOOD[parity]
        assert b / c == pytest.approx(day, abs=1)
        assert a * (b / c) ** b * np.exp(-b) == pytest.approx(kg, abs=0.3)


def test_milkings_per_day_intervals_and_outcomes() -> None:
    """2.5 ± 0.5 milkings/day (housed AMS), intervals ≥ 6 h, 5-9 % incomplete and 2-7 % failed [S]."""
    _, r = measured(raw(count=40), days=10, seed=3)
    _, outcome = series(r, "milking_outcome")
    milkings = outcome != enum_code("milking_outcome", "refused")
    per_cow_day = milkings.sum() / 40 / 10
    assert per_cow_day == pytest.approx(2.5, abs=0.2)
    frac_incomplete = (outcome == enum_code("milking_outcome", "incomplete")).sum() / milkings.sum()
    frac_failed = (outcome == enum_code("milking_outcome", "failed")).sum() / milkings.sum()
    assert 0.05 <= frac_incomplete <= 0.09
    assert 0.02 <= frac_failed <= 0.07
    assert (outcome == enum_code("milking_outcome", "refused")).any()
    _, interval = series(r, "milking_interval")
    assert interval.min() >= 6.0
    assert interval.max() <= 16.0


def test_quarters_fat_protein_conductivity_rumination() -> None:
    e, r = measured(raw(count=20), days=6, seed=4)
    total = series(r, "milk_yield")[1]
    fronts = series(r, "milk_yield_lf")[1] + series(r, "milk_yield_rf")[1]
    ok = total > 2
    assert 0.40 <= np.median(fronts[ok] / total[ok]) <= 0.45  # fronts 40-45 % [D/U]
    ec = np.stack([series(r, f"conductivity_{q}")[1] for q in ("lf", "rf", "lr", "rr")])
    assert 4.3 <= np.median(ec) <= 6.2  # 4.5-6.0 mS/cm cow baselines [S/D]
    fp = series(r, "milk_fat")[1] / series(r, "milk_protein")[1]
    assert 1.05 <= np.median(fp) <= 1.3
    rum_days = []
    for i in range(20):
        t, minutes = series(r, "rumination", i)
        keep = (t > np.ceil(e.fleet.start / DAY_S) * DAY_S) & (t <= END)
        rum_days.append(daily_sums(t[keep] - 1, minutes[keep]).mean())
    assert np.mean(rum_days) == pytest.approx(480, abs=30)  # 480 ± 60 min/day [S]


def _pair(anomaly: Mapping[str, object], *, days: float = 10, count: int = 6, seed: int = 1, **cow: Any):  # type: ignore[no-untyped-def]
    e1, r1 = measured(raw([anomaly], count=count, **cow), days=days, seed=seed)
    _, r0 = measured(raw(count=count, **cow), days=days, seed=seed)
    a = e1.fleet.anomalies[0]
    return a, e1.fleet.animal_index[a.animal_id], r1, r0


def _between(r, metric: str, i: int, lo: float, hi: float) -> np.ndarray:  # type: ignore[no-untyped-def]
    t, v = series(r, metric, i)
    return v[(t >= lo) & (t < hi)]


def _iqr(r, i: int, lo: float, hi: float, quarter: str) -> np.ndarray:  # type: ignore[no-untyped-def]
    ec = {q: _between(r, f"conductivity_{q}", i, lo, hi) for q in ("lf", "rf", "lr", "rr")}
    stack = np.stack(list(ec.values()))
    two_lowest = np.sort(stack, axis=0)[:2].mean(axis=0)
    out: np.ndarray = ec[quarter] / two_lowest
    return out


def test_mastitis_clinical_raises_quarter_conductivity_and_scc_and_drops_the_quarter() -> None:
    anomaly = {"recipe": "mastitis_clinical", "animal": "cow-002", "start": "end-6d", "duration": "5d"}
    a, i, r1, r0 = _pair(anomaly)
    q = a.params["quarter"]
    lo, hi = a.start + DAY_S, a.end - DAY_S
    assert np.median(_iqr(r1, i, lo, hi, q)) >= 1.15  # Mollenhorst IQR REVIEW cut-off
    assert np.median(_iqr(r0, i, lo, hi, q)) < 1.1
    assert np.median(_between(r1, "somatic_cell_count", i, lo, hi)) > 1000
    share = _between(r1, f"milk_yield_{q}", i, lo, hi).sum() / _between(r1, "milk_yield", i, lo, hi).sum()
    share0 = _between(r0, f"milk_yield_{q}", i, lo, hi).sum() / _between(r0, "milk_yield", i, lo, hi).sum()
    assert share < share0 * 0.9
    assert _between(r1, "milk_blood", i, lo, hi).sum() >= 1


def test_mastitis_subclinical_is_a_small_conductivity_rise_with_scc_200_to_1000() -> None:
    anomaly = {"recipe": "mastitis_subclinical", "animal": "cow-003", "start": "end-9d", "duration": "21d"}
    a, i, r1, r0 = _pair(anomaly)
    q = a.params["quarter"]
    lo, hi = a.start + 2 * DAY_S, END
    ratio = np.median(_iqr(r1, i, lo, hi, q)) / np.median(_iqr(r0, i, lo, hi, q))
    assert ratio == pytest.approx(1 + a.f("ec_rise"), abs=0.04)
    assert 200 <= np.median(_between(r1, "somatic_cell_count", i, lo, hi)) <= 1000


def test_ketosis_raises_fat_protein_ratio_and_lowers_rumination_and_yield() -> None:
    anomaly = {"recipe": "ketosis", "animal": "cow-001", "start": "end-8d", "duration": "7d"}
    a, i, r1, r0 = _pair(anomaly, dim=10)
    lo, hi = a.start + a.f("ramp_d") * DAY_S, a.end - DAY_S
    fp = _between(r1, "milk_fat", i, lo, hi) / _between(r1, "milk_protein", i, lo, hi)
    assert np.median(fp) > 1.4  # the F:P screen [S]
    rum, rum0 = _between(r1, "rumination", i, lo, hi).sum(), _between(r0, "rumination", i, lo, hi).sum()
    assert 1 - rum / rum0 == pytest.approx(a.f("rumination_drop"), abs=0.05)
    y, y0 = _between(r1, "milk_yield", i, lo, hi).sum(), _between(r0, "milk_yield", i, lo, hi).sum()
    assert y < y0


def test_lameness_means_fewer_visits_longer_milkings_less_activity() -> None:
    anomaly = {"recipe": "lameness", "animal": "cow-004", "start": "end-9d", "duration": "10d"}
    a, i, r1, r0 = _pair(anomaly, days=10)
    lo, hi = a.start + DAY_S, END
    visits = _between(r1, "milking_outcome", i, lo, hi)
    visits0 = _between(r0, "milking_outcome", i, lo, hi)
    refused = enum_code("milking_outcome", "refused")
    n, n0 = (visits != refused).sum(), (visits0 != refused).sum()
    assert n <= 0.85 * n0  # visits -20 to -40 %
    act, act0 = _between(r1, "activity", i, lo, hi).sum(), _between(r0, "activity", i, lo, hi).sum()
    assert 1 - act / act0 == pytest.approx(a.f("activity_drop"), abs=0.05)
    yield_rate = _between(r1, "milk_yield", i, lo, hi).sum() / (hi - lo)
    yield_rate0 = _between(r0, "milk_yield", i, lo, hi).sum() / (hi - lo)
    assert yield_rate < yield_rate0


def test_estrus_multiplies_activity_and_natural_heats_are_labelled() -> None:
    anomaly = {"recipe": "estrus", "animal": "cow-005", "start": "end-2d"}
    a, i, r1, r0 = _pair(anomaly, dim=200)  # past 150 DIM: no natural heat to confuse the comparison
    lo, hi = a.start + HOUR_S, a.end
    ratio = _between(r1, "activity", i, lo, hi).sum() / _between(r0, "activity", i, lo, hi).sum()
    assert ratio == pytest.approx(a.f("factor"), rel=0.1)
    e, _ = measured(raw(count=10, dim=40), days=25, seed=2)
    natural = [lab for lab in e.labels(e.fleet.start, e.fleet.end) if lab["recipe"] == "estrus"]
    assert len(natural) >= 10  # every cow cycles about once in 21 days
    assert all(lab["category"] == "estrus" and lab["parameters"]["spontaneous"] for lab in natural)


def test_robot_reports_every_cow_with_its_animal() -> None:
    _, r = measured(raw(count=12), days=2, seed=1)
    assert set(np.unique(r.device)) == {0}
    assert set(np.unique(r.animal[r.metric == CODE["milk_yield"]])) == set(range(12))


def test_heat_stress_on_the_whole_herd_lowers_yield_and_rumination() -> None:
    anomaly = {"recipe": "heat_stress", "animal": "cow-*", "start": "end-5d", "duration": "4d"}
    e1, r1 = measured(raw([anomaly], count=8), days=8, seed=3)
    _, r0 = measured(raw(count=8), days=8, seed=3)
    assert len(e1.fleet.anomalies) == 8  # one labelled anomaly per cow of the pattern
    assert {a.category for a in e1.fleet.anomalies} == {"milk_yield_drop"}
    drops = []
    for a in e1.fleet.anomalies:
        i = e1.fleet.animal_index[a.animal_id]
        lo, hi = a.start + DAY_S, a.end - DAY_S
        rate = _between(r1, "milk_yield", i, lo, hi).sum() / _between(r0, "milk_yield", i, lo, hi).sum()
        drops.append((1 - rate) / a.f("yield_drop"))
        rum = _between(r1, "rumination", i, lo, hi).sum() / _between(r0, "rumination", i, lo, hi).sum()
        assert 1 - rum == pytest.approx(a.f("rumination_drop"), abs=0.03)
    assert np.median(drops) == pytest.approx(1.0, abs=0.35)


def test_ec_drift_adds_half_a_millisiemens_a_week() -> None:
    anomaly = {"recipe": "ec_drift", "animal": "cow-001", "start": "end-8d", "duration": "14d"}
    a, i, r1, r0 = _pair(anomaly, days=9)
    t, ec = series(r1, "conductivity_lf", i)
    _, ec0 = series(r0, "conductivity_lf", i)
    late = t >= a.start + 6 * DAY_S
    diff = (ec - ec0)[late]
    expected = ((t[late] - a.start) / (7 * DAY_S)) * a.f("rate")
    assert np.allclose(diff, expected, atol=0.02)
    assert a.category == "device_fault"
