"""Backtest: the same engine over a recording (``vigie simulate --out``), scored against its labels.

Scoring (per alert category):

- a **label is detected** when an alert of its category for the same animal is open at some point between the
  label's start and its end plus the category's grace (``GRACE``); the **delay** is the alert's start (the moment
  the condition was confirmed, measurement time) minus the label's **onset** when it has one, else its start; 0
  when the alert was already open (or, from an onset, opened before it: an early warning);
- a hypoglycaemia label's ``onset`` (written by the simulator) is the first minute its true blood glucose is
  < 60 mg/dL: the delay from it is how long the animal was hypoglycaemic before the alert, which is what the
  issue's "median delay ≤ 30 min" is about. The delay from the window's start is reported beside it
  (``median_delay_from_start_min``): an injected low's window opens with the 30-min fall towards its nadir;
- an **alert is true** when it overlaps a label of the same animal whose category is the alert's or one that
  explains it (``RELATED``: a mastitis lowers the yield too), widened by the grace; else it is a **false alert**;
- **false alerts per animal-week**: false alerts ÷ (animals evaluated by a rule of that category x weeks);
- **per recipe** (``by_recipe``): the same recall and delay for each kind of label of a category (an injected
  hypoglycaemia's window opens with the 30-min fall towards its nadir; a spontaneous one's opens when the true
  blood glucose crosses 60 mg/dL), so that a mixture never hides one kind;
- **recall with data**: recall over the labels during which the animal's sensor sent at least one reading of the
  category's metric (``OBSERVED_BY``): a low inside a sensor gap is invisible to any rule;
- **mastitis per cow-day** (Hogeveen 2010's terms): sensitivity = labelled cases detected within 48 h of their
  start; specificity = cow-days outside any mastitis label (± 2 days) without an open mastitis alert ÷ such days.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from rules._config import Overrides, RuleSet
from rules._engine import evaluate
from rules._errors import RuleConfigError
from rules._model import CATEGORIES, AnimalContext, Episode

GRACE = {
    "hypoglycemia": timedelta(hours=1),
    "data_gap": timedelta(hours=1),
    "device_fault": timedelta(hours=2),
    "estrus": timedelta(hours=6),
}
DEFAULT_GRACE = timedelta(hours=24)
RELATED = {
    "milk_yield_drop": {"mastitis", "ketosis", "lameness", "estrus"},
    "hypoglycemia": {"glycemic_control", "feed_intake_drop"},
    "hyperglycemia": {"glycemic_control", "insulin_duration"},
    "glycemic_control": {"hypoglycemia", "feed_intake_drop"},
    "feed_intake_drop": {"water_intake_drop", "device_fault"},
    "water_intake_drop": {"feed_intake_drop"},
    "data_gap": {"device_fault"},
    "device_fault": {"data_gap"},
    "lameness": {"mastitis", "ketosis"},
    "ketosis": set(),
}


OBSERVED_BY = {
    "hypoglycemia": "glucose",
    "hyperglycemia": "glucose",
    "glycemic_control": "glucose",
    "insulin_duration": "glucose",
}


@dataclass(frozen=True, slots=True)
class AnimalSpec:
    """One entry of ANIMALS.json."""

    context: AnimalContext
    overrides: dict[str, dict[str, Any]]


def read_animals(path: Path) -> list[AnimalSpec]:
    """ANIMALS.json: a list of objects with ``animal_id``, ``species`` and optional ``clinic_id``, ``calving``
    (RFC 3339) and ``overrides`` ({rule id: {parameter: value}})."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise RuleConfigError(f"{path}: {exc}") from exc
    if not isinstance(data, list):
        raise RuleConfigError(f"{path}: expected a JSON list of animals")
    out = []
    for i, obj in enumerate(data):
        if not isinstance(obj, dict) or "animal_id" not in obj or "species" not in obj:
            raise RuleConfigError(f"{path}: entry {i} needs animal_id and species")
        calving = obj.get("calving")
        ctx = AnimalContext(
            animal_id=str(obj["animal_id"]),
            species=str(obj["species"]),
            clinic_id=str(obj.get("clinic_id", "")),
            calving=None if calving is None else datetime.fromisoformat(str(calving)),
        )
        out.append(AnimalSpec(ctx, dict(obj.get("overrides") or {})))
    return out


def read_labels(path: Path) -> list[dict[str, Any]]:
    """The labels a recording's simulator wrote (one JSON object per line)."""
    out = []
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise RuleConfigError(f"{path}: {exc}") from exc
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
            obj["start"] = datetime.fromisoformat(obj["start"])
            obj["end"] = datetime.fromisoformat(obj["end"])
            if obj.get("onset") is not None:
                obj["onset"] = datetime.fromisoformat(obj["onset"])
        except (ValueError, KeyError, TypeError) as exc:
            raise RuleConfigError(f"{path}:{n}: bad label ({exc})") from exc
        out.append(obj)
    return out


def run_backtest(
    frame: pd.DataFrame, animals: list[AnimalSpec], ruleset: RuleSet, *, clinic: Overrides | None = None
) -> tuple[list[tuple[str, Episode]], datetime, datetime]:
    """Evaluate every animal over the whole recording, as of its last reading; (animal id, episode) pairs."""
    start = pd.Timestamp(frame["time"].min()).to_pydatetime()
    end = pd.Timestamp(frame["time"].max()).to_pydatetime()
    groups = dict(tuple(frame.groupby("animal_id", sort=False)))
    out: list[tuple[str, Episode]] = []
    for spec in animals:
        part = groups.get(spec.context.animal_id)
        if part is None:
            continue
        rules = ruleset.for_animal(spec.context.species, clinic=clinic, animal=spec.overrides)
        out.extend(
            (spec.context.animal_id, ep) for ep in evaluate(part.reset_index(drop=True), spec.context, rules, end)
        )
    return out, start, end


def _overlaps(ep: Episode, lo: datetime, hi: datetime, now: datetime) -> bool:
    return ep.start <= hi and (ep.end or now) >= lo


def _observed(frame: pd.DataFrame | None) -> dict[tuple[str, str], pd.DatetimeIndex]:
    if frame is None or frame.empty:
        return {}
    part = frame[frame["metric"].isin(set(OBSERVED_BY.values()))]
    return {
        (str(a), str(m)): pd.DatetimeIndex(g["time"]).sort_values()
        for (a, m), g in part.groupby(["animal_id", "metric"], sort=False)
    }


def _has_data(seen: dict[tuple[str, str], pd.DatetimeIndex], lab: dict[str, Any]) -> bool:
    times = seen.get((lab["animal_id"], OBSERVED_BY[lab["category"]]))
    if times is None:
        return False
    lo = int(times.searchsorted(pd.Timestamp(lab["start"])))
    return bool(lo < len(times) and times[lo] <= pd.Timestamp(lab["end"]))


Delays = tuple[float, float] | None  # (from the onset or start, from the start) in minutes; None: not detected


def _median(values: list[float]) -> float | None:
    return None if not values else round(statistics.median(values), 1)


def _recall_delay(found: list[tuple[dict[str, Any], Delays]], *, onsets: bool = False) -> dict[str, Any]:
    delays = [d for _, d in found if d is not None]
    out = {
        "labels": len(found),
        "detected": len(delays),
        "recall": None if not found else round(len(delays) / len(found), 3),
        "median_delay_min": _median([d[0] for d in delays]),
    }
    if onsets:
        out["median_delay_from_start_min"] = _median([d[1] for d in delays])
    return out


def _delays(first: Episode, lab: dict[str, Any]) -> tuple[float, float]:
    """Minutes from the label's onset (its start without one) and from its start to the alert's confirmation."""
    onset = lab.get("onset") or lab["start"]
    return (
        max(0.0, (first.start - onset).total_seconds() / 60.0),
        max(0.0, (first.start - lab["start"]).total_seconds() / 60.0),
    )


def score(
    alerts: list[tuple[str, Episode]],
    labels: list[dict[str, Any]],
    animals: list[AnimalSpec],
    ruleset: RuleSet,
    start: datetime,
    end: datetime,
    frame: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Per-category recall, precision, false alerts per animal-week, median delay; mastitis per cow-day.

    With the recording's ``frame``, the categories of ``OBSERVED_BY`` also get the recall over the labels during
    which the sensor sent data."""
    seen = _observed(frame)
    weeks = max((end - start).total_seconds() / (7 * 86400), 1e-9)
    by_animal: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for lab in labels:
        by_animal[lab["animal_id"]].append(lab)
    evaluated: dict[str, int] = defaultdict(int)
    for spec in animals:
        for cat in {r.category for r in ruleset.for_animal(spec.context.species, animal=spec.overrides).rules}:
            evaluated[cat] += 1
    out: dict[str, Any] = {}
    for cat in CATEGORIES:
        cat_alerts = [(a, e) for a, e in alerts if e.category == cat]
        cat_labels = [lab for lab in labels if lab["category"] == cat]
        if not cat_alerts and not cat_labels:
            continue
        grace = GRACE.get(cat, DEFAULT_GRACE)
        onsets = any(lab.get("onset") is not None for lab in cat_labels)
        per_label: list[tuple[dict[str, Any], Delays]] = []
        for lab in cat_labels:
            hits = [
                e
                for a, e in cat_alerts
                if a == lab["animal_id"] and _overlaps(e, lab["start"], lab["end"] + grace, end)
            ]
            per_label.append((lab, _delays(min(hits, key=lambda e: e.start), lab) if hits else None))
        found = _recall_delay(per_label, onsets=onsets)
        explaining = {cat} | RELATED.get(cat, set())
        true = 0
        for a, e in cat_alerts:
            if any(
                lab["category"] in explaining and _overlaps(e, lab["start"] - grace, lab["end"] + grace, end)
                for lab in by_animal.get(a, [])
            ):
                true += 1
        false = len(cat_alerts) - true
        out[cat] = {
            "labels": len(cat_labels),
            "detected": found["detected"],
            "recall": found["recall"],
            "alerts": len(cat_alerts),
            "true_alerts": true,
            "precision": None if not cat_alerts else round(true / len(cat_alerts), 3),
            "false_alerts": false,
            "false_per_animal_week": round(false / max(evaluated.get(cat, 0), 1) / weeks, 3),
            "median_delay_min": found["median_delay_min"],
        }
        if onsets:
            out[cat]["median_delay_from_start_min"] = found["median_delay_from_start_min"]
        recipes = sorted({str(lab.get("recipe", "")) for lab in cat_labels})
        if len(recipes) > 1:
            out[cat]["by_recipe"] = {
                r: _recall_delay([(lab, d) for lab, d in per_label if str(lab.get("recipe", "")) == r], onsets=onsets)
                for r in recipes
            }
        if cat in OBSERVED_BY and seen and cat_labels:
            visible = [(lab, d) for lab, d in per_label if _has_data(seen, lab)]
            out[cat]["with_data"] = _recall_delay(visible, onsets=onsets)
    cows = [s.context.animal_id for s in animals if s.context.species == "cow"]
    if cows:
        out["mastitis_cow_day"] = _cow_days(alerts, labels, cows, start, end)
    return out


def _cow_days(
    alerts: list[tuple[str, Episode]], labels: list[dict[str, Any]], cows: list[str], start: datetime, end: datetime
) -> dict[str, Any]:
    cases = [lab for lab in labels if lab["category"] == "mastitis" and lab["animal_id"] in cows]
    mast = [(a, e) for a, e in alerts if e.category == "mastitis"]
    window = timedelta(hours=48)
    found = sum(
        1
        for lab in cases
        if any(
            a == lab["animal_id"] and _overlaps(e, lab["start"] - window, lab["start"] + window, end) for a, e in mast
        )
    )
    first_day = pd.Timestamp(start).normalize() + pd.Timedelta(days=1)
    last_day = pd.Timestamp(end).normalize() - pd.Timedelta(days=1)
    days = [d.to_pydatetime() for d in pd.date_range(first_day, last_day, freq="D")]
    negatives = alarms = 0
    for cow in cows:
        mine = [lab for lab in cases if lab["animal_id"] == cow]
        eps = [e for a, e in mast if a == cow]
        for d in days:
            hi = d + timedelta(days=1)
            if any(_overlaps_label(lab, d - timedelta(days=2), hi + timedelta(days=2)) for lab in mine):
                continue
            negatives += 1
            if any(_overlaps(e, d, hi, end) for e in eps):
                alarms += 1
    return {
        "cases": len(cases),
        "detected_within_48h": found,
        "sensitivity": None if not cases else round(found / len(cases), 3),
        "negative_cow_days": negatives,
        "false_alarm_cow_days": alarms,
        "specificity": None if not negatives else round(1 - alarms / negatives, 4),
    }


def _overlaps_label(lab: dict[str, Any], lo: datetime, hi: datetime) -> bool:
    return bool(lab["start"] <= hi and lab["end"] >= lo)
