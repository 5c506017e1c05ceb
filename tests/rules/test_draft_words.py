"""Every finding of a draft reads as plain French and English: no rule id, no snake_case name, in any category.

Checked on the episodes the engine raises over the simulated `vigie up` fleet (pets, horses, a herd) and, for every
one of the 13 categories, on an alert whose evidence holds nothing the draft recognises (the fallback sentence).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from analytics import read_jsonl
from rules._backtest import AnimalSpec, run_backtest
from rules._drafts import AlertFacts, Recipient, compose
from rules._model import CATEGORIES, AnimalContext, Episode
from simulators._run import Timeline, generate_to_file
from simulators._scenario import load_scenario
from tests.rules.helpers import ruleset
from vigie.catalog import load_catalog

SNAKE = re.compile(r"\b[A-Za-z0-9]+(?:_[A-Za-z0-9]+)+\b")
END = datetime(2026, 11, 23, 12, tzinfo=UTC)
SPECIES = {
    "hypoglycemia": "dog",
    "hyperglycemia": "cat",
    "glycemic_control": "dog",
    "insulin_duration": "cat",
    "feed_intake_drop": "horse",
    "water_intake_drop": "pony",
    "data_gap": "dog",
    "device_fault": "horse",
}


def _rule_ids() -> set[str]:
    rs = ruleset()
    return {r.id for species in ("dog", "cat", "horse", "pony", "cow") for r in rs.for_animal(species).rules}


def _identifiers(body: str) -> list[str]:
    words = set(re.findall(r"[\w-]+", body))
    return sorted(set(SNAKE.findall(body)) | (words & _rule_ids()))


def _draft(ep: Episode, species: str, lang: str) -> str:
    facts = AlertFacts(ep.category, ep.severity, ep.rule_id, ep.start, ep.end or END, ep.evidence)
    to = Recipient("Rex", species, "Claire Martin", "Clinique du Parc", lang, "mmol/L" if lang == "fr" else "mg/dL")
    return compose([facts], to, ruleset().instructions)


@pytest.fixture(scope="module")
def fleet_episodes(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[str, Episode]]:
    """The episodes of every rule over 7 days of the `default` scenario (the fleet `vigie up` simulates)."""
    scenario = load_scenario("default")
    out = tmp_path_factory.mktemp("fleet") / "default.jsonl"
    span = Timeline((END - timedelta(days=7)).timestamp(), END.timestamp())
    generate_to_file(scenario, out, seed=scenario.seed, span=span)
    frame = read_jsonl(out, catalog=load_catalog(Path(__file__).resolve().parents[2] / "config"))
    specs = [AnimalSpec(AnimalContext(a.id, a.species, a.clinic), {}) for a in scenario.animals]
    species = {a.id: a.species for a in scenario.animals}
    found, _, _ = run_backtest(frame, specs, ruleset())
    return [(species[a], ep) for a, ep in found]


@pytest.mark.parametrize("lang", ["fr", "en"])
def test_every_engine_finding_over_the_simulated_fleet_is_plain_words(
    fleet_episodes: list[tuple[str, Episode]], lang: str
) -> None:
    categories = {ep.category for _, ep in fleet_episodes}
    assert len(categories) >= 11  # pets, horses and cows: nearly every category is raised by this fleet
    for species, ep in fleet_episodes:
        body = _draft(ep, species, lang)
        assert _identifiers(body) == [], (ep.rule_id, body)


@pytest.mark.parametrize("lang", ["fr", "en"])
@pytest.mark.parametrize("category", CATEGORIES)
def test_every_category_reads_plainly_even_with_evidence_the_draft_does_not_know(category: str, lang: str) -> None:
    rule_id = next(
        r.id for s in ("dog", "horse", "cow") for r in ruleset().for_animal(s).rules if r.category == category
    )
    start = END - timedelta(hours=3)
    ep = Episode(rule_id, category, "review", start, start, END, {"flag": "short_duration", "rule": rule_id}, "", "")
    body = _draft(ep, SPECIES.get(category, "cow"), lang)
    assert _identifiers(body) == [], body
    assert ("Ce que montrent les données" if lang == "fr" else "What the data show") in body


def test_the_check_sees_an_identifier_when_there_is_one() -> None:
    assert _identifiers("Signal « short_duration » entre 10:00 et 11:00.") == ["short_duration"]
    assert _identifiers("alerte mastitis_ec ouverte") == ["mastitis_ec"]
    assert _identifiers("Signal 'hypoglycemia' between 10:00 and 11:00") == ["hypoglycemia"]
    assert _identifiers("La glycémie est restée trop haute.") == []
