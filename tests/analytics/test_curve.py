"""Glucose-curve analysis per insulin cycle: hand-built curves with known answers."""

from __future__ import annotations

import pandas as pd
import pytest

from analytics import CompressionRule, CurveTargets, analyse_cycles, compression_lows
from analytics._curve import COMPRESSION, NADIR_HIGH, NADIR_LOW, NO_EFFECT, SHORT_DURATION, SOMOGYI
from tests.analytics.helpers import T0, series

# hourly readings, injections at 0 h, 12 h and 24 h (4 U, 4 U, 5 U)
HOURS = list(range(36))
CYCLE_A = [300, 260, 200, 150, 120, 140, 180, 230, 250, 280, 300, 310]  # nadir 120 at 4 h, back ≥ 240 at 8 h
CYCLE_B = [320, 280, 230, 180, 60, 130, 260, 300, 320, 330, 340, 350]  # nadir 60 at 4 h, back ≥ 256 at 6 h
CYCLE_C = [350, 300, 200, 100, 50, 150, 300, 420, 450, 440, 430, 420]  # nadir 50 then 450 within 12 h
VALUES = [*CYCLE_A, *CYCLE_B, *CYCLE_C]


def glucose() -> pd.Series[float]:
    return series([h * 60 for h in HOURS], VALUES)


def injections(hours: list[float] | None = None, doses: list[float] | None = None) -> pd.Series[float]:
    hours = [0, 12, 24] if hours is None else hours
    return series([h * 60 for h in hours], doses or [4.0, 4.0, 5.0][: len(hours)])


def test_three_cycles_hand_checked() -> None:
    a, b, c = analyse_cycles(glucose(), injections())

    assert a.injection == T0
    assert a.end == T0 + pd.Timedelta(hours=12)
    assert a.dose == 4.0
    assert a.n == 12
    assert a.pre_insulin == 300
    assert (a.nadir, a.time_to_nadir_h) == (120, 4.0)
    assert a.nadir_time == T0 + pd.Timedelta(hours=4)
    assert (a.peak, a.peak_time) == (310, T0 + pd.Timedelta(hours=11))
    assert a.duration_h == 8.0
    assert not a.duration_censored
    assert a.mean == pytest.approx(sum(VALUES[:12]) / 12)
    assert a.flags == ()

    assert b.pre_insulin == 320
    assert (b.nadir, b.time_to_nadir_h) == (60, 4.0)
    assert b.duration_h == 6.0
    assert set(b.flags) == {NADIR_LOW, SHORT_DURATION}  # max after the nadir 350 < 400: no Somogyi

    assert c.dose == 5.0
    assert c.end == T0 + pd.Timedelta(hours=35)  # last cycle ends at the last reading
    assert (c.nadir, c.peak) == (50, 450)
    assert set(c.flags) == {NADIR_LOW, SHORT_DURATION, SOMOGYI}


def test_fast_fall_then_high_is_somogyi_like() -> None:
    # fall from 320 to 140 (-56 %) within 3 h, nadir 140 (not < 65), then 320 within 12 h
    g = series([h * 60 for h in range(12)], [320, 250, 180, 140, 160, 200, 250, 300, 320, 330, 330, 330])
    (cycle,) = analyse_cycles(g, injections([0], [3.0]))
    assert SOMOGYI in cycle.flags
    assert NADIR_LOW not in cycle.flags
    # the same curve with a slower fall is not
    slow = series([h * 60 for h in range(12)], [320, 300, 280, 260, 200, 140, 250, 300, 320, 330, 330, 330])
    (cycle,) = analyse_cycles(slow, injections([0], [3.0]))
    assert SOMOGYI not in cycle.flags


def test_nadir_above_target_and_no_effect() -> None:
    g = series([h * 60 for h in range(12)], [400, 390, 380, 350, 340, 345, 360, 380, 390, 400, 400, 400])
    (cycle,) = analyse_cycles(g, injections([0], [2.0]))
    assert cycle.nadir == 340
    assert cycle.duration_h == 0.0  # never below 0.8 * 400 = 320
    assert set(cycle.flags) == {NADIR_HIGH, NO_EFFECT}


def test_censored_duration_when_still_low_at_the_next_injection() -> None:
    g = series([h * 60 for h in range(14)], [300, 250, 200, 150, 120, 110, 110, 120, 130, 140, 150, 160, 300, 300])
    first, _ = analyse_cycles(g, injections([0, 12]))
    assert first.duration_h == 12.0
    assert first.duration_censored
    assert SHORT_DURATION not in first.flags


def test_q24_cycles_use_the_18_hour_threshold() -> None:
    minutes = [h * 60 for h in range(25)]
    values = [300, 250, 200, 150, 120, 110, 110, 120, 130, 140, 150, 160, 200, 250, 260, 280, 300, 300, 300, 300]
    values += [300] * (25 - len(values))
    first, _ = analyse_cycles(series(minutes, values), injections([0, 24]))
    assert first.duration_h == 13.0  # back ≥ 240 at 13 h
    assert SHORT_DURATION in first.flags  # q24 cycle: 13 h < 18 h
    q12_first, _ = analyse_cycles(series(minutes, values), injections([0, 13]))
    assert SHORT_DURATION not in q12_first.flags  # 13-h cycle counts as q12: censored at 13 h


def test_pre_insulin_fallbacks() -> None:
    before = series([-20, 60, 120, 180], [300, 200, 150, 250])
    (cycle,) = analyse_cycles(before, injections([0], [1.0]))
    assert cycle.pre_insulin == 300  # 20 min before the injection
    after = series([10, 60, 120, 180], [280, 200, 150, 250])
    (cycle,) = analyse_cycles(after, injections([0], [1.0]))
    assert cycle.pre_insulin == 280  # 10 min after, no reading before
    none = series([-90, 60, 120], [280, 200, 150])
    (cycle,) = analyse_cycles(none, injections([0], [1.0]))
    assert cycle.pre_insulin is None
    assert cycle.duration_h is None
    assert cycle.nadir == 150


def test_single_reading_and_cycle_without_readings() -> None:
    (cycle,) = analyse_cycles(series([0], [200.0]), injections([0], [1.0]))
    assert (cycle.n, cycle.nadir, cycle.peak, cycle.pre_insulin) == (1, 200.0, 200.0, 200.0)
    assert NO_EFFECT in cycle.flags
    first, second = analyse_cycles(series([0, 60], [200.0, 150.0]), injections([0, 48]))
    assert second.n == 0
    assert second.nadir is None
    assert second.flags == ()
    assert first.n == 2


def test_unsorted_and_duplicated_input_give_the_same_cycles() -> None:
    g = glucose()
    shuffled = pd.concat([g.iloc[20:], g.iloc[:20], g.iloc[5:8]])  # unsorted, with duplicated timestamps
    inj = injections()
    assert analyse_cycles(shuffled, pd.concat([inj.iloc[::-1], inj.iloc[:1]])) == analyse_cycles(g, inj)


def test_compression_low_detected_and_flagged() -> None:
    minutes = list(range(0, 200, 5))
    values = [150.0] * len(minutes)
    values[minutes.index(105)] = 110.0
    values[minutes.index(110)] = 65.0
    values[minutes.index(115)] = 60.0  # 150 → 60 in 15 min: 6 mg/dL/min
    values[minutes.index(120)] = 100.0
    values[minutes.index(125)] = 140.0  # ≥ 0.8 * 150 within 45 min
    g = series(minutes, values)
    assert compression_lows(g) == [T0 + pd.Timedelta(minutes=115)]
    (cycle,) = analyse_cycles(g, injections([0], [1.0]))
    assert COMPRESSION in cycle.flags
    assert cycle.nadir == 60.0
    # the dip's readings below 0.8 * 150 are left out; the 140 of the way back up stays
    assert cycle.nadir_excl_artefacts == 140.0
    assert NADIR_LOW in cycle.flags  # the raw nadir still counts: the artefact is only possible
    # with the §6.1 depth condition (bottom < 70 mg/dL) it still qualifies; with < 50 it does not
    assert compression_lows(g, CompressionRule(low=70.0)) == [T0 + pd.Timedelta(minutes=115)]
    assert compression_lows(g, CompressionRule(low=50.0)) == []


def test_shallow_compression_at_high_glucose_and_on_15_minute_data() -> None:
    # 170 → 90 in 15 min, held 25 min, back to 170 in 15 min (domain §7.1 shape): found whatever the depth
    minutes = list(range(0, 240, 5))
    values = [170.0] * len(minutes)
    for m, v in [(105, 140.0), (110, 110.0), (115, 90.0), (120, 92.0), (130, 91.0), (140, 93.0), (145, 130.0)]:
        values[minutes.index(m)] = v
    for m in (125, 135):
        values[minutes.index(m)] = 92.0
    assert compression_lows(series(minutes, values)) == [T0 + pd.Timedelta(minutes=115)]
    stored = [m for m in minutes if m % 15 == 0]
    sparse = series(stored, [values[minutes.index(m)] for m in stored])
    assert compression_lows(sparse) == [T0 + pd.Timedelta(minutes=120)]


def test_fast_insulin_fall_caught_mid_descent_is_not_an_artefact() -> None:
    # a Somogyi-like curve: 360 → 54 within an hour, 45 min low, then a rebound: the pre-drop reading of any
    # 20-min window is itself falling, so this is not a compression artefact
    values = [
        360,
        346,
        324,
        289,
        249,
        204,
        161,
        129,
        106,
        89,
        69,
        54,
        59,
        64,
        67,
        64,
        60,
        56,
        55,
        56,
        87,
        126,
        171,
        218,
    ]
    values += [265, 300, 320]
    g = series([5 * i for i in range(len(values))], values)
    assert compression_lows(g) == []


def test_slow_genuine_low_is_not_compression() -> None:
    minutes = list(range(0, 400, 5))
    values = [max(150.0 - 0.5 * m, 55.0) for m in minutes]  # 0.5 mg/dL/min down to 55 and stays
    assert compression_lows(series(minutes, values)) == []
    # a fast drop that does not recover within 45 min is not compression either
    fast = [150.0] * 20 + [60.0] * 20
    assert compression_lows(series(list(range(0, 200, 5)), fast)) == []


def test_custom_targets_and_units() -> None:
    strict = CurveTargets(nadir_low=130.0)
    a, *_ = analyse_cycles(glucose(), injections(), strict)
    assert NADIR_LOW in a.flags
    d = a.to_dict("mmol/L")
    assert d["nadir"] == pytest.approx(120 / 18, abs=0.005)
    assert d["pre_insulin"] == pytest.approx(300 / 18, abs=0.005)
    assert a.to_dict("g/L")["peak"] == pytest.approx(3.1)
    assert d["flags"] == [NADIR_LOW]


def test_cycle_coverage() -> None:
    a, b, c = analyse_cycles(glucose(), injections())
    assert (a.coverage, b.coverage, c.coverage) == (100.0, 100.0, 100.0)
    holes = glucose().drop(glucose().index[[14, 15, 16]])  # 3 of cycle B's 12 hourly readings missing
    _, b, _ = analyse_cycles(holes, injections())
    assert b.coverage == pytest.approx(75.0)
    assert b.to_dict()["coverage"] == pytest.approx(75.0)
    # a cycle whose readings stop after 3 h: 3 of 12 expected
    short = series([h * 60 for h in (0, 1, 2, 12)], [300.0, 250.0, 200.0, 310.0])
    first, _ = analyse_cycles(short, injections([0, 12]))
    assert first.coverage == pytest.approx(25.0)
