"""Backtest scoring: the delay of a hypoglycaemia counts from the label's onset (true glucose < 60 mg/dL)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from rules._backtest import AnimalSpec, score
from rules._model import AnimalContext, Episode

from .helpers import ruleset

T0 = datetime(2026, 11, 20, 8, 0, tzinfo=UTC)
REX = [AnimalSpec(AnimalContext(animal_id="rex", species="dog", clinic_id="c", calving=None), {})]


def _alert(start_min: float, end_min: float | None = 90) -> tuple[str, Episode]:
    return (
        "rex",
        Episode(
            rule_id="hypoglycemia",
            category="hypoglycemia",
            severity="urgent",
            onset=T0 + timedelta(minutes=start_min),
            start=T0 + timedelta(minutes=start_min),
            end=None if end_min is None else T0 + timedelta(minutes=end_min),
            evidence={},
            explanation_fr="",
            explanation_en="",
        ),
    )


def _label(onset_min: float | None, recipe: str = "hypoglycaemia", shift_h: float = 0) -> dict[str, Any]:
    base = T0 + timedelta(hours=shift_h)
    return {
        "animal_id": "rex",
        "category": "hypoglycemia",
        "recipe": recipe,
        "start": base,
        "end": base + timedelta(minutes=120),
        "onset": None if onset_min is None else base + timedelta(minutes=onset_min),
    }


def _scores(alerts: list[tuple[str, Episode]], labels: list[dict[str, Any]]) -> dict[str, Any]:
    out = score(alerts, labels, REX, ruleset(), T0 - timedelta(days=1), T0 + timedelta(days=1))
    hypo: dict[str, Any] = out["hypoglycemia"]
    return hypo


def test_the_delay_counts_from_the_onset_and_the_delay_from_the_start_is_reported_beside_it() -> None:
    s = _scores([_alert(35)], [_label(25)])
    assert (s["recall"], s["median_delay_min"], s["median_delay_from_start_min"]) == (1.0, 10.0, 35.0)


def test_an_alert_before_the_onset_counts_zero_not_a_negative_delay() -> None:
    s = _scores([_alert(15)], [_label(25)])  # the early warning, before the true glucose crosses 60
    assert (s["median_delay_min"], s["median_delay_from_start_min"]) == (0.0, 15.0)


def test_a_label_without_onset_counts_from_its_start() -> None:
    s = _scores([_alert(35)], [_label(None)])
    assert s["median_delay_min"] == 35.0
    assert "median_delay_from_start_min" not in s  # no label of the category has an onset: one delay only
    # old label files (no onset key at all) are scored as before
    old = _label(None)
    del old["onset"]
    assert _scores([_alert(35)], [old])["median_delay_min"] == 35.0


def test_per_recipe_and_with_data_get_both_delays() -> None:
    labels = [_label(25), _label(0, "spontaneous_hypoglycaemia", shift_h=5)]
    s = _scores([_alert(35), _alert(5 * 60 + 12, 5 * 60 + 60)], labels)
    assert s["median_delay_min"] == 11.0  # median of 10 and 12
    assert s["by_recipe"]["hypoglycaemia"]["median_delay_min"] == 10.0
    assert s["by_recipe"]["hypoglycaemia"]["median_delay_from_start_min"] == 35.0
    assert s["by_recipe"]["spontaneous_hypoglycaemia"]["median_delay_from_start_min"] == 12.0
