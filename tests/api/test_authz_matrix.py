"""The authorization matrix: every operation of the OpenAPI document x every identity x own / sibling / foreign
objects → the status must be the one derived from the operation's ``Expect`` (tests/api/authz.py), with zero
mismatches. An operation without an expectation fails (so a new route must be added to a ``perm_*.py`` module), and
so does an expectation without an operation.

The world (two clinics, token-only accounts but one, see :func:`seed`) is seeded once into a template database. Every
call is made on a database in that pristine state: after each call the database's content is compared with the
pristine one (a digest of every table of the schema, whoever added it); a call that changed it must be an allowed
write (a denied call, or a read, that changes anything is a mismatch), and the changed tables are then restored
from a pristine copy before the next call (or, should that not give the pristine digest back, the database is
replaced by a fresh clone of the template).

Responses to identities of clinic A must not name an object of clinic B (nor, for the owner, another owner's).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api._accounts import add_user, issue_token
from api._app import create_app
from tests.api.authz import IDENTITIES, MUTATING, SCOPES, Expect, Objects, expected
from tests.conftest import ADMIN_DSN, Broker, dsn_for
from vigie import registry
from vigie.settings import Settings

HERE = Path(__file__).parent
LOGIN_PASSWORD = "matrix password 1"  # noqa: S105 - the one password account of the matrix world
DIGEST_SKIP = {("api_tokens", "last_used_at")}  # touched by every authenticated call, at most once a minute


def load_expectations() -> dict[tuple[str, str], Expect]:
    """``EXPECTED`` of every ``tests/api/perm_*.py`` module (a key defined twice is an error)."""
    merged: dict[tuple[str, str], Expect] = {}
    for info in sorted(pkgutil.iter_modules([str(HERE)]), key=lambda m: m.name):
        if not info.name.startswith("perm_"):
            continue
        module = importlib.import_module(f"tests.api.{info.name}")
        for key, value in module.EXPECTED.items():
            if key in merged:
                raise AssertionError(f"{key} is expected twice (again in {info.name})")
            if not isinstance(value, Expect):
                raise TypeError(f"{info.name}: {key} is not an Expect")
            merged[key] = value
    return merged


def document_operations() -> list[tuple[str, str]]:
    """(method, path) of every operation of the app's OpenAPI document."""
    doc = create_app(Settings()).openapi()
    return sorted(
        (method.upper(), path)
        for path, item in doc["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete", "head", "options"}
    )


OPERATIONS = document_operations()


# --- the world ---------------------------------------------------------------------------------------------------


@dataclass
class MatrixWorld:
    """Ids of the seeded objects by scope, and a token per identity of clinic A."""

    objects: dict[str, dict[str, str | int]] = field(default_factory=dict)  # scope -> kind -> id
    tokens: dict[str, str] = field(default_factory=dict)  # identity -> bearer token
    leaks: dict[str, list[str]] = field(default_factory=dict)  # identity -> ids it must never be shown


def _seed_clinic(conn: psycopg.Connection[Any], x: str, now: datetime) -> dict[str, dict[str, str | int]]:
    clinic = f"mx-clinic-{x}"
    registry.add_clinic(conn, clinic, name=f"Matrix {x.upper()}", language="fr")
    sides: dict[str, dict[str, str | int]] = {}
    for side, suffix in (("own", ""), ("sibling", "2")):
        owner, cat, cgm = f"mx-owner{suffix}-{x}", f"mx-cat{suffix}-{x}", f"mx-cgm{suffix}-{x}"
        registry.add_owner(conn, owner, clinic=clinic, name=f"Owner {suffix}{x}", email=f"{owner}@example.org")
        registry.add_animal(conn, cat, species="cat", clinic=clinic, owner=owner, name=f"Cat {suffix}{x}")
        registry.add_device(conn, cgm, kind="cgm", animal=cat)
        with (
            conn.cursor() as cur,
            cur.copy("COPY readings (time, animal_id, metric, device_id, value, clinic_id) FROM STDIN") as copy,
        ):
            for i in range(36):
                copy.write_row((now - timedelta(minutes=5 * i), cat, "glucose", cgm, 120.0 + 3 * (i % 7), clinic))
            copy.write_row((now - timedelta(hours=2), cat, "insulin_dose", cgm, 2.0, clinic))
        alert = conn.execute(
            "INSERT INTO alerts (clinic_id, animal_id, device_id, category, rule_id, rule_version, severity,"
            " window_start, window_end, explanation, onset) VALUES (%s, %s, %s, 'hypoglycemia', 'hypoglycemia',"
            " 'v-matrix', 'urgent', %s, %s, 'low', %s) RETURNING id",
            (clinic, cat, cgm, now - timedelta(minutes=20), now, now - timedelta(minutes=20)),
        ).fetchone()
        assert alert is not None
        draft = conn.execute(
            "INSERT INTO drafts (clinic_id, animal_id, alert_ids, audience, language, body) VALUES"
            " (%s, %s, %s, 'owner', 'fr', %s) RETURNING id",
            (clinic, cat, [alert[0]], f"Draft about {cat}"),
        ).fetchone()
        message = conn.execute(
            "INSERT INTO drafts (clinic_id, animal_id, alert_ids, audience, language, body, status, final_body,"
            " decided_by, decided_at) VALUES (%s, %s, '{}', 'owner', 'fr', %s, 'approved', %s, 'Dr M', %s)"
            " RETURNING id",
            (clinic, cat, f"Message about {cat}", f"Message about {cat}", now - timedelta(hours=1)),
        ).fetchone()
        assert draft is not None
        assert message is not None
        conn.execute(
            "INSERT INTO rule_overrides (clinic_id, animal_id, rule_id, params, set_by) VALUES"
            " (%s, %s, 'hypoglycemia', '{\"threshold\": 65}', 'Dr M')",
            (clinic, cat),
        )
        sides[side] = {
            "clinic": clinic,
            "owner": owner,
            "animal": cat,
            "device": cgm,
            "alert": int(alert[0]),
            "draft": int(draft[0]),
            "message": int(message[0]),
        }
    farm, cow, robot = f"mx-farm-{x}", f"mx-cow-{x}", f"mx-robot-{x}"
    registry.add_owner(conn, farm, clinic=clinic, name=f"Farm {x}", kind="farm", email=f"{farm}@example.org")
    registry.add_animal(conn, cow, species="cow", clinic=clinic, owner=farm, name=f"Cow {x}")
    registry.add_device(conn, robot, kind="milking", clinic=clinic)
    with (
        conn.cursor() as cur,
        cur.copy("COPY readings (time, animal_id, metric, device_id, value, clinic_id) FROM STDIN") as copy,
    ):
        for i in range(10):
            copy.write_row((now - timedelta(hours=12 * i), cow, "milk_yield", robot, 14.0 + i % 3, clinic))
    conn.execute(
        "INSERT INTO rule_overrides (clinic_id, animal_id, rule_id, params, set_by) VALUES"
        " (%s, NULL, 'hypoglycemia', '{\"threshold\": 70}', 'Dr M')",
        (clinic,),
    )
    for objects in sides.values():
        objects.update({"farm": farm, "cow": cow, "robot": robot})
    return sides


def seed(conn: psycopg.Connection[Any]) -> MatrixWorld:
    """Clinics A and B seeded alike, an admin, and the accounts of clinic A (token-only but the vet, who logs in)."""
    now = datetime.now(UTC).replace(microsecond=0)
    a = _seed_clinic(conn, "a", now)
    b = _seed_clinic(conn, "b", now)
    world = MatrixWorld(objects={"own": a["own"], "sibling": a["sibling"], "foreign": b["own"]})
    accounts = {
        "admin": ("mx-admin", {"role": "admin"}),
        "vet": ("mx-vet-a", {"role": "vet", "clinic": "mx-clinic-a", "password": LOGIN_PASSWORD}),
        "staff": ("mx-staff-a", {"role": "staff", "clinic": "mx-clinic-a"}),
        "owner": ("mx-owneruser-a", {"role": "owner", "owner": "mx-owner-a"}),
        "device": ("mx-device-a", {"role": "device", "device": "mx-cgm-a"}),
    }
    for identity, (user, kwargs) in accounts.items():
        add_user(conn, user, **kwargs)  # type: ignore[arg-type]
        world.tokens[identity] = issue_token(conn, user, ttl=timedelta(hours=2)).token
    for side in ("a", "b"):
        add_user(conn, f"mx-vet2-{side}", role="vet", clinic=f"mx-clinic-{side}")
    for scope in SCOPES:
        world.objects[scope]["user"] = "mx-vet2-b" if scope == "foreign" else "mx-vet2-a"
    foreign = [v for v in b["own"].values() if isinstance(v, str)] + [
        v for v in b["sibling"].values() if isinstance(v, str)
    ]
    foreign.append("mx-vet2-b")
    others = ["mx-owner2-a", "mx-cat2-a", "mx-cgm2-a", "mx-farm-a", "mx-cow-a", "mx-robot-a"]
    for identity in ("vet", "staff", "device"):
        world.leaks[identity] = sorted(set(foreign))
    world.leaks["owner"] = sorted(set(foreign) | set(others))
    return world


def keep_pristine(conn: psycopg.Connection[Any]) -> None:
    """A copy of every table in the schema ``mx_pristine``, to restore from."""
    conn.execute("CREATE SCHEMA mx_pristine")
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'"
    ).fetchall()
    for (table,) in tables:
        conn.execute(f'CREATE TABLE mx_pristine."{table}" AS SELECT * FROM public."{table}"')


# --- the databases -----------------------------------------------------------------------------------------------


class MatrixDb:
    """A database in the pristine matrix state and the app on it.

    After a call that changed something, the changed tables are restored from the pristine copy the template keeps
    in the schema ``mx_pristine`` (triggers and foreign-key checks off while restoring), and the digest must be the
    pristine one again; if it is not, the database is replaced by a fresh clone of the template.
    """

    def __init__(self, template: str, settings: Settings) -> None:
        self.template = template
        self.base = settings
        self.name = ""
        self.client: TestClient | None = None
        self.conn: psycopg.Connection[Any] | None = None
        self._digest_sql = ""
        self.pristine = ""
        self.restores = 0
        self.clones = 0
        self.calls = 0

    def fresh(self) -> None:
        """Replace the current database by a new clone of the template (and the app by one on it)."""
        self.close()
        self.clones += 1
        self.name = f"vigie_mx_{uuid.uuid4().hex[:10]}"
        with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
            admin.execute(f'CREATE DATABASE "{self.name}" TEMPLATE "{self.template}"')
        settings = self.base.model_copy(update={"database_url": SecretStr(dsn_for(self.name)), "api_pool_max": 2})
        self.client = TestClient(create_app(settings), raise_server_exceptions=False)
        self.client.__enter__()
        self.conn = psycopg.connect(dsn_for(self.name), autocommit=True)
        if not self._digest_sql:
            self._digest_sql = self._build_digest_sql()
            self.pristine = self.digest()

    def _build_digest_sql(self) -> str:
        assert self.conn is not None
        rows = self.conn.execute(
            "SELECT c.table_name, c.column_name FROM information_schema.columns c"
            " JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name"
            " WHERE c.table_schema = 'public' AND t.table_type = 'BASE TABLE' ORDER BY c.table_name, c.ordinal_position"
        ).fetchall()
        columns: dict[str, list[str]] = {}
        for table, column in rows:
            if (table, column) not in DIGEST_SKIP:
                columns.setdefault(table, []).append(f'"{column}"')
        parts = [
            f"'{table}', (SELECT md5(coalesce(string_agg(x, '|' ORDER BY x), '')) FROM"
            f' (SELECT ROW({", ".join(cols)})::text AS x FROM public."{table}") AS s)'
            for table, cols in sorted(columns.items())
        ]
        return "SELECT json_build_object(" + ", ".join(parts) + ")::text"

    def digest(self) -> str:
        """What every table holds, as one string (md5 per table)."""
        assert self.conn is not None
        row = self.conn.execute(self._digest_sql).fetchone()
        assert row is not None
        return str(row[0])

    def changed_tables(self, now: str) -> list[str]:
        """Tables whose content differs from the pristine state."""
        before, after = json.loads(self.pristine), json.loads(now)
        return sorted(t for t in after if before.get(t) != after[t])

    def restore(self, now: str) -> None:
        """Back to the pristine state: the changed tables from ``mx_pristine``, else a fresh clone."""
        assert self.conn is not None
        self.restores += 1
        tables = self.changed_tables(now)
        with self.conn.transaction():
            self.conn.execute("SET LOCAL session_replication_role = replica")
            for table in tables:
                self.conn.execute(f'DELETE FROM public."{table}"')
                self.conn.execute(f'INSERT INTO public."{table}" SELECT * FROM mx_pristine."{table}"')
        if self.digest() != self.pristine:
            self.fresh()

    def close(self) -> None:
        """Stop the app and drop the database."""
        if self.client is not None:
            self.client.__exit__(None, None, None)
            self.client = None
        if self.conn is not None:
            self.conn.close()
            self.conn = None
        if self.name:
            with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
                admin.execute(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


@pytest.fixture(scope="module")
def matrix(template_db: str, broker: Broker) -> Iterator[tuple[MatrixDb, MatrixWorld]]:
    """The seeded template, and a database in its state."""
    name = f"vigie_mxtpl_{uuid.uuid4().hex[:10]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    with psycopg.connect(dsn_for(name)) as conn:
        world = seed(conn)
        keep_pristine(conn)
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH ALLOW_CONNECTIONS false IS_TEMPLATE true')
        admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s", (name,))
    settings = Settings(
        database_url=dsn_for(name),  # type: ignore[arg-type]
        mqtt_url=broker.url,  # type: ignore[arg-type]
        topic_root=f"t/{uuid.uuid4().hex[:10]}/vigie/v1",
        ingest_metrics_port=0,
    )
    db = MatrixDb(name, settings)
    db.fresh()
    started = time.monotonic()
    yield db, world
    print(
        f"\nauthorization matrix: {db.calls} calls, {db.restores} restores, {db.clones} clones, {time.monotonic() - started:.1f} s"
    )
    db.close()
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'ALTER DATABASE "{name}" WITH IS_TEMPLATE false')
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# --- the checks --------------------------------------------------------------------------------------------------


def _value(spec: Any, objects: Objects) -> Any:
    return spec(objects) if callable(spec) else spec


def _path(template: str, params: Mapping[str, str], objects: Objects) -> str:
    path = template
    for name, kind in params.items():
        value = kind[1:] if kind.startswith("=") else objects[kind]
        path = path.replace("{" + name + "}", str(value))
    assert "{" not in path, f"{template}: a path parameter has no kind in its Expect"
    return path


def check_operation(db: MatrixDb, world: MatrixWorld, method: str, template: str, e: Expect) -> list[str]:
    """Every identity x scope of one operation; the mismatches, one line each."""
    mismatches: list[str] = []
    scopes = SCOPES if e.is_scoped else ("own",)
    for identity in IDENTITIES:
        for scope in scopes:
            objects = world.objects[scope]
            path = _path(template, e.params, objects)
            headers = {} if identity == "anonymous" else {"Authorization": f"Bearer {world.tokens[identity]}"}
            body = _value(e.body, objects)
            assert db.client is not None
            r = db.client.request(method, path, headers=headers, params=dict(_value(e.query, objects)), json=body)
            db.calls += 1
            want = expected(e, identity, scope)
            where = f"{identity:9} {scope:7} {method} {path}"
            if r.status_code != want:
                mismatches.append(f"{where}: got {r.status_code}, expected {want}: {r.text[:200]}")
            if 200 <= r.status_code < 300:
                named = [leak for leak in world.leaks.get(identity, []) if leak in r.text]
                if named:
                    mismatches.append(f"{where}: the response names {named}")
            now = db.digest()
            if now != db.pristine:
                if not 200 <= want < 300:
                    mismatches.append(f"{where}: a denied call changed {db.changed_tables(now)}")
                elif method not in MUTATING:
                    mismatches.append(f"{where}: a read changed {db.changed_tables(now)}")
                db.restore(now)
    return mismatches


EXPECTATIONS = load_expectations()


def test_every_operation_has_an_expectation_and_every_expectation_an_operation() -> None:
    missing = [f"{m} {p}" for m, p in OPERATIONS if (m, p) not in EXPECTATIONS]
    stale = [f"{m} {p}" for m, p in EXPECTATIONS if (m, p) not in OPERATIONS]
    assert not missing, "operations without an expectation (add them to a tests/api/perm_*.py):\n" + "\n".join(missing)
    assert not stale, "expectations of no operation:\n" + "\n".join(stale)


@pytest.mark.parametrize(("method", "path"), OPERATIONS, ids=[f"{m} {p}" for m, p in OPERATIONS])
def test_operation(matrix: tuple[MatrixDb, MatrixWorld], method: str, path: str) -> None:
    e = EXPECTATIONS.get((method, path))
    assert e is not None, f"{method} {path} has no expectation: add it to a tests/api/perm_*.py module"
    db, world = matrix
    mismatches = check_operation(db, world, method, path, e)
    assert not mismatches, f"{len(mismatches)} mismatches:\n" + "\n".join(mismatches)


def test_the_matrix_sees_a_wrong_expectation_and_a_denied_call_that_changes_state(
    matrix: tuple[MatrixDb, MatrixWorld],
) -> None:
    db, world = matrix
    # staff are said to create animals: they get 403, which the check reports
    too_open = Expect(
        roles=frozenset({"admin", "vet", "staff"}), ok=201, body=EXPECTATIONS[("POST", "/api/v1/animals")].body
    )
    found = check_operation(db, world, "POST", "/api/v1/animals", too_open)
    assert any(line.startswith("staff") and "got 403, expected 201" in line for line in found), found
    # vets are said not to change animals: their successful change is a mismatch, and so is the state it changed
    too_strict = Expect(roles=frozenset({"admin"}), params={"animal_id": "animal"}, body={"weight_kg": 4.5})
    found = check_operation(db, world, "PATCH", "/api/v1/animals/{animal_id}", too_strict)
    assert any(line.startswith("vet") and "got 200, expected 403" in line for line in found), found
    assert any(line.startswith("vet") and "a denied call changed ['animals', 'audit_log']" in line for line in found), (
        found
    )
    assert db.digest() == db.pristine  # and the world is pristine again for the next check
    # a response naming an object the identity must not see is reported
    strict = MatrixWorld(objects=world.objects, tokens=world.tokens, leaks={"vet": ["mx-cat-a"]})
    found = check_operation(db, strict, "GET", "/api/v1/animals", EXPECTATIONS[("GET", "/api/v1/animals")])
    assert any(line.startswith("vet") and "names ['mx-cat-a']" in line for line in found), found
