"""Registry and readings for the database tests of the rules."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def seed(db: psycopg.Connection[Any], *, language: str = "fr", unit: str = "mmol/L") -> None:
    db.execute("INSERT INTO clinics (id, name, language) VALUES ('c1', 'Clinique du Parc', %s)", (language,))
    db.execute(
        "INSERT INTO owners (id, clinic_id, name, email, language, glucose_unit)"
        " VALUES ('o1', 'c1', 'Claire Martin', 'claire@example.org', %s, %s)",
        (language, unit),
    )
    db.execute("INSERT INTO animals (id, clinic_id, owner_id, name, species) VALUES ('rex', 'c1', 'o1', 'Rex', 'dog')")
    db.execute("INSERT INTO devices (id, kind, clinic_id, animal_id) VALUES ('cgm-rex', 'cgm', 'c1', 'rex')")


def glucose(db: psycopg.Connection[Any], times: Sequence[datetime], values: Sequence[float]) -> None:
    with db.cursor() as cur:
        cur.executemany(
            "INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id)"
            " VALUES (%s, 'cgm-rex', 'rex', 'glucose', %s, 'c1') ON CONFLICT DO NOTHING",
            list(zip(times, values, strict=True)),
        )


def steps(start: datetime, n: int, minutes: float = 5.0) -> list[datetime]:
    return [start + timedelta(minutes=minutes * i) for i in range(n)]


def hypo(db: psycopg.Connection[Any], end: datetime = NOW, low: float = 50.0) -> None:
    """Two hours at 140 mg/dL, a 30-minute fall, then 40 minutes at ``low``, ending at ``end``."""
    start = end - timedelta(hours=3, minutes=10)
    glucose(db, steps(start, 24), [140.0] * 24)
    fall = [140.0 - (140.0 - low) * k / 6 for k in range(1, 6)]
    glucose(db, steps(start + timedelta(hours=2), 5), fall)
    glucose(db, steps(start + timedelta(hours=2, minutes=30), 9), [low] * 9)


def alerts(db: psycopg.Connection[Any]) -> list[tuple[Any, ...]]:
    return db.execute("SELECT id, category, rule_id, status, severity, rule_version FROM alerts ORDER BY id").fetchall()


def actions(db: psycopg.Connection[Any]) -> list[str]:
    return [str(r[0]) for r in db.execute("SELECT action FROM audit_log ORDER BY id")]
