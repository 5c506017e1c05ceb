"""Rules and overrides: the effective rules of an animal, a vet's override per clinic or per animal.

- ``GET /api/v1/rules``: the default rules of each species with the parameters a vet may override (name, type);
- ``GET /api/v1/animals/{id}/rules``: the animal's effective rules (the files, then the clinic's overrides, then the
  animal's), each parameter tagged with where its value comes from (``default``, ``clinic`` or ``animal``), each rule
  with its source-strength tag (S, D, U), and the rule-set version the next alerts will record;
- ``PUT|DELETE /api/v1/animals/{id}/rules/{rule}/override``: set (replace) or remove the animal's override;
- ``GET /api/v1/clinics/{id}/rule-overrides``, ``PUT|DELETE /api/v1/clinics/{id}/rules/{rule}/override``: the
  clinic's overrides.

Reading is for admins, vets and staff; changing is for vets (and admins); owners and devices get 403. An animal or a
clinic of another clinic is 404. Every change is written to the audit log (``override.set``, ``override.delete``,
object ``rule``/rule id) with the vet's name.

An override is validated against the rule's kind: only the numeric parameters the kind reads (those in the rule
file, and the optional ones of the kind) and ``severity`` may be set, with the right type; anything else is 422
naming ``body.params.<name>``. Parameters that say *what* a rule watches (metric, operator, flag, species) are not
overridable.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, HTTPException, Path, Query, status
from fastapi.exceptions import RequestValidationError
from pydantic import Field

from api._accounts import Principal
from api._deps import CLINIC_READERS, VETS, AppSettings, Caller, Db, clinic_filter, forbid_unless, not_found
from api._models import Body, Out
from api._params import COMMON_RESPONSES, ID_PATTERN, TEXT_PATTERN
from rules._config import RuleSet, load_rules
from rules._model import AnimalContext, Rule
from rules._overrides import ParamType, normalise, param_problems, param_types
from rules._store import Conn, delete_override, effective_rules, set_override

router = APIRouter(prefix="/api/v1", tags=["rules"], responses=COMMON_RESPONSES)


def check_params(rules: list[Rule], params: dict[str, Any]) -> dict[str, Any]:
    """``params`` if they fit every definition of the rule in ``rules``, else a 422 naming each bad parameter."""
    problems = param_problems(rules, params)
    if problems:
        raise RequestValidationError(
            [
                {
                    "type": p.type,
                    "loc": ("body", "params") if p.name is None else ("body", "params", p.name),
                    "msg": p.msg,
                }
                for p in problems
            ]
        )
    return normalise(rules, params)


class ParamOut(Out):
    value: Any
    origin: Literal["default", "clinic", "animal"] = Field(description="where the value comes from")


class RuleOut(Out):
    id: str
    category: str
    kind: str
    severity: ParamOut
    source: str = Field(description="source-strength tag: S stated by a source, D derived, U uncertain")
    basis: str
    params: dict[str, ParamOut]


class OverrideOut(Out):
    clinic_id: str
    animal_id: str | None
    rule_id: str
    params: dict[str, Any]
    set_by: str
    set_at: datetime
    reason: str


class EffectiveRulesOut(Out):
    animal_id: str
    species: str
    clinic_id: str
    version: str = Field(description="the rule-set version the animal's next alerts record (content hash)")
    rules: list[RuleOut]
    overrides: list[OverrideOut]


class RuleDefaultsOut(Out):
    id: str
    category: str
    kind: str
    severity: str
    source: str
    basis: str
    params: dict[str, Any]
    overridable: dict[str, ParamType]


class SpeciesRulesOut(Out):
    species: str
    rules: list[RuleDefaultsOut]


class OverrideIn(Body):
    params: dict[str, Any] = Field(
        description="parameter name -> value: numbers for the rule's parameters, or severity (info, review, urgent)",
        examples=[{"threshold": 70, "clear": 80}],
    )
    reason: Annotated[str, Field(max_length=500, pattern=TEXT_PATTERN)] = ""


RuleId = Annotated[str, Path(pattern=ID_PATTERN)]
EntityId = Annotated[str, Path(pattern=ID_PATTERN)]


def _ruleset(settings: AppSettings) -> RuleSet:
    return load_rules(settings.config_dir / "rules")


def _animal(conn: Conn, caller: Principal, animal_id: str) -> AnimalContext:
    clinic = clinic_filter(caller)
    row = conn.execute(
        "SELECT id, species, clinic_id FROM animals WHERE id = %s AND (%s::text IS NULL OR clinic_id = %s)",
        (animal_id, clinic, clinic),
    ).fetchone()
    if row is None:
        raise not_found("animal", animal_id)
    return AnimalContext(str(row[0]), str(row[1]), str(row[2]))


def _clinic(conn: Conn, caller: Principal, clinic_id: str) -> str:
    mine = clinic_filter(caller)
    row = conn.execute("SELECT id FROM clinics WHERE id = %s", (clinic_id,)).fetchone()
    if row is None or (mine is not None and mine != clinic_id):
        raise not_found("clinic", clinic_id)
    return str(row[0])


def _overrides(conn: Conn, clinic_id: str, animal_id: str | None) -> list[OverrideOut]:
    """The clinic-wide overrides and those of ``animal_id`` (None: of every animal of the clinic)."""
    rows = conn.execute(
        "SELECT clinic_id, animal_id, rule_id, params, set_by, set_at, reason FROM rule_overrides"
        " WHERE clinic_id = %s AND (%s::text IS NULL OR animal_id IS NULL OR animal_id = %s)"
        " ORDER BY animal_id NULLS FIRST, rule_id",
        (clinic_id, animal_id, animal_id),
    ).fetchall()
    keys = ("clinic_id", "animal_id", "rule_id", "params", "set_by", "set_at", "reason")
    return [OverrideOut.model_validate(dict(zip(keys, r, strict=True))) for r in rows]


def _effective(conn: Conn, ruleset: RuleSet, ctx: AnimalContext, *, record: bool = False) -> EffectiveRulesOut:
    """The animal's effective rules; ``record`` (after a change) also stores the new version, as the rules service
    does when it evaluates the animal. A read writes nothing."""
    overrides = _overrides(conn, ctx.clinic_id, ctx.animal_id)
    layers = {
        "clinic": {o.rule_id: o.params for o in overrides if o.animal_id is None},
        "animal": {o.rule_id: o.params for o in overrides if o.animal_id is not None},
    }
    if record:
        rules = effective_rules(conn, ruleset, ctx)
    else:  # the same layering as rules._store.effective_rules, without recording the version
        rules = ruleset.for_animal(ctx.species, clinic=layers["clinic"], animal=layers["animal"])

    def origin(rule_id: str, name: str) -> Literal["default", "clinic", "animal"]:
        if name in layers["animal"].get(rule_id, {}):
            return "animal"
        return "clinic" if name in layers["clinic"].get(rule_id, {}) else "default"

    return EffectiveRulesOut(
        animal_id=ctx.animal_id,
        species=ctx.species,
        clinic_id=ctx.clinic_id,
        version=rules.version,
        rules=[
            RuleOut(
                id=r.id,
                category=r.category,
                kind=r.kind,
                severity=ParamOut(value=r.severity, origin=origin(r.id, "severity")),
                source=r.source,
                basis=r.basis,
                params={k: ParamOut(value=v, origin=origin(r.id, k)) for k, v in sorted(r.params.items())},
            )
            for r in rules.rules
        ],
        overrides=overrides,
    )


def _rules_named(ruleset: RuleSet, rule_id: str, species: str | None) -> list[Rule]:
    """The definitions of ``rule_id`` (for ``species``, or for any species); 404 if there is none."""
    if species is not None:
        candidates = list(ruleset.for_animal(species).rules)
    else:
        candidates = [r for rules in ruleset.by_species.values() for r in rules]
    found = [r for r in candidates if r.id == rule_id]
    if not found:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no rule {rule_id}" + (f" for a {species}" if species else ""))
    return found


@router.get("/rules")
def get_rules(
    caller: Caller,
    settings: AppSettings,
    species: Annotated[
        Literal["dog", "cat", "horse", "pony", "donkey", "cow"] | None, Query(description="one species only")
    ] = None,
) -> list[SpeciesRulesOut]:
    """The default rules of each species (from ``config/rules``), with the parameters an override may set."""
    forbid_unless(caller, CLINIC_READERS)
    ruleset = _ruleset(settings)
    return [
        SpeciesRulesOut(
            species=sp,
            rules=[
                RuleDefaultsOut(
                    id=r.id,
                    category=r.category,
                    kind=r.kind,
                    severity=r.severity,
                    source=r.source,
                    basis=r.basis,
                    params=r.params,
                    overridable=param_types(r),
                )
                for r in ruleset.for_animal(sp).rules
            ],
        )
        for sp in sorted(ruleset.by_species)
        if species is None or sp == species
    ]


@router.get("/animals/{animal_id}/rules", responses={404: {"description": "no such animal in the caller's clinic"}})
def get_animal_rules(caller: Caller, conn: Db, settings: AppSettings, animal_id: EntityId) -> EffectiveRulesOut:
    """The animal's effective rules, each parameter tagged default / clinic / animal, and the rule-set version."""
    forbid_unless(caller, CLINIC_READERS)
    ctx = _animal(conn, caller, animal_id)
    return _effective(conn, _ruleset(settings), ctx)


@router.put(
    "/animals/{animal_id}/rules/{rule_id}/override",
    responses={404: {"description": "no such animal in the caller's clinic, or no such rule for its species"}},
)
def put_animal_override(
    caller: Caller, conn: Db, settings: AppSettings, animal_id: EntityId, rule_id: RuleId, body: OverrideIn
) -> EffectiveRulesOut:
    """Set (replace) the animal's override of one rule (vets); returns the new effective rules and version."""
    forbid_unless(caller, VETS)
    ctx = _animal(conn, caller, animal_id)
    ruleset = _ruleset(settings)
    params = check_params(_rules_named(ruleset, rule_id, ctx.species), body.params)
    set_override(conn, ctx.clinic_id, rule_id, params, by=caller.name, animal_id=ctx.animal_id, reason=body.reason)
    return _effective(conn, ruleset, ctx, record=True)


@router.delete(
    "/animals/{animal_id}/rules/{rule_id}/override",
    responses={404: {"description": "no such animal in the caller's clinic, or no override of that rule"}},
)
def delete_animal_override(
    caller: Caller, conn: Db, settings: AppSettings, animal_id: EntityId, rule_id: RuleId
) -> EffectiveRulesOut:
    """Remove the animal's override of one rule (vets); returns the new effective rules and version."""
    forbid_unless(caller, VETS)
    ctx = _animal(conn, caller, animal_id)
    if not delete_override(conn, ctx.clinic_id, rule_id, by=caller.name, animal_id=ctx.animal_id):
        raise not_found("override of rule", rule_id)
    return _effective(conn, _ruleset(settings), ctx, record=True)


@router.get("/clinics/{clinic_id}/rule-overrides", responses={404: {"description": "no such clinic for the caller"}})
def get_clinic_overrides(caller: Caller, conn: Db, clinic_id: EntityId) -> list[OverrideOut]:
    """Every override of the clinic: the clinic-wide ones first, then the animals'."""
    forbid_unless(caller, CLINIC_READERS)
    return _overrides(conn, _clinic(conn, caller, clinic_id), None)


@router.put(
    "/clinics/{clinic_id}/rules/{rule_id}/override",
    responses={404: {"description": "no such clinic for the caller, or no such rule"}},
)
def put_clinic_override(
    caller: Caller, conn: Db, settings: AppSettings, clinic_id: EntityId, rule_id: RuleId, body: OverrideIn
) -> OverrideOut:
    """Set (replace) the clinic-wide override of one rule (vets); each animal's own override still wins."""
    forbid_unless(caller, VETS)
    clinic = _clinic(conn, caller, clinic_id)
    params = check_params(_rules_named(_ruleset(settings), rule_id, None), body.params)
    set_override(conn, clinic, rule_id, params, by=caller.name, reason=body.reason)
    return next(o for o in _overrides(conn, clinic, None) if o.animal_id is None and o.rule_id == rule_id)


@router.delete(
    "/clinics/{clinic_id}/rules/{rule_id}/override",
    status_code=status.HTTP_204_NO_CONTENT,
    responses={404: {"description": "no such clinic for the caller, or no clinic-wide override of that rule"}},
)
def delete_clinic_override(caller: Caller, conn: Db, clinic_id: EntityId, rule_id: RuleId) -> None:
    """Remove the clinic-wide override of one rule (vets)."""
    forbid_unless(caller, VETS)
    clinic = _clinic(conn, caller, clinic_id)
    if not delete_override(conn, clinic, rule_id, by=caller.name):
        raise not_found("clinic override of rule", rule_id)
