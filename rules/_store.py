"""Database side of the rules: animals and overrides, rule-set versions, alert reconciliation, draft creation.

All functions take a synchronous psycopg connection and run inside the caller's transaction; SQL is
parameterised. Reconciliation is idempotent: an episode is identified by (clinic, animal, rule, onset), so
evaluating the same rows again updates the open alert in place and never re-creates one a vet resolved.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any

import psycopg
from psycopg.types.json import Jsonb

from rules._config import EffectiveRules, RuleSet
from rules._drafts import AlertFacts, Recipient, compose
from rules._errors import RuleConfigError
from rules._model import SEVERITY_RANK, AnimalContext, Episode
from rules._overrides import definitions, normalise, usable

logger = logging.getLogger(__name__)
Conn = psycopg.Connection[tuple[Any, ...]]
ACTOR = "rules"
# an episode's onset may move a little when late readings arrive: within this, it is the same episode
SAME_ONSET = timedelta(hours=2)


@dataclass(frozen=True, slots=True)
class AnimalRow:
    """An animal of the registry with what drafts need."""

    context: AnimalContext
    name: str
    owner_name: str
    clinic_name: str
    language: str
    glucose_unit: str
    audience: str


def load_animals(conn: Conn, animal_ids: Sequence[str] | None = None) -> list[AnimalRow]:
    """Animals (all, or ``animal_ids``) with their owner's (else clinic's) language and glucose unit."""
    query = (
        "SELECT a.id, a.species, a.clinic_id, a.name, coalesce(o.name, ''), c.name,"
        " coalesce(o.language, c.language), coalesce(o.glucose_unit, c.glucose_unit), coalesce(o.kind, 'owner'),"
        " a.calving_date"
        " FROM animals a JOIN clinics c ON c.id = a.clinic_id LEFT JOIN owners o ON o.id = a.owner_id"
    )
    params: list[Any] = []
    if animal_ids is not None:
        query += " WHERE a.id = ANY(%s)"
        params.append(list(animal_ids))
    rows = conn.execute(query + " ORDER BY a.id", params).fetchall()
    return [
        AnimalRow(
            AnimalContext(
                str(r[0]),
                str(r[1]),
                str(r[2]),
                calving=None if r[9] is None else datetime.combine(r[9], time(), UTC),
            ),
            str(r[3]),
            str(r[4]),
            str(r[5]),
            str(r[6]),
            str(r[7]),
            "farmer" if r[8] == "farm" else "owner",
        )
        for r in rows
    ]


def effective_rules(conn: Conn, ruleset: RuleSet, ctx: AnimalContext) -> EffectiveRules:
    """The rules of an animal with its clinic's and its own overrides; the version is recorded."""
    clinic: dict[str, dict[str, Any]] = {}
    animal: dict[str, dict[str, Any]] = {}
    for animal_id, rule_id, params in conn.execute(
        "SELECT animal_id, rule_id, params FROM rule_overrides WHERE clinic_id = %s AND (animal_id IS NULL OR animal_id = %s)",
        (ctx.clinic_id, ctx.animal_id),
    ):
        (clinic if animal_id is None else animal)[str(rule_id)] = dict(params)
    # an override that does not fit its rule is set aside (and logged), never allowed to stop the evaluation: the
    # animal stays watched with the defaults and the overrides that are valid
    clinic, bad_clinic = usable(ruleset.by_species, ctx.species, clinic)
    animal, bad_animal = usable(ruleset.by_species, ctx.species, animal)
    for message in bad_clinic + bad_animal:
        logger.error("%s: %s", ctx.animal_id, message)
    rules = ruleset.for_animal(ctx.species, clinic=clinic, animal=animal)
    conn.execute(
        "INSERT INTO rule_set_versions (version, species, content) VALUES (%s, %s, %s) ON CONFLICT (version) DO NOTHING",
        (rules.version, ctx.species, Jsonb(rules.content())),
    )
    return rules


def set_override(
    conn: Conn,
    clinic_id: str,
    rule_id: str,
    params: dict[str, Any],
    *,
    by: str,
    animal_id: str | None = None,
    reason: str = "",
    ruleset: RuleSet | None = None,
) -> None:
    """Set (replace) a vet's override of one rule for a clinic or an animal; audited. With ``ruleset``, the
    parameters are checked against the rule first (RuleConfigError naming each bad one)."""
    if ruleset is not None:
        species = None
        if animal_id is not None:
            row = conn.execute("SELECT species FROM animals WHERE id = %s AND clinic_id = %s", (animal_id, clinic_id))
            found = row.fetchone()
            if found is None:
                raise RuleConfigError(f"no animal {animal_id} in clinic {clinic_id}")
            species = str(found[0])
        rules = definitions(ruleset.by_species, rule_id, species)
        if not rules:
            raise RuleConfigError(f"no rule {rule_id}" + (f" for a {species}" if species else ""))
        params = normalise(rules, params)
    conn.execute(
        "INSERT INTO rule_overrides (clinic_id, animal_id, rule_id, params, set_by, reason) VALUES (%s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (clinic_id, coalesce(animal_id, ''), rule_id)"
        " DO UPDATE SET params = EXCLUDED.params, set_by = EXCLUDED.set_by, set_at = now(), reason = EXCLUDED.reason",
        (clinic_id, animal_id, rule_id, Jsonb(params), by, reason),
    )
    audit(
        conn,
        by,
        "override.set",
        clinic_id,
        "rule",
        rule_id,
        {"animal_id": animal_id, "params": params, "reason": reason},
    )


def delete_override(conn: Conn, clinic_id: str, rule_id: str, *, by: str, animal_id: str | None = None) -> bool:
    """Remove a vet's override (audited); False if there was none."""
    cur = conn.execute(
        "DELETE FROM rule_overrides WHERE clinic_id = %s AND coalesce(animal_id, '') = coalesce(%s, '') AND rule_id = %s"
        " RETURNING params",
        (clinic_id, animal_id, rule_id),
    )
    row = cur.fetchone()
    if row is None:
        return False
    audit(conn, by, "override.delete", clinic_id, "rule", rule_id, {"animal_id": animal_id, "params": row[0]})
    return True


def audit(
    conn: Conn, actor: str, action: str, clinic_id: str | None, kind: str, object_id: str, detail: dict[str, Any]
) -> None:
    """Append one line to the audit log."""
    conn.execute(
        "INSERT INTO audit_log (actor, action, clinic_id, object_type, object_id, detail) VALUES (%s, %s, %s, %s, %s, %s)",
        (actor, action, clinic_id, kind, object_id, Jsonb(detail)),
    )


@dataclass
class Outcome:
    """What one reconciliation did."""

    opened: list[int]
    updated: int = 0
    resolved: int = 0
    skipped: int = 0


def reconcile(
    conn: Conn, ctx: AnimalContext, episodes: Sequence[Episode], version: str, *, window_start: datetime, now: datetime
) -> Outcome:
    """Bring the animal's alerts in line with the episodes of an evaluation over ``[window_start, now]``."""
    out = Outcome(opened=[])
    by_rule: dict[str, list[Episode]] = {}
    for ep in episodes:
        by_rule.setdefault(ep.rule_id, []).append(ep)
    rows = conn.execute(
        "SELECT id, rule_id, status, onset, window_end FROM alerts WHERE clinic_id = %s AND animal_id = %s"
        " AND (onset >= %s OR window_end >= %s) FOR UPDATE",
        (ctx.clinic_id, ctx.animal_id, window_start - SAME_ONSET, window_start - SAME_ONSET),
    ).fetchall()
    known: dict[str, list[tuple[int, str, datetime, datetime]]] = {}
    for aid, rid, status, onset, wend in rows:
        if onset is not None:
            known.setdefault(str(rid), []).append((int(aid), str(status), onset, wend))
    open_rows = conn.execute(
        "SELECT id, rule_id, onset, window_end FROM alerts WHERE clinic_id = %s AND animal_id = %s"
        " AND status <> 'resolved' FOR UPDATE",
        (ctx.clinic_id, ctx.animal_id),
    ).fetchall()
    open_by_rule = {str(r[1]): (int(r[0]), r[2], r[3]) for r in open_rows}

    def same_episode(onset: datetime, end: datetime, ep: Episode) -> bool:
        """The stored alert (onset, last known end) and the episode are one condition: the episode starts before the
        alert was last seen holding, and has the same onset (moved a little by late readings) or is a long condition
        whose start slid out of the window. An episode that starts after the stored one ended is a new condition,
        however soon after (a second hypoglycaemia an hour after the first must alert again)."""
        if ep.onset > end:
            return False
        if abs(onset - ep.onset) <= SAME_ONSET:
            return True
        truncated = ep.onset <= window_start + SAME_ONSET
        return onset <= ep.onset and truncated and end >= window_start - SAME_ONSET

    for rule_id in set(by_rule) | set(open_by_rule):
        current = open_by_rule.get(rule_id)
        matched_open = False
        for ep in by_rule.get(rule_id, []):
            same = [k for k in known.get(rule_id, []) if same_episode(k[2], k[3], ep)]
            if current is not None and (current[1] is None or same_episode(current[1], current[2], ep)):
                _update(conn, current[0], ep, version, now)
                out.updated += 1
                matched_open = True
                if ep.end is not None:
                    _resolve(conn, current[0], ctx.clinic_id, ACTOR, ep.end, "condition cleared")
                    out.resolved += 1
                    current = None
                continue
            if same:  # this episode was alerted already and resolved (by the engine or a vet): never again
                out.skipped += 1
                continue
            if current is not None:  # the open alert belongs to an earlier episode that is over
                _resolve(conn, current[0], ctx.clinic_id, ACTOR, ep.onset, "superseded")
                out.resolved += 1
                current = None
            new_id = _insert(conn, ctx, ep, version, now)
            if new_id is None:
                out.skipped += 1
                continue
            known.setdefault(rule_id, []).append((new_id, "open", ep.onset, ep.end or now))
            out.opened.append(new_id)
            if ep.end is not None:
                _resolve(conn, new_id, ctx.clinic_id, ACTOR, ep.end, "condition cleared")
            else:
                current = (new_id, ep.onset, now)
                matched_open = True
        if current is not None and not matched_open and current[1] is not None and current[1] >= window_start:
            _resolve(conn, current[0], ctx.clinic_id, ACTOR, now, "condition no longer found")
            out.resolved += 1
    return out


def _evidence(ep: Episode, version: str) -> Jsonb:
    return Jsonb(
        {
            **ep.evidence,
            "rule_version": version,
            "explanation_fr": ep.explanation_fr,
            "explanation_en": ep.explanation_en,
        }
    )


def _insert(conn: Conn, ctx: AnimalContext, ep: Episode, version: str, now: datetime) -> int | None:
    lang = _clinic_language(conn, ctx.clinic_id)
    row = conn.execute(
        "INSERT INTO alerts (clinic_id, animal_id, device_id, category, rule_id, rule_version, severity, window_start,"
        " window_end, evidence, explanation, onset, opened_at, updated_at)"
        " VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)"
        " ON CONFLICT (clinic_id, coalesce(animal_id, ''), coalesce(device_id, ''), category, rule_id)"
        " WHERE status <> 'resolved' DO NOTHING RETURNING id",
        (
            ctx.clinic_id,
            ctx.animal_id,
            ep.device_id,
            ep.category,
            ep.rule_id,
            version,
            ep.severity,
            ep.onset,
            max(ep.end or now, ep.onset),
            _evidence(ep, version),
            ep.explanation_fr if lang == "fr" else ep.explanation_en,
            ep.onset,
            now,
            now,
        ),
    ).fetchone()
    if row is None:
        return None
    alert_id = int(row[0])
    audit(
        conn,
        ACTOR,
        "alert.open",
        ctx.clinic_id,
        "alert",
        str(alert_id),
        {"rule": ep.rule_id, "severity": ep.severity, "rule_version": version},
    )
    return alert_id


def _update(conn: Conn, alert_id: int, ep: Episode, version: str, now: datetime) -> None:
    old = conn.execute("SELECT severity, clinic_id FROM alerts WHERE id = %s", (alert_id,)).fetchone()
    if old is None:  # pragma: no cover - the row is locked by reconcile
        return
    severity = max(str(old[0]), ep.severity, key=SEVERITY_RANK.__getitem__)
    lang = _clinic_language(conn, str(old[1]))
    conn.execute(
        "UPDATE alerts SET severity = %s, window_end = greatest(window_start, %s), evidence = %s, explanation = %s,"
        " rule_version = %s, updated_at = %s WHERE id = %s",
        (
            severity,
            ep.end or now,
            _evidence(ep, version),
            ep.explanation_fr if lang == "fr" else ep.explanation_en,
            version,
            now,
            alert_id,
        ),
    )


def _resolve(conn: Conn, alert_id: int, clinic_id: str, actor: str, at: datetime, why: str) -> None:
    conn.execute(
        "UPDATE alerts SET status = 'resolved', resolved_by = %s, resolved_at = %s, updated_at = now() WHERE id = %s",
        (actor, at, alert_id),
    )
    audit(conn, actor, "alert.resolve", clinic_id, "alert", str(alert_id), {"reason": why})


def _clinic_language(conn: Conn, clinic_id: str) -> str:
    row = conn.execute("SELECT language FROM clinics WHERE id = %s", (clinic_id,)).fetchone()
    return "fr" if row is None else str(row[0])


def draft_for(conn: Conn, animal: AnimalRow, alert_ids: Sequence[int], ruleset: RuleSet) -> int | None:
    """Create or refresh the pending draft of an animal for its new REVIEW/URGENT alerts (one pending draft per
    animal groups its related alerts). Returns the draft id, or None when no alert needs one."""
    rows = conn.execute(
        "SELECT id, category, severity, rule_id, window_start, window_end, evidence FROM alerts"
        " WHERE id = ANY(%s) AND severity IN ('review', 'urgent') ORDER BY id",
        (list(alert_ids),),
    ).fetchall()
    if not rows:
        return None
    pending = conn.execute(
        "SELECT id, alert_ids FROM drafts WHERE clinic_id = %s AND animal_id = %s AND status = 'pending' ORDER BY id DESC LIMIT 1 FOR UPDATE",
        (animal.context.clinic_id, animal.context.animal_id),
    ).fetchone()
    ids = sorted(set([int(r[0]) for r in rows] + ([int(x) for x in pending[1]] if pending else [])))
    all_rows = conn.execute(
        "SELECT category, severity, rule_id, window_start, window_end, evidence FROM alerts WHERE id = ANY(%s) ORDER BY id",
        (ids,),
    ).fetchall()
    facts = [AlertFacts(str(r[0]), str(r[1]), str(r[2]), r[3], r[4], dict(r[5])) for r in all_rows]
    to = Recipient(
        animal.name,
        animal.context.species,
        animal.owner_name or ("l'éleveur" if animal.language == "fr" else "farmer"),
        animal.clinic_name,
        animal.language,
        animal.glucose_unit,
        animal.audience,
    )
    body = compose(facts, to, ruleset.instructions)
    if pending is not None:
        conn.execute("UPDATE drafts SET alert_ids = %s, body = %s WHERE id = %s", (ids, body, pending[0]))
        audit(conn, ACTOR, "draft.update", animal.context.clinic_id, "draft", str(pending[0]), {"alert_ids": ids})
        return int(pending[0])
    row = conn.execute(
        "INSERT INTO drafts (clinic_id, animal_id, alert_ids, audience, language, body) VALUES (%s, %s, %s, %s, %s, %s) RETURNING id",
        (animal.context.clinic_id, animal.context.animal_id, ids, animal.audience, animal.language, body),
    ).fetchone()
    if row is None:  # pragma: no cover - INSERT ... RETURNING always returns
        return None
    audit(conn, ACTOR, "draft.create", animal.context.clinic_id, "draft", str(row[0]), {"alert_ids": ids})
    return int(row[0])


def dumps(obj: Any) -> str:
    """JSON for the command line."""
    return json.dumps(obj, default=str, ensure_ascii=False)
