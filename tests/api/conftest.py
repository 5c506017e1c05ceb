"""API fixtures: the app on a fresh database, two clinics with every role, and bearer tokens for each.

``world`` seeds clinic A and clinic B identically (an owner with a diabetic cat and its CGM, a farm with a cow and a
milking robot, readings, an open alert and a pending draft), so that every test can compare "own" and "foreign".
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient

from api._accounts import add_user, issue_token
from api._app import create_app
from vigie import registry
from vigie.settings import Settings

ROLES = ("admin", "vet", "staff", "owner", "device")
PASSWORD = "correct horse battery"  # noqa: S105 - the test accounts' password


@dataclass
class Clinic:
    """Ids of one seeded clinic."""

    id: str
    owner: str
    farm: str
    cat: str
    cow: str
    cgm: str
    robot: str
    alert: int = 0
    draft: int = 0
    tokens: dict[str, str] = field(default_factory=dict)  # role -> bearer token
    users: dict[str, str] = field(default_factory=dict)  # role -> user id


@dataclass
class World:
    """Two clinics and an admin."""

    a: Clinic
    b: Clinic
    admin_token: str
    now: datetime

    def token(self, role: str, clinic: str = "a") -> str:
        """The bearer token of ``role`` in clinic ``a`` or ``b`` (the admin belongs to none)."""
        return self.admin_token if role == "admin" else getattr(self, clinic).tokens[role]

    def auth(self, role: str, clinic: str = "a") -> dict[str, str]:
        """Headers for ``role``."""
        return {"Authorization": f"Bearer {self.token(role, clinic)}"}


def _seed_clinic(conn: psycopg.Connection[Any], tag: str, now: datetime) -> Clinic:
    c = Clinic(
        id=f"clinic-{tag}",
        owner=f"owner-{tag}",
        farm=f"farm-{tag}",
        cat=f"cat-{tag}",
        cow=f"cow-{tag}",
        cgm=f"cgm-{tag}",
        robot=f"robot-{tag}",
    )
    registry.add_clinic(conn, c.id, name=f"Clinic {tag.upper()}", language="fr" if tag == "a" else "en")
    registry.add_owner(conn, c.owner, clinic=c.id, name=f"Owner {tag}", kind="owner", email=f"{c.owner}@example.org")
    registry.add_owner(conn, c.farm, clinic=c.id, name=f"Farm {tag}", kind="farm", email=f"{c.farm}@example.org")
    registry.add_animal(conn, c.cat, species="cat", clinic=c.id, owner=c.owner, name=f"Minou {tag}")
    registry.add_animal(conn, c.cow, species="cow", clinic=c.id, owner=c.farm, name=f"Marguerite {tag}")
    registry.add_device(conn, c.cgm, kind="cgm", animal=c.cat)
    registry.add_device(conn, c.robot, kind="milking", clinic=c.id)
    rows = [(now - timedelta(minutes=5 * i), c.cat, "glucose", c.cgm, 150.0 - i, c.id, now) for i in range(48)] + [
        (now - timedelta(hours=12 * i), c.cow, "milk_yield", c.robot, 14.0, c.id, now) for i in range(6)
    ]
    with (
        conn.cursor() as cur,
        cur.copy(
            "COPY readings (time, animal_id, metric, device_id, value, clinic_id, received_at) FROM STDIN"
        ) as copy,
    ):
        for row in rows:
            copy.write_row(row)
    alert = conn.execute(
        "INSERT INTO alerts (clinic_id, animal_id, device_id, category, rule_id, rule_version, severity,"
        " window_start, window_end, explanation, onset) VALUES (%s, %s, %s, 'hypoglycemia', 'hypoglycemia', 'v-test',"
        " 'urgent', %s, %s, 'glucose below 60 mg/dL for 20 min', %s) RETURNING id",
        (c.id, c.cat, c.cgm, now - timedelta(minutes=20), now, now - timedelta(minutes=20)),
    ).fetchone()
    assert alert is not None
    c.alert = int(alert[0])
    draft = conn.execute(
        "INSERT INTO drafts (clinic_id, animal_id, alert_ids, audience, language, body) VALUES (%s, %s, %s, 'owner', %s,"
        " %s) RETURNING id",
        (c.id, c.cat, [c.alert], "fr" if tag == "a" else "en", f"Draft for {c.cat}: glucose was low."),
    ).fetchone()
    assert draft is not None
    c.draft = int(draft[0])
    for role in ("vet", "staff", "owner", "device"):
        user = f"{role}-{tag}"
        add_user(
            conn,
            user,
            role=role,
            clinic=c.id if role in ("vet", "staff") else None,
            owner=c.owner if role == "owner" else None,
            device=c.cgm if role == "device" else None,
            password=PASSWORD if role in ("vet", "owner") else None,
            display_name=f"Dr {tag.upper()}" if role == "vet" else "",
        )
        c.users[role] = user
        c.tokens[role] = issue_token(conn, user, ttl=timedelta(hours=1)).token
    return c


@pytest.fixture
def api_settings(settings: Settings) -> Settings:
    """The test settings, with a small pool."""
    return settings.model_copy(update={"api_pool_max": 4, "api_login_max_failures": 3})


@pytest.fixture
def world(db_dsn: str) -> World:
    """Two clinics with data and a token for every role (and an admin)."""
    now = datetime.now(UTC).replace(microsecond=0)
    with psycopg.connect(db_dsn) as conn:
        a = _seed_clinic(conn, "a", now)
        b = _seed_clinic(conn, "b", now)
        add_user(conn, "root-admin", role="admin", password=PASSWORD)
        admin = issue_token(conn, "root-admin", ttl=timedelta(hours=1)).token
    return World(a=a, b=b, admin_token=admin, now=now)


@pytest.fixture
def client(api_settings: Settings) -> Iterator[TestClient]:
    """The real app (lifespan, pool, middleware) on the test database, called in-process over ASGI."""
    with TestClient(create_app(api_settings)) as c:
        yield c
