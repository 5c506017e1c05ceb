"""What a vet's override may change in a rule, checked before it is stored (API and CLI) and again when it is applied.

Only the numeric parameters a rule's kind reads (those in the rule file, and the optional ones of the kind) and
``severity`` may be overridden, with the right type; the parameters that say *what* a rule watches (metric,
operator, flag, species) may not. Pure functions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

from rules._errors import RuleConfigError
from rules._model import SEVERITIES, Rule

ParamType = Literal["number", "integer", "severity"]
# The optional numeric parameters each kind reads (rules/_kinds_*.py: rule.num(name, default)); an override may
# also set any numeric parameter of the rule's own file entry. Integers are counts.
_INTEGERS = frozenset(
    {
        "min_points",
        "clear_points",
        "min_cycles",
        "min_events",
        "consecutive",
        "clear_milkings",
        "own_milkings",
        "baseline_days",
        "min_baseline_days",
        "mean_days",
        "lag_days",
        "min_signs",
        "spell_points",
    }
)
KIND_PARAMS: dict[str, frozenset[str]] = {
    "threshold": frozenset(
        {
            "threshold",
            "clear",
            "hold_min",
            "min_points",
            "clear_hold_min",
            "clear_points",
            "max_gap_min",
            "urgent_below",
            "urgent_above",
            "predict_min",
            "predict_below",
            "predict_rate",
            "slope_min",
            "predict_max_step",
            "predict_hold_min",
            "predict_night_start_h",
            "predict_night_end_h",
            "predict_night_hold_min",
            "spell_hold_min",
            "spell_points",
        }
    ),
    "glucose_mean": frozenset({"above", "clear", "days", "min_coverage"}),
    "glucose_curve": frozenset({"nadir_low", "nadir_high", "days", "min_cycles"}),
    "stale": frozenset({"streaming_max_min", "scan_max_min"}),
    "rate": frozenset({"max_rate", "max_gap_min", "window_min", "min_events"}),
    "compression": frozenset(),
    "rolling_drop": frozenset(
        {"hours", "review_pct", "urgent_pct", "clear_pct", "baseline_days", "min_baseline_days", "min_points"}
    ),
    "no_event": frozenset({"min_value", "max_silence_h", "night_start_h", "night_end_h"}),
    "flatline": frozenset({"zero_below", "min_minutes", "min_events"}),
    "udder": frozenset(
        {
            "review_ratio",
            "urgent_ratio",
            "consecutive",
            "composite_ratio",
            "yield_drop_pct",
            "clear_ratio",
            "clear_milkings",
            "own_milkings",
            "min_rise",
            "clear_margin",
        }
    ),
    "yield": frozenset({"review_pct", "urgent_pct", "clear_pct", "cusum_k", "cusum_h", "wood_min_days"}),
    "fp_ratio": frozenset({"above", "urgent_above", "clear", "max_dim"}),
    "daily_baseline": frozenset({"below_pct", "clear_pct", "days"}),
    "activity": frozenset({"ratio", "clear_ratio", "hold_h", "baseline_days"}),
    "lameness": frozenset(
        {
            "activity_pct",
            "visits_pct",
            "yield_pct",
            "duration_pct",
            "min_signs",
            "min_hours",
            "mean_days",
            "lag_days",
            "baseline_days",
            "min_baseline_days",
            "days",
            "clear_pct",
        }
    ),
}
MAX_PARAM = 1e9  # no clinical parameter comes near; keeps floats exact and JSON finite
_HOURS_OF_DAY = frozenset({"night_start_h", "night_end_h", "predict_night_start_h", "predict_night_end_h"})


def param_types(rule: Rule) -> dict[str, ParamType]:
    """The parameters of ``rule`` an override may set, with their type."""
    names = set(KIND_PARAMS.get(rule.kind, frozenset()))
    names |= {k for k, v in rule.params.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    out: dict[str, ParamType] = {
        n: "integer" if n in _INTEGERS or type(rule.params.get(n)) is int else "number" for n in sorted(names)
    }
    out["severity"] = "severity"
    return out


@dataclass(frozen=True, slots=True)
class ParamProblem:
    """One bad parameter of an override: its name (None: the override as a whole), a pydantic-like error type and a
    message for the vet."""

    name: str | None
    type: str
    msg: str


def param_problems(rules: list[Rule], params: dict[str, Any]) -> list[ParamProblem]:
    """What is wrong with ``params`` as an override of every definition of one rule in ``rules`` (empty: fine)."""
    problems: list[ParamProblem] = []
    if not params:
        problems.append(ParamProblem(None, "too_short", "name at least one parameter (or delete the override)"))
    for rule in rules:
        allowed = param_types(rule)
        for name, value in params.items():
            kind = allowed.get(name)
            if kind is None:
                msg = (
                    f"rule {rule.id} (kind {rule.kind}) has no overridable parameter {name!r};"
                    f" one of: {', '.join(allowed)}"
                )
                problems.append(ParamProblem(name, "extra_forbidden", msg))
            elif kind == "severity":
                if value not in SEVERITIES:
                    problems.append(ParamProblem(name, "enum", f"severity must be one of {', '.join(SEVERITIES)}"))
            elif isinstance(value, bool) or not isinstance(value, int | float):
                problems.append(ParamProblem(name, f"{kind}_type", f"{name} must be a {kind}"))
            elif not (isinstance(value, int) or math.isfinite(value)) or abs(value) > MAX_PARAM:
                msg = f"{name} must be a finite number within ±{MAX_PARAM:g}"
                problems.append(ParamProblem(name, "finite_number", msg))
            elif kind == "integer" and (not float(value).is_integer() or value < 1):
                problems.append(ParamProblem(name, "integer_type", f"{name} must be a whole number ≥ 1"))
            elif name in _HOURS_OF_DAY and not 0 <= value <= 24:
                problems.append(ParamProblem(name, "less_than_equal", f"{name} is an hour of the day (0 to 24)"))
    return list({(p.name, p.msg): p for p in problems}.values())


def normalise(rules: list[Rule], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` with whole numbers where the parameter is a count; RuleConfigError if they don't fit the rule."""
    if not rules:
        raise RuleConfigError("no such rule")
    problems = param_problems(rules, params)
    if problems:
        raise RuleConfigError(f"override of rule {rules[0].id}: " + "; ".join(p.msg for p in problems))
    types = param_types(rules[0])
    return {k: int(v) if types.get(k) == "integer" else v for k, v in params.items()}


def definitions(by_species: dict[str, tuple[Rule, ...]], rule_id: str, species: str | None = None) -> list[Rule]:
    """Every definition of ``rule_id`` (for ``species``, or for any species)."""
    pools = [by_species.get(species, ())] if species is not None else list(by_species.values())
    return [r for pool in pools for r in pool if r.id == rule_id]


def usable(
    by_species: dict[str, tuple[Rule, ...]], species: str, overrides: dict[str, dict[str, Any]]
) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The overrides that fit the species' rules, and a message for each one set aside (stored before validation
    existed, or by hand in the database). An unknown rule id is not a problem: the override is for another species."""
    kept: dict[str, dict[str, Any]] = {}
    refused: list[str] = []
    for rule_id, params in overrides.items():
        rules = definitions(by_species, rule_id, species)
        if not rules:
            continue
        problems = param_problems(rules, params)
        if problems:
            refused.append(f"override of rule {rule_id} ignored: " + "; ".join(p.msg for p in problems))
        else:
            kept[rule_id] = normalise(rules, params)
    return kept, refused
