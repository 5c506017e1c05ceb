"""CGM simulator: sensor parameters of domain.md §7.1 and the glycaemic anomaly recipes."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from simulators._cgm_lows import MAX_FALL_RATE, fall_seconds
from simulators._cgm_model import INSULIN_PROFILE, SCAN_BUFFER_S, jsu_sd
from simulators._time import DAY_S, HOUR_S, MINUTE_S

from .helpers import END, engine, measured, scenario_raw, series

DOG = {"id": "rex", "species": "dog", "weight": 20.0, "insulin": "lente", "dose": 0.5}


def cgm(interval: int = 5, **extra: object) -> dict[str, object]:
    return {"id": "cgm-rex", "kind": "cgm", "animal": "rex", "interval_min": interval, **extra}


def raw(
    anomalies: Sequence[Mapping[str, object]] | None = None, *, interval: int = 5, **animal: Any
) -> dict[str, object]:
    return scenario_raw(
        [{**DOG, **animal}], [cgm(interval, compression_per_night=0.0)], [dict(a) for a in anomalies or []]
    )


def test_sample_intervals_follow_the_device_setting() -> None:
    for interval in (1, 5, 15):
        _, r = measured(raw(interval=interval), days=2)
        t, _ = series(r, "glucose")
        assert t.size > 0
        assert np.median(np.diff(t)) == interval * MINUTE_S


def test_noise_level_and_autocorrelation_match_the_simglucose_model() -> None:
    """Reading - interstitial glucose has the Johnson-SU SD (±15 %) and AR(1) φ ≈ 0.7 per 15 min [S]."""
    e, r = measured(raw(interval=15, mode="stream"), days=12, seed=3)
    sim = e.simulators[0]
    pet = sim.pets[0]  # type: ignore[attr-defined]
    t, v = series(r, "glucose")
    ig = np.concatenate([sim.interstitial(pet, int(d))[2][180:] for d in np.unique(np.floor(t / DAY_S))])  # type: ignore[attr-defined]
    grid = np.concatenate([sim.interstitial(pet, int(d))[0][180:] for d in np.unique(np.floor(t / DAY_S))])  # type: ignore[attr-defined]
    sensors = pet.sensors
    idx = np.searchsorted(sensors[:, 0], t, side="right") - 1
    steady = (t - sensors[idx, 0] > DAY_S) & (sensors[idx, 1] - t > 6 * HOUR_S)
    truth = np.interp(t, grid, ig)
    ok = steady & (truth > 110) & (truth < 450) & (v > 40) & (v < 500)
    resid = (v - np.rint(truth))[ok]
    assert resid.size > 300
    assert resid.std() == pytest.approx(jsu_sd(), rel=0.15)
    # lag-1 autocorrelation of consecutive 15-min residuals
    tt = t[ok]
    pairs = np.flatnonzero(np.diff(tt) == 15 * MINUTE_S)
    phi = np.corrcoef(resid[pairs], resid[pairs + 1])[0, 1]
    assert phi == pytest.approx(0.7, abs=0.12)


def test_first_day_of_a_sensor_is_noisier_and_warm_up_has_no_data() -> None:
    e, r = measured(raw(interval=5), days=20, seed=5)
    pet = e.simulators[0].pets[0]  # type: ignore[attr-defined]
    t, _ = series(r, "glucose")
    starts = pet.sensors[:, 0]
    idx = np.searchsorted(starts, t, side="right") - 1
    age = t - starts[idx]
    assert age.min() >= HOUR_S  # 60-min warm-up [S]
    assert (pet.sensors[:, 1] - pet.sensors[:, 0]).max() <= 14 * DAY_S  # sensor life ≤ 14 d


def test_controlled_dog_nadir_and_day_to_day_variability() -> None:
    """Nadir of a controlled dog in 80-150 mg/dL on most days; day-to-day nadir SD 15-60 mg/dL [S/D]."""
    nadirs = []
    for seed in range(4):
        e = engine(raw(), days=8, seed=seed)
        sim = e.simulators[0]
        pet = sim.pets[0]  # type: ignore[attr-defined]
        for day in range(int(e.fleet.start // DAY_S) + 1, int(END // DAY_S)):
            _, g, _ = sim.interstitial(pet, day)  # type: ignore[attr-defined]
            nadirs.append(g[180:].min())
    nadirs_arr = np.array(nadirs)
    assert 80 <= np.median(nadirs_arr) <= 150
    assert 15 <= nadirs_arr.std() <= 60


@pytest.mark.parametrize(
    ("fast", "slow"), [(("nph", "dog"), ("lente", "dog")), (("lente", "dog"), ("glargine", "dog"))]
)
def test_time_to_nadir_follows_the_insulin_profile(fast: tuple[str, str], slow: tuple[str, str]) -> None:
    """The noise-free curve reaches its lowest point later for longer-acting insulins (AAHA table order)."""
    delays = {}
    for insulin, species in (fast, slow):
        animal = {**DOG, "species": species, "weight": 20.0 if species == "dog" else 5.0, "insulin": insulin}
        r = scenario_raw([animal], [cgm()])
        e = engine(r, days=3, seed=2)
        sim = e.simulators[0]
        pet = sim.pets[0]  # type: ignore[attr-defined]
        day = int(END // DAY_S) - 1
        grid, g, _ = sim.interstitial(pet, day)  # type: ignore[attr-defined]
        inj = day * DAY_S + pet.routine_s[0]
        window = (grid >= inj) & (grid < inj + 12 * HOUR_S)
        delays[insulin] = (grid[window][np.argmin(g[window])] - inj) / HOUR_S
    assert delays[fast[0]] < delays[slow[0]]
    assert delays[fast[0]] == pytest.approx(INSULIN_PROFILE[fast][0], abs=2.5)


def test_injections_and_meals_are_logged() -> None:
    _, r = measured(raw(), days=4)
    _, dose = series(r, "insulin_dose")
    assert dose.size == 8  # q12h
    assert np.all(dose == 10.0)  # 0.5 U/kg x 20 kg
    _, kind = series(r, "insulin_type")
    assert np.all(kind == 0)  # lente
    _, meal = series(r, "meal")
    assert meal.size == 8
    assert np.all((meal > 100) & (meal < 200))


def test_scan_mode_uploads_at_scans_and_loses_what_is_older_than_8_hours() -> None:
    _, r = measured(raw(interval=15), days=6, seed=4)
    glucose = r.of_metric("glucose")
    delay = glucose.sent - glucose.t
    assert delay.max() <= SCAN_BUFFER_S
    assert np.median(delay) > 30 * MINUTE_S  # uploaded at scans, not streamed
    scanned = np.unique(glucose.sent).size
    assert 3 * 5 <= scanned <= 6 * 7  # 3-6 scans a day


def test_scanned_sensors_lose_only_what_a_night_leaves_beyond_8_hours() -> None:
    """The owner scans on waking and at bedtime [D]: the 8-h buffer [S] loses a few readings after the bedtime
    scan, on nights longer than 8 h, and nothing in the day."""
    e = engine(raw(interval=15), days=21, seed=4)
    sim = e.simulators[0]
    pet = sim.pets[0]  # type: ignore[attr-defined]
    lost_hours: list[float] = []
    total = 0
    for day in range(int(e.fleet.start // DAY_S), int(END // DAY_S) - 2):
        t = day * DAY_S + np.arange(0, DAY_S, 15 * MINUTE_S, dtype=np.float64)
        _, lost, _ = sim._upload_times(pet, day, t)  # type: ignore[attr-defined]
        total += t.size
        lost_hours.extend(((t[lost] % DAY_S) / HOUR_S).tolist())
    hours = np.array(lost_hours)
    assert 0 < hours.size / total < 0.1  # ~1.75 h of a 9.75-h night on average: ~7.5 % of the readings
    night = (hours >= 21.5) | (hours < 1.0)  # after the bedtime scan
    assert night.mean() > 0.8  # the rest: a day with one scan between waking and bedtime, a little late


def test_streaming_mode_has_backlog_uploads_after_phone_outages() -> None:
    _, r = measured(raw(interval=5), days=10, seed=6)
    glucose = r.of_metric("glucose")
    delay = glucose.sent - glucose.t
    assert np.median(delay) <= 10
    assert (delay > 30 * MINUTE_S).any()  # a backlog
    assert delay.max() <= SCAN_BUFFER_S + 60


def _with_and_without(recipe: str, start: str, days: float = 6, **kw: object):  # type: ignore[no-untyped-def]
    """The anomaly, readings with it and without it (same seed); the first seed whose sensor covers the window."""
    anomaly = {"recipe": recipe, "animal": "rex", "start": start, **kw}
    for seed in range(1, 20):
        e1, r1 = measured(raw([anomaly]), days=days, seed=seed)
        a = e1.fleet.anomalies[0]
        _, r0 = measured(raw(), days=days, seed=seed)
        t0, _ = series(r0, "glucose")
        covered = ((t0 >= a.start) & (t0 <= a.end)).sum() * 5 * MINUTE_S / (a.end - a.start)
        if covered > 0.9:
            return a, r1, r0
    raise AssertionError("no seed covers the window")  # pragma: no cover


def test_hypoglycaemia_goes_below_60_for_at_least_15_minutes() -> None:
    a, r1, r0 = _with_and_without("hypoglycaemia", "end-1d", duration="2h")
    t, v = series(r1, "glucose")
    inside = (t >= a.start) & (t <= a.end)
    assert (v[inside] < 60).sum() >= 3
    t0, v0 = series(r0, "glucose")
    assert v0[(t0 >= a.start) & (t0 <= a.end)].min() > v[inside].min() + 30


def test_an_injected_low_falls_at_a_physiological_pace_and_keeps_its_time_at_the_nadir() -> None:
    """A poorly controlled glargine cat at ~400 mg/dL: the fall to the nadir takes (g0 - nadir) / 4 mg/dL/min, not 30
    min (it was ~13 mg/dL/min); the time at the nadir and the 45-min recovery are kept, so the label ends later."""
    cat = {"id": "rex", "species": "cat", "weight": 5.0, "insulin": "glargine", "dose": 0.3, "control": "poor"}
    anomaly = {
        "recipe": "hypoglycaemia",
        "animal": "rex",
        "start": "end-2d",
        "duration": "2h",
        "parameters": {"nadir": 45},
    }
    e = engine(scenario_raw([cat], [cgm(5, compression_per_night=0.0)], [anomaly]), days=6, seed=2)
    sim = e.simulators[0]
    pet = sim.pets[0]  # type: ignore[attr-defined]
    a = e.fleet.anomalies[0]
    day = int(a.start // DAY_S)
    g0 = float(sim.truth(pet, np.array([a.start]), day, lows=False)[0])  # type: ignore[attr-defined]
    assert g0 > 200  # in 30 min that was a fall of more than 5 mg/dL/min (~13 from 450)
    fall = (g0 - 45.0) / MAX_FALL_RATE * MINUTE_S
    assert a.params["fall_min"] == pytest.approx(fall / MINUTE_S, abs=0.1)
    start = END - 2 * DAY_S
    assert a.start == start
    assert a.end == pytest.approx(start + 2 * HOUR_S + fall - 30 * MINUTE_S, abs=1)
    t = np.arange(a.start, a.end, MINUTE_S)
    g = np.concatenate([sim.truth(pet, t[np.floor(t / DAY_S) == d], int(d)) for d in np.unique(np.floor(t / DAY_S))])  # type: ignore[attr-defined]
    falling = t < a.start + fall
    assert -np.diff(g[falling]).max() <= MAX_FALL_RATE + 1.0  # plus the curve's own slope
    at_nadir = (t >= a.start + fall) & (t <= a.end - 45 * MINUTE_S)
    assert np.abs(g[at_nadir] - 45.0).max() < 1.0
    assert (t[at_nadir][-1] - t[at_nadir][0]) == pytest.approx(2 * HOUR_S - 75 * MINUTE_S, abs=2 * MINUTE_S)
    label = next(lab for lab in e.labels(e.fleet.start, e.fleet.end) if lab["recipe"] == "hypoglycaemia")
    assert label["parameters"]["fall_min"] == a.params["fall_min"]


def test_a_low_from_a_modest_glucose_still_falls_in_30_minutes() -> None:
    assert fall_seconds(150.0, 45.0) == 30 * MINUTE_S
    assert fall_seconds(445.0, 45.0) == 100 * MINUTE_S


def test_somogyi_rebound_low_then_above_400() -> None:
    a, r1, _ = _with_and_without("somogyi_rebound", "end-3d")
    t, v = series(r1, "glucose")
    first = (t >= a.start) & (t <= a.start + 2 * HOUR_S)
    later = (t > a.start + 2 * HOUR_S) & (t <= a.end)
    assert v[first].min() < 65
    assert v[later].max() > 400


def test_short_duration_returns_above_250_before_8_hours() -> None:
    a, r1, r0 = _with_and_without("short_duration", "end-4d", duration="3d")
    t_inj, _ = series(r1, "insulin_dose")
    inj = t_inj[(t_inj >= a.start) & (t_inj <= a.end - 8 * HOUR_S)]
    t, v = series(r1, "glucose")
    t0, v0 = series(r0, "glucose")
    late = [v[(t > i + 6 * HOUR_S) & (t < i + 8 * HOUR_S)].mean() for i in inj]
    late0 = [v0[(t0 > i + 6 * HOUR_S) & (t0 < i + 8 * HOUR_S)].mean() for i in inj]
    assert len(late) >= 4
    assert np.median(late) > 250
    assert np.median(late) > np.median(late0) + 40


def test_insulin_resistance_keeps_glucose_above_300() -> None:
    a, r1, r0 = _with_and_without("insulin_resistance", "end-4d", duration="3d")
    t, v = series(r1, "glucose")
    core = (t >= a.start + 12 * HOUR_S) & (t <= a.end - 12 * HOUR_S)
    assert np.median(v[core]) > 300
    t0, v0 = series(r0, "glucose")
    assert np.median(v[core]) > np.median(v0[(t0 >= a.start + 12 * HOUR_S) & (t0 <= a.end - 12 * HOUR_S)]) + 80


def test_inappetence_skips_meals_and_lowers_glucose() -> None:
    a, r1, r0 = _with_and_without("inappetence", "end-2d", duration="20h")
    tm, meals = series(r1, "meal")
    _, meals0 = series(r0, "meal")
    inside = (tm >= a.start) & (tm <= a.end)
    assert inside.any()
    assert np.all(meals[inside] <= 0.2 * meals0[inside] + 1)
    t, v = series(r1, "glucose")
    t0, v0 = series(r0, "glucose")
    w, w0 = (t >= a.start + 2 * HOUR_S) & (t <= a.end), (t0 >= a.start + 2 * HOUR_S) & (t0 <= a.end)
    assert v[w].mean() < v0[w0].mean() - 30


def test_compression_artifact_reads_low_while_truth_is_unchanged() -> None:
    a, r1, r0 = _with_and_without(
        "compression_artifact", "end-2d", parameters={"depth": 0.5, "fall_min": 10, "hold_min": 30, "recover_min": 10}
    )
    t, v = series(r1, "glucose")
    t0, v0 = series(r0, "glucose")
    hold = (t >= a.start + 12 * MINUTE_S) & (t <= a.end - 12 * MINUTE_S)
    common = np.intersect1d(t[hold], t0)
    assert common.size >= 3
    low, normal = v[np.isin(t, common)], v0[np.isin(t0, common)]
    assert np.all(low <= np.maximum(40, 0.6 * normal))  # 50 % low, or the sensor's LO (40)
    assert np.all(low < normal)
    outside = (t < a.start) | (t > a.end)
    both = np.intersect1d(t[outside], t0)
    assert np.array_equal(v[np.isin(t, both)], v0[np.isin(t0, both)])  # nothing else changes


def test_sensor_dropout_removes_readings() -> None:
    a, r1, r0 = _with_and_without("sensor_dropout", "end-2d", duration="5h")
    t, _ = series(r1, "glucose")
    t0, _ = series(r0, "glucose")
    assert not ((t >= a.start) & (t <= a.end)).any()
    assert ((t0 >= a.start) & (t0 <= a.end)).sum() > 30


def test_missed_and_double_doses_change_the_logged_injections() -> None:
    _, r1, r0 = _with_and_without("double_dose", "end-2d", duration="12h")
    _, d = series(r1, "insulin_dose")
    _, d0 = series(r0, "insulin_dose")
    assert d.max() == 2 * d0.max()
    _, r1, r0 = _with_and_without("missed_dose", "end-2d", duration="12h")
    assert series(r1, "insulin_dose")[1].size == series(r0, "insulin_dose")[1].size - 1


def test_sensor_start_puts_a_fresh_full_life_sensor_at_that_moment() -> None:
    r = scenario_raw([DOG], [cgm(5, sensor_start="end-3d", outages_per_day=0)])
    e, readings = measured(r, days=8, seed=9)
    pet = e.simulators[0].pets[0]  # type: ignore[attr-defined]
    fresh = np.flatnonzero(pet.sensors[:, 0] == END - 3 * DAY_S)
    assert fresh.size == 1
    i = int(fresh[0])
    assert pet.sensors[i, 1] - pet.sensors[i, 0] == 14 * DAY_S
    assert np.all(pet.sensors[1:, 0] >= pet.sensors[:-1, 1])  # sensors never overlap
    glucose = readings.of_metric("glucose")
    assert np.all(glucose.sent - glucose.t <= 10)  # no phone outage: everything streamed
    t = glucose.t[glucose.t >= END - 3 * DAY_S + 3600]
    assert t.size >= 0.9 * (3 * DAY_S - 3600) / 300  # covered apart from the random 1-5 % dropouts


def test_dka_prodrome_is_above_400_with_anorexia() -> None:
    a, r1, r0 = _with_and_without("dka_prodrome", "end-3d", duration="40h")
    t, v = series(r1, "glucose")
    late = (t >= a.start + 14 * HOUR_S) & (t <= a.end - 2 * HOUR_S)
    assert np.median(v[late]) > 400
    tm, meals = series(r1, "meal")
    _, meals0 = series(r0, "meal")
    inside = (tm >= a.start) & (tm <= a.end)
    assert np.all(meals[inside] <= 0.3 * meals0[inside] + 1)


def test_remission_onset_brings_repeated_lows_at_a_stable_dose() -> None:
    cat: dict[str, Any] = {"species": "cat", "weight": 5.0, "insulin": "glargine", "dose": 0.3}
    anomaly = {"recipe": "remission_onset", "animal": "rex", "start": "end-20d", "duration": "20d"}
    e1, r1 = measured(raw([anomaly], **cat), days=21, seed=2)
    _, r0 = measured(raw(**cat), days=21, seed=2)
    last_week = END - 7 * DAY_S
    t, v = series(r1, "glucose")
    t0, v0 = series(r0, "glucose")
    assert np.median(v[t >= last_week]) < np.median(v0[t0 >= last_week]) - 60
    assert (v[t >= last_week] < 80).mean() > (v0[t0 >= last_week] < 80).mean() + 0.1
    _, dose = series(r1, "insulin_dose")
    assert np.unique(dose).size == 1  # the dose did not change
    assert e1.fleet.anomalies[0].category == "glycemic_control"


def test_sensor_detach_stops_the_readings() -> None:
    a, r1, r0 = _with_and_without("sensor_detach", "end-2d", duration="10h")
    t, _ = series(r1, "glucose")
    t0, _ = series(r0, "glucose")
    assert not ((t >= a.start) & (t <= a.end)).any()
    assert ((t0 >= a.start) & (t0 <= a.end)).sum() > 60
    assert a.category == "device_fault"


def test_hypoglycaemia_labels_carry_the_onset_of_the_true_low() -> None:
    """Each hypoglycaemia label has an ``onset``: the first minute its true blood glucose is < 60 mg/dL. An injected
    low's window opens with the 30-min fall towards its nadir, so its onset comes later; a spontaneous low's window
    opens at the crossing, so its onset is its start."""
    anomaly = {"recipe": "hypoglycaemia", "animal": "rex", "start": "end-2d", "duration": "2h"}
    e = engine(raw([anomaly]), days=6, seed=5)
    labels = e.labels(e.fleet.start, e.fleet.end)
    sim = e.simulators[0]
    pet = sim.pets[0]  # type: ignore[attr-defined]

    def truth_at(t: float) -> float:
        return float(sim.truth(pet, np.array([t]), int(t // DAY_S))[0])  # type: ignore[attr-defined]

    def epoch(text: str) -> float:
        return float(np.datetime64(text.rstrip("Z"), "s").astype(np.int64))

    injected = [lab for lab in labels if lab["recipe"] == "hypoglycaemia"]
    assert len(injected) == 1
    start, onset = epoch(injected[0]["start"]), epoch(injected[0]["onset"])
    fall = float(injected[0]["parameters"]["fall_min"]) * MINUTE_S  # ≥ 30 min: the fall's pace is capped
    assert start < onset <= start + fall + 15 * MINUTE_S
    assert truth_at(onset) < 60 <= truth_at(onset - MINUTE_S)
    spontaneous = [lab for lab in labels if lab["recipe"] == "spontaneous_hypoglycaemia"]
    assert spontaneous  # this seed's dog has lows of its own too
    for lab in spontaneous:
        assert lab["onset"] == lab["start"]
        assert truth_at(epoch(lab["onset"])) < 60
    assert all("onset" not in lab for lab in labels if lab["category"] != "hypoglycemia")


def test_a_low_in_progress_when_a_window_starts_is_labelled() -> None:
    """The labels of a window include the simulator's events that began before it and still go on (a true low in
    progress when a recording starts was unlabelled, and the alert on it counted as false)."""
    e = engine(raw(), days=6, seed=5)
    lows = [lab for lab in e.labels(e.fleet.start, e.fleet.end) if lab["recipe"] == "spontaneous_hypoglycaemia"]
    assert lows
    for lab in lows:
        t0 = float(np.datetime64(lab["start"].rstrip("Z"), "s").astype(np.int64))
        later = e.labels(t0 + 5 * MINUTE_S, e.fleet.end)
        assert lab in later
        assert lab not in e.labels(e.fleet.start, t0 - 5 * MINUTE_S)
