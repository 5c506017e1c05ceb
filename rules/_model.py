"""Rule-engine data types: categories, severities, rules, findings (what a rule saw) and alert episodes."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, get_args

# the 13 fixed alert categories (the schema's CHECK in 0003 lists the same) and the severities, as types (the API's
# OpenAPI document shows them as enums) and as tuples
Category = Literal[
    "hypoglycemia",
    "hyperglycemia",
    "glycemic_control",
    "insulin_duration",
    "feed_intake_drop",
    "water_intake_drop",
    "milk_yield_drop",
    "mastitis",
    "ketosis",
    "lameness",
    "estrus",
    "data_gap",
    "device_fault",
]
CATEGORIES: tuple[Category, ...] = get_args(Category)
Severity = Literal["info", "review", "urgent"]
SEVERITIES: tuple[Severity, ...] = get_args(Severity)
SEVERITY_RANK: dict[str, int] = {s: i for i, s in enumerate(SEVERITIES)}


@dataclass(frozen=True, slots=True)
class Rule:
    """One declarative rule (a TOML table of config/rules/*.toml, overrides applied)."""

    id: str
    category: str
    kind: str
    severity: str
    source: str
    basis: str
    params: dict[str, Any] = field(default_factory=dict)

    def num(self, name: str, default: float | None = None) -> float:
        """A numeric parameter (KeyError-free with a default)."""
        value = self.params.get(name, default)
        if value is None:
            raise KeyError(f"rule {self.id}: parameter {name!r} is missing")
        return float(value)

    def text(self, name: str, default: str = "") -> str:
        """A text parameter."""
        return str(self.params.get(name, default))


@dataclass(frozen=True, slots=True)
class Episode:
    """A stretch of time during which a rule's condition held (``end`` None: still holding at evaluation time).

    ``start`` is when the condition was *confirmed* (persistence satisfied), which is when an alert opens;
    ``onset`` is when it first started to hold (the first low reading, for example).
    """

    rule_id: str
    category: str
    severity: str
    onset: datetime
    start: datetime
    end: datetime | None
    evidence: dict[str, Any]
    explanation_fr: str
    explanation_en: str
    device_id: str | None = None

    @property
    def open(self) -> bool:
        """True while the condition still holds."""
        return self.end is None


@dataclass(frozen=True, slots=True)
class AnimalContext:
    """What the engine knows of an animal besides its readings."""

    animal_id: str
    species: str
    clinic_id: str = ""
    calving: datetime | None = None
    tz: str = "UTC"
