"""Glucose rule kinds on crafted series: fires, holds, resolves, does not flap, gaps, late data, the clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pandas as pd

from rules._engine import evaluate
from tests.rules.helpers import T0, ctx, every, frame, only

NOON = T0 + timedelta(hours=12)  # outside the night rest (22:00-06:00), where the early warning waits 5 min


def _hypo_series(values: list[float], step: float = 5.0) -> pd.DataFrame:
    return frame("glucose", every(T0, step, len(values)), values)


def test_hypoglycaemia_fires_after_15_minutes_and_resolves_after_30_minutes_above_70() -> None:
    values = [120.0] * 6 + [55.0] * 6 + [80.0] * 8
    eps = evaluate(_hypo_series(values), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=3))
    assert len(eps) == 1
    ep = eps[0]
    assert ep.category == "hypoglycemia"
    assert ep.severity == "urgent"
    assert ep.onset == T0 + timedelta(minutes=30)
    assert ep.start == T0 + timedelta(minutes=45)  # 4 readings spanning 15 min
    assert ep.end == T0 + timedelta(minutes=60)  # first reading of the 30 min above 70
    assert ep.evidence["extreme"] == 55.0
    assert "à confirmer au glucomètre" in ep.explanation_fr
    assert "confirm with a glucometer" in ep.explanation_en


def test_a_single_low_reading_or_a_short_dip_does_not_fire() -> None:
    values = [120.0] * 6 + [55.0] * 3 + [120.0] * 6
    assert evaluate(_hypo_series(values), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=2)) == []


def test_hysteresis_band_keeps_one_alert_and_below_50_is_severe() -> None:
    values = [120.0] + [55.0] * 5 + [65.0, 58.0, 66.0, 59.0, 64.0, 48.0, 62.0] * 3 + [90.0] * 8
    eps = evaluate(_hypo_series(values), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=4))
    assert len(eps) == 1
    assert eps[0].end is not None
    assert eps[0].evidence["extreme"] == 48.0


def test_back_above_70_briefly_does_not_resolve() -> None:
    values = [55.0] * 5 + [75.0] * 3 + [55.0] * 5
    eps = evaluate(_hypo_series(values), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=2))
    assert len(eps) == 1
    assert eps[0].open


def test_a_hole_in_the_data_is_not_a_recovery() -> None:
    times = every(T0, 5, 5) + every(T0 + timedelta(hours=3), 5, 3)
    eps = evaluate(frame("glucose", times, [55.0] * 8), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=4))
    assert len(eps) == 1
    assert eps[0].open


def test_late_and_out_of_order_rows_give_the_same_episodes() -> None:
    values = [120.0] * 6 + [52.0] * 6 + [90.0] * 8
    ordered = _hypo_series(values)
    shuffled = pd.concat([ordered.iloc[::2], ordered.iloc[1::2][::-1], ordered.iloc[3:5]])  # with duplicates
    now = T0 + timedelta(hours=3)
    assert evaluate(shuffled, ctx(), only("dog", "hypoglycemia"), now) == evaluate(
        ordered, ctx(), only("dog", "hypoglycemia"), now
    )


def test_the_clock_hides_readings_from_the_future() -> None:
    values = [120.0] * 6 + [55.0] * 6
    series = _hypo_series(values)
    assert evaluate(series, ctx(), only("dog", "hypoglycemia"), T0 + timedelta(minutes=40)) == []
    assert len(evaluate(series, ctx(), only("dog", "hypoglycemia"), T0 + timedelta(minutes=45))) == 1


def test_vet_override_moves_the_threshold_and_changes_the_version() -> None:
    values = [120.0] * 6 + [65.0] * 6 + [120.0] * 8
    default = only("dog", "hypoglycemia")
    custom = only("dog", "hypoglycemia", threshold=70.0, clear=80.0)
    assert default.version != custom.version
    assert evaluate(_hypo_series(values), ctx(), default, T0 + timedelta(hours=2)) == []
    assert len(evaluate(_hypo_series(values), ctx(), custom, T0 + timedelta(hours=2))) == 1
    # a vet may also take a cat back to the dogs' 60 mg/dL: the animal's override wins over the species table
    cat60 = only("cat", "hypoglycemia", threshold=60.0, clear=70.0)
    assert evaluate(_hypo_series(values), ctx("cat"), cat60, T0 + timedelta(hours=2)) == []


def test_a_cats_cgm_alerts_under_70_and_clears_above_80() -> None:
    """The FSL over-reads marked hypoglycaemia in cats (Tardo 2025): a cat's sensor at 65 for 30 min alerts, a dog's
    does not; the cat's alert stays open at 75 and resolves after 30 min above 80."""
    values = [120.0] * 6 + [65.0] * 6 + [75.0] * 8 + [90.0] * 8
    now = T0 + timedelta(hours=3)
    cat = evaluate(_hypo_series(values), ctx("cat"), only("cat", "hypoglycemia"), now)
    assert len(cat) == 1
    assert cat[0].evidence["threshold"] == 70.0
    assert cat[0].start == T0 + timedelta(minutes=45)
    assert cat[0].end == T0 + timedelta(minutes=100)  # the first reading above 80, held 30 min
    assert "confirm with a glucometer" in cat[0].explanation_en
    assert evaluate(_hypo_series(values), ctx(), only("dog", "hypoglycemia"), now) == []
    assert only("cat", "hypoglycemia").version != only("dog", "hypoglycemia").version


def test_a_low_that_never_recovers_is_confirmed_after_30_minutes() -> None:
    """A 15-min sensor reads 55, then 63, 65, 66: one reading under 60, but no sign of recovery for 45 min."""
    values = [130.0, 120.0, 55.0, 63.0, 65.0, 66.0, 99.0, 135.0, 150.0, 150.0]
    eps = evaluate(_hypo_series(values, step=15.0), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=3))
    assert len(eps) == 1
    assert eps[0].onset == T0 + timedelta(minutes=30)
    assert eps[0].start == T0 + timedelta(minutes=60)  # 30 min and 3 readings after the 55
    assert eps[0].end == T0 + timedelta(minutes=90)
    assert eps[0].evidence["predicted"] is False
    assert "confirm with a glucometer" in eps[0].explanation_en


def test_a_low_reading_with_a_short_or_interrupted_band_spell_does_not_fire() -> None:
    short = [130.0] * 4 + [55.0, 63.0, 65.0, 66.0, 64.0] + [120.0] * 10  # 5-min sensor: 20 min in the band
    assert evaluate(_hypo_series(short), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=2)) == []
    broken = [130.0, 120.0, 55.0, 63.0, 75.0, 65.0, 58.0, 99.0, 135.0, 150.0]  # 75: recovered in between
    assert evaluate(_hypo_series(broken, 15.0), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=3)) == []
    no_low = [130.0, 120.0, 65.0, 63.0, 65.0, 66.0, 99.0, 135.0, 150.0, 150.0]  # the band alone is not a low
    assert evaluate(_hypo_series(no_low, 15.0), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=3)) == []


def test_hyperglycaemia_needs_12_hours_above_400() -> None:
    values = [450.0] * 12 * 11
    rules = only("dog", "hyperglycemia_dka_risk")
    assert evaluate(_hypo_series(values), ctx(), rules, T0 + timedelta(hours=12)) == []
    values = [450.0] * 12 * 13
    eps = evaluate(_hypo_series(values), ctx(), rules, T0 + timedelta(hours=13))
    assert [e.category for e in eps] == ["hyperglycemia"]


def test_silent_cgm_is_a_data_gap_that_ends_with_the_next_reading() -> None:
    times = every(T0, 5, 12) + every(T0 + timedelta(hours=4), 5, 12)
    rules = only("dog", "cgm_silent")
    eps = evaluate(frame("glucose", times, [150.0] * 24), ctx(), rules, T0 + timedelta(hours=5))
    assert len(eps) == 1
    assert eps[0].category == "data_gap"
    assert eps[0].end == T0 + timedelta(hours=4)
    still = evaluate(frame("glucose", times[:12], [150.0] * 12), ctx(), rules, T0 + timedelta(hours=3))
    assert len(still) == 1
    assert still[0].open


def _curves(nadir: float, days: int) -> pd.DataFrame:
    times, values = [], []
    for k in range(days * 2):
        inj = T0 + timedelta(hours=12 * k)
        for m in range(0, 12 * 60, 15):
            h = m / 60.0
            depth = 250.0 - nadir
            v = 250.0 - depth * max(0.0, 1.0 - abs(h - 5.0) / 4.0)
            times.append(inj + timedelta(minutes=m))
            values.append(v)
    glucose = frame("glucose", times, values)
    doses = frame("insulin_dose", [T0 + timedelta(hours=12 * k) for k in range(days * 2)], [5.0] * (days * 2))
    return pd.concat([glucose, doses], ignore_index=True)


def test_low_nadir_on_two_cycles_is_a_glycaemic_control_review() -> None:
    rules = only("dog", "low_nadir")
    eps = evaluate(_curves(70.0, 2), ctx(), rules, T0 + timedelta(days=2))
    assert [e.category for e in eps] == ["glycemic_control"]
    assert eps[0].severity == "review"
    assert eps[0].evidence["lowest_nadir"] == 70.0
    assert evaluate(_curves(110.0, 2), ctx(), rules, T0 + timedelta(days=2)) == []


def test_jumps_that_no_blood_glucose_can_make_are_a_device_fault() -> None:
    values = [150.0, 150.0, 300.0, 150.0, 150.0, 320.0, 150.0] + [150.0] * 40
    eps = evaluate(
        frame("glucose", every(T0, 5, len(values)), values),
        ctx(),
        only("dog", "cgm_implausible_jump"),
        T0 + timedelta(hours=5),
    )
    assert [e.category for e in eps] == ["device_fault"]
    assert eps[0].end is not None


def test_a_fast_physiological_fall_gives_an_early_warning_but_a_step_does_not() -> None:
    fall = [150.0 - 3.0 * i for i in range(31)]  # 3 mg/dL/min on a 1-minute CGM, down to 60, in the afternoon
    eps = evaluate(
        frame("glucose", every(NOON, 1, len(fall)), fall),
        ctx(),
        only("dog", "hypoglycemia"),
        NOON + timedelta(minutes=30),
    )
    assert len(eps) == 1
    assert eps[0].evidence["predicted"] is True
    assert eps[0].start < NOON + timedelta(minutes=30)
    assert "Early warning" in eps[0].explanation_en
    step = [150.0] * 20 + [85.0] * 3
    assert (
        evaluate(
            frame("glucose", every(NOON, 1, len(step)), step),
            ctx(),
            only("dog", "hypoglycemia"),
            NOON + timedelta(minutes=30),
        )
        == []
    )


def _compression(start: datetime) -> pd.DataFrame:
    """A 1-min CGM: steady at 200, a compression dip of 45 % over 15 min (6 mg/dL/min), 30 min there, back."""
    dip = (
        [200.0] * 20 + [200.0 - 6.0 * i for i in range(1, 16)] + [110.0] * 30 + [110.0 + 9.0 * i for i in range(1, 11)]
    )
    return frame("glucose", every(start, 1, len(dip + [200.0] * 30)), dip + [200.0] * 30)


def test_a_night_compression_dip_gives_no_early_warning() -> None:
    """At night (22:00-06:00) a projection must hold 15 min: a compression's 15-min fall that stops at 110 is not
    projected long enough; the same dip in the afternoon still warns (a fall there is more likely a true one)."""
    night = T0 + timedelta(hours=2)
    assert evaluate(_compression(night), ctx(), only("dog", "hypoglycemia"), night + timedelta(hours=2)) == []
    day = evaluate(_compression(NOON), ctx(), only("dog", "hypoglycemia"), NOON + timedelta(hours=2))
    assert len(day) == 1
    assert day[0].evidence["predicted"] is True


def test_a_true_fall_at_night_still_warns_before_the_sensor_reads_under_60_for_15_minutes() -> None:
    fall = [200.0 - 3.0 * i for i in range(54)] + [40.0] * 30  # 3 mg/dL/min from 200 at 02:00, to 41
    night = T0 + timedelta(hours=2)
    eps = evaluate(
        frame("glucose", every(night, 1, len(fall)), fall),
        ctx(),
        only("dog", "hypoglycemia"),
        night + timedelta(hours=2),
    )
    assert len(eps) == 1
    assert eps[0].evidence["predicted"] is True
    under_60 = night + timedelta(minutes=47)  # 59 mg/dL; the threshold alone would confirm 15 min later
    assert night + timedelta(minutes=40) <= eps[0].start < under_60


def test_on_a_15_minute_sensor_the_early_warning_uses_the_last_three_readings() -> None:
    # a fall of 4-6 mg/dL/min seen by a scanned sensor: one reading under 60 only, then back up
    values = [250.0, 190.0, 130.0, 85.0, 45.0, 90.0, 150.0, 180.0, 180.0, 180.0]
    eps = evaluate(_hypo_series(values, step=15.0), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=3))
    assert len(eps) == 1
    assert eps[0].evidence["predicted"] is True
    assert eps[0].start == T0 + timedelta(minutes=45)  # at 85 mg/dL: 130 then 85, both projected < 60 in 20 min
    assert eps[0].end is not None
    # a slow fall to the same single low is not projected: the persistence rule (2 readings < 60) stands
    slow = [120.0, 110.0, 100.0, 90.0, 55.0, 90.0, 150.0, 180.0, 180.0, 180.0]
    assert evaluate(_hypo_series(slow, step=15.0), ctx(), only("dog", "hypoglycemia"), T0 + timedelta(hours=3)) == []


def test_a_projection_must_hold_5_minutes_before_it_warns() -> None:
    # a 1-min CGM dips at 6 mg/dL/min for 7 minutes (to 88) and comes back: projected < 60 for only a few minutes
    dip = [130.0] * 15 + [130.0 - 6.0 * i for i in range(1, 8)] + [88.0 + 8.0 * i for i in range(1, 6)] + [130.0] * 40
    series = frame("glucose", every(NOON, 1, len(dip)), dip)
    now = NOON + timedelta(hours=1)
    assert len(evaluate(series, ctx(), only("dog", "hypoglycemia", predict_hold_min=0.0), now)) == 1
    assert evaluate(series, ctx(), only("dog", "hypoglycemia"), now) == []
