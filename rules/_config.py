"""Declarative rule sets: per-species TOML files in ``config/rules/``, clinic and animal overrides, versions.

A rule file names the species it applies to and lists ``[[rules]]`` tables (``id``, ``category``, ``kind``,
``severity``, ``source`` tag S/D/U, ``basis``, and the kind's parameters). An override replaces parameters of one
rule (by id) for a clinic or an animal; the animal's override wins over the clinic's. The *version* of the rule
set an animal is evaluated with is a hash of its effective rules, so any change of a file or an override gives a
new version, and every alert records the version it came from.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from rules._errors import RuleConfigError
from rules._model import CATEGORIES, SEVERITIES, Rule

KINDS = (
    "threshold",
    "glucose_mean",
    "glucose_curve",
    "stale",
    "rate",
    "compression",
    "rolling_drop",
    "no_event",
    "flatline",
    "udder",
    "yield",
    "fp_ratio",
    "daily_baseline",
    "activity",
    "lameness",
)
_META = ("id", "category", "kind", "severity", "source", "basis")
Overrides = Mapping[str, Mapping[str, Any]]  # rule id -> parameter -> value


@dataclass(frozen=True, slots=True)
class RuleSet:
    """The rules of each species, as read from the files."""

    by_species: dict[str, tuple[Rule, ...]]
    instructions: dict[str, dict[str, list[str]]]

    def for_animal(
        self, species: str, *, clinic: Overrides | None = None, animal: Overrides | None = None
    ) -> EffectiveRules:
        """The rules of ``species`` with the clinic's then the animal's overrides applied."""
        rules = []
        for rule in self.by_species.get(species, ()):
            only = rule.params.get("only_species")
            if only is not None and species not in only:
                continue
            params = dict(rule.params)
            per_species = params.pop("for_species", None)  # a [rules.for_species.SPECIES] table: its values win
            if isinstance(per_species, dict):
                params.update(per_species.get(species, {}))
            for layer in (clinic or {}, animal or {}):
                params.update(layer.get(rule.id, {}))
            severity = str(params.pop("severity", rule.severity))
            if severity not in SEVERITIES:
                raise RuleConfigError(f"rule {rule.id}: unknown severity {severity!r}")
            rules.append(replace(rule, params=params, severity=severity))
        return EffectiveRules(tuple(rules))


@dataclass(frozen=True, slots=True)
class EffectiveRules:
    """The rules one animal is evaluated with, and their version (a content hash)."""

    rules: tuple[Rule, ...]

    @property
    def version(self) -> str:
        """``sha256`` of the canonical JSON of the rules, first 12 hex digits."""
        return version_of(self.content())

    def content(self) -> list[dict[str, Any]]:
        """The rules as JSON-ready dicts (what the version hashes and the version table stores)."""
        return [
            {
                "id": r.id,
                "category": r.category,
                "kind": r.kind,
                "severity": r.severity,
                "source": r.source,
                "params": r.params,
            }
            for r in self.rules
        ]


def version_of(content: Any) -> str:
    """A short stable hash of JSON-serialisable ``content``."""
    text = json.dumps(content, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def load_rules(directory: Path) -> RuleSet:
    """Read every ``*.toml`` rule file of ``directory`` (and ``standing_instructions.toml``)."""
    if not directory.is_dir():
        raise RuleConfigError(f"no rule folder {directory}")
    by_species: dict[str, list[Rule]] = {}
    instructions: dict[str, dict[str, list[str]]] = {}
    for path in sorted(directory.glob("*.toml")):
        data = _read(path)
        if path.name == "standing_instructions.toml":
            instructions = _instructions(data, path)
            continue
        species = data.get("species")
        if not isinstance(species, list) or not all(isinstance(s, str) for s in species):
            raise RuleConfigError(f"{path}: 'species' must be a list of species names")
        for table in data.get("rules", []):
            rule = _rule(table, path)
            for s in species:
                by_species.setdefault(s, []).append(rule)
    for s, rules in by_species.items():
        ids = [r.id for r in rules]
        if len(ids) != len(set(ids)):
            raise RuleConfigError(f"duplicate rule id for species {s}")
    return RuleSet({s: tuple(r) for s, r in by_species.items()}, instructions)


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise RuleConfigError(f"{path}: {exc}") from exc


def _rule(table: Any, path: Path) -> Rule:
    if not isinstance(table, dict):
        raise RuleConfigError(f"{path}: a rule must be a table")
    missing = [k for k in _META if k not in table]
    if missing:
        raise RuleConfigError(f"{path}: rule {table.get('id', '?')} lacks {', '.join(missing)}")
    rid = str(table["id"])
    if table["category"] not in CATEGORIES:
        raise RuleConfigError(f"{path}: rule {rid}: unknown category {table['category']!r}")
    if table["kind"] not in KINDS:
        raise RuleConfigError(f"{path}: rule {rid}: unknown kind {table['kind']!r}")
    if table["severity"] not in SEVERITIES:
        raise RuleConfigError(f"{path}: rule {rid}: unknown severity {table['severity']!r}")
    if not {p.strip() for p in str(table["source"]).split("/")} <= {"S", "D", "U"}:
        raise RuleConfigError(f"{path}: rule {rid}: source must be S, D or U (or a combination like S/D)")
    params = {k: v for k, v in table.items() if k not in _META}
    return Rule(
        id=rid,
        category=str(table["category"]),
        kind=str(table["kind"]),
        severity=str(table["severity"]),
        source=str(table["source"]),
        basis=str(table["basis"]),
        params=params,
    )


def _instructions(data: dict[str, Any], path: Path) -> dict[str, dict[str, list[str]]]:
    out: dict[str, dict[str, list[str]]] = {}
    for category, langs in data.get("instructions", {}).items():
        if category not in CATEGORIES:
            raise RuleConfigError(f"{path}: unknown category {category!r}")
        out[category] = {lang: [str(x) for x in items] for lang, items in langs.items()}
    return out
