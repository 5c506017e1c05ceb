"""A TimescaleDB filled like a small real clinic: a diabetic dog on a CGM, two horses on a feeder, three cows on
a milking robot, batteries, quarantined messages and alerts, with the rollups refreshed (``vigie_maintain()``).

The database is cloned from the migrated template (like ``db_dsn``) once for the package: every dashboard query
reads the same data, and nothing in these tests writes to it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import psycopg
import pytest

from tests.conftest import ADMIN_DSN, dsn_for

CLINIC = "vet-lyon"

FILL = r"""
INSERT INTO clinics (id, name, glucose_unit) VALUES
  ('vet-lyon', 'Clinique vétérinaire de Lyon', 'mg/dL'), ('zoo-other', 'Zoo clinic', 'g/L');
INSERT INTO owners (id, clinic_id, kind, name, glucose_unit) VALUES
  ('dupont', 'vet-lyon', 'owner', 'M. Dupont', 'mmol/L'),
  ('martin', 'vet-lyon', 'farm', 'GAEC Martin', NULL),
  ('zoo', 'zoo-other', 'owner', 'Zoo', NULL);
INSERT INTO animals (id, clinic_id, owner_id, name, species, weight_kg) VALUES
  ('rex', 'vet-lyon', 'dupont', 'Rex', 'dog', 28), ('tigrou', 'vet-lyon', 'dupont', 'Tigrou', 'cat', 4.5),
  ('eclair', 'vet-lyon', 'martin', 'Eclair', 'horse', 550), ('tornade', 'vet-lyon', 'martin', 'Tornade', 'horse', 600),
  ('cow-017', 'vet-lyon', 'martin', 'Marguerite', 'cow', 650),
  ('cow-018', 'vet-lyon', 'martin', 'Noisette', 'cow', 640),
  ('cow-019', 'vet-lyon', 'martin', 'Violette', 'cow', 700),
  ('bobo', 'zoo-other', 'zoo', 'Bobo', 'dog', 20);
INSERT INTO devices (id, kind, clinic_id, animal_id, last_seen, availability, credentials_hash) VALUES
  ('cgm-rex', 'cgm', 'vet-lyon', 'rex', now() - interval '2 minutes', 'online', 'scrypt$secret'),
  ('feeder-1', 'feeder', 'vet-lyon', NULL, now() - interval '5 minutes', 'online', 'scrypt$secret'),
  ('robot-1', 'milking', 'vet-lyon', NULL, now() - interval '3 hours', 'offline', 'scrypt$secret'),
  ('cgm-bobo', 'cgm', 'zoo-other', 'bobo', now(), 'online', 'scrypt$secret');

CREATE TEMP TABLE r (time timestamptz, device_id text, animal_id text, metric text, value float8, clinic_id text);

-- CGM: every 5 minutes for 16 days, a 12-hour insulin cycle between ~60 and ~280 mg/dL, plus a little noise
INSERT INTO r SELECT t, 'cgm-rex', 'rex', 'glucose',
  170 + 110 * sin(2 * pi() * extract(epoch FROM t) / 43200) + 12 * sin(extract(epoch FROM t) / 977.0), 'vet-lyon'
FROM generate_series(date_trunc('minute', now()) - interval '16 days', now(), interval '5 minutes') AS t;
-- insulin at 07:00 and 19:00, a meal 10 minutes before
INSERT INTO r SELECT t, 'cgm-rex', 'rex', 'insulin_dose', 8, 'vet-lyon'
FROM generate_series(date_trunc('day', now()) - interval '16 days' + interval '7 hours', now(), interval '12 hours') AS t;
INSERT INTO r SELECT t - interval '10 minutes', 'cgm-rex', 'rex', 'meal', 200, 'vet-lyon'
FROM generate_series(date_trunc('day', now()) - interval '16 days' + interval '7 hours', now(), interval '12 hours') AS t;
-- the other clinic's dog, which no query of vet-lyon may show
INSERT INTO r SELECT t, 'cgm-bobo', 'bobo', 'glucose', 333, 'zoo-other'
FROM generate_series(now() - interval '16 days', now(), interval '1 hour') AS t;

-- horses on the shared feeder: a visit per hour (forage, eating time), water every 6 hours;
-- Tornade eats a third of her usual forage over the last 50 hours (so all of yesterday)
INSERT INTO r SELECT t + h.off, 'feeder-1', h.id, 'feed_intake',
  CASE WHEN h.id = 'tornade' AND t > now() - interval '50 hours' THEN 0.25 ELSE h.kg END, 'vet-lyon'
FROM generate_series(date_trunc('hour', now()) - interval '16 days', now() - interval '10 minutes', interval '1 hour') AS t,
     (VALUES ('eclair', 0.6, interval '5 minutes'), ('tornade', 0.75, interval '20 minutes')) AS h (id, kg, off);
INSERT INTO r SELECT t + h.off, 'feeder-1', h.id, 'eating_time',
  CASE WHEN extract(hour FROM t) < 5 THEN 15 ELSE 35 END, 'vet-lyon'
FROM generate_series(date_trunc('hour', now()) - interval '16 days', now() - interval '10 minutes', interval '1 hour') AS t,
     (VALUES ('eclair', interval '5 minutes'), ('tornade', interval '20 minutes')) AS h (id, off);
INSERT INTO r SELECT t + h.off, 'feeder-1', h.id, 'water_intake', 9, 'vet-lyon'
FROM generate_series(date_trunc('hour', now()) - interval '16 days', now() - interval '10 minutes', interval '6 hours') AS t,
     (VALUES ('eclair', interval '7 minutes'), ('tornade', interval '22 minutes')) AS h (id, off);

-- cows milked three times a day by the robot; Noisette's right-front quarter inflamed for 2 days
INSERT INTO r SELECT t + c.off, 'robot-1', c.id, 'milk_yield',
  CASE WHEN c.id = 'cow-018' AND t > now() - interval '2 days' THEN 7 ELSE c.kg END, 'vet-lyon'
FROM generate_series(date_trunc('day', now()) - interval '16 days' + interval '5 hours', now(), interval '8 hours') AS t,
     (VALUES ('cow-017', 11.0, interval '0 minutes'), ('cow-018', 10.0, interval '9 minutes'),
             ('cow-019', 12.5, interval '18 minutes')) AS c (id, kg, off);
INSERT INTO r SELECT t + c.off, 'robot-1', c.id, 'conductivity_' || q.q,
  CASE WHEN c.id = 'cow-018' AND q.q = 'rf' AND t > now() - interval '2 days' THEN 6.4 ELSE 4.8 + q.d END, 'vet-lyon'
FROM generate_series(date_trunc('day', now()) - interval '16 days' + interval '5 hours', now(), interval '8 hours') AS t,
     (VALUES ('cow-017', interval '0 minutes'), ('cow-018', interval '9 minutes'),
             ('cow-019', interval '18 minutes')) AS c (id, off),
     (VALUES ('lf', 0.0), ('rf', 0.1), ('lr', 0.05), ('rr', 0.15)) AS q (q, d);

-- device batteries, hourly
INSERT INTO r SELECT t, d.id, NULL, 'battery', greatest(5, 100 - d.drain * extract(epoch FROM t - (now() - interval '16 days')) / 3600), d.clinic
FROM generate_series(date_trunc('hour', now()) - interval '16 days', now(), interval '1 hour') AS t,
     (VALUES ('cgm-rex', 0.1, 'vet-lyon'), ('feeder-1', 0.02, 'vet-lyon'), ('robot-1', 0.0, 'vet-lyon'),
             ('cgm-bobo', 0.2, 'zoo-other')) AS d (id, drain, clinic);

-- stored with an ingest lag of 1 to 40 s
INSERT INTO readings (time, device_id, animal_id, metric, value, clinic_id, received_at)
SELECT time, device_id, animal_id, metric, value, clinic_id,
       time + make_interval(secs => 1 + abs(hashtext(device_id || metric || time::text)) % 40)
FROM r;

INSERT INTO quarantine (received_at, topic, device_id, clinic_id, reason, detail, payload, payload_size, payload_hash)
SELECT now() - g * interval '37 minutes', 'vigie/v1/devices/' || d || '/telemetry', d, c,
       (ARRAY['unknown_unit', 'out_of_range', 'bad_time'])[1 + g % 3], 'test', '\x7b7d'::bytea, 2,
       sha256(convert_to(d || g::text, 'UTF8'))
FROM generate_series(1, 60) AS g,
     (VALUES ('cgm-rex', 'vet-lyon'), ('robot-1', 'vet-lyon'), ('cgm-bobo', 'zoo-other')) AS x (d, c);

INSERT INTO alerts (clinic_id, animal_id, device_id, category, rule_id, rule_version, severity, status,
                    window_start, window_end, explanation, opened_at, acknowledged_at, acknowledged_by,
                    resolved_at, resolved_by) VALUES
  ('vet-lyon', 'rex', 'cgm-rex', 'hypoglycemia', 'glucose.low', '1', 'urgent', 'open',
   now() - interval '3 hours', now() - interval '2 hours', 'CGM below 60 mg/dL for 40 min: confirm with a glucometer',
   now() - interval '2 hours', NULL, NULL, NULL, NULL),
  ('vet-lyon', 'cow-018', 'robot-1', 'mastitis', 'ec.quarter', '1', 'review', 'open',
   now() - interval '2 days', now() - interval '1 day', 'RF conductivity 30 % above the other quarters',
   now() - interval '1 day', NULL, NULL, NULL, NULL),
  ('vet-lyon', 'tornade', 'feeder-1', 'feed_intake_drop', 'intake.drop', '1', 'review', 'acknowledged',
   now() - interval '30 hours', now() - interval '6 hours', 'forage at 33 % of the 7-day median',
   now() - interval '20 hours', now() - interval '18 hours', 'dr.vet', NULL, NULL),
  ('vet-lyon', 'cow-017', 'robot-1', 'milk_yield_drop', 'yield.drop', '1', 'info', 'resolved',
   now() - interval '11 days', now() - interval '10 days', 'yield 20 % below expected',
   now() - interval '10 days', now() - interval '9 days 20 hours', 'dr.vet', now() - interval '8 days', 'dr.vet'),
  ('vet-lyon', NULL, 'robot-1', 'device_fault', 'device.silent', '1', 'review', 'open',
   now() - interval '3 hours', now() - interval '1 hour', 'no telemetry for 3 h',
   now() - interval '1 hour', NULL, NULL, NULL, NULL),
  ('zoo-other', 'bobo', 'cgm-bobo', 'hyperglycemia', 'glucose.high', '1', 'urgent', 'open',
   now() - interval '3 hours', now() - interval '2 hours', 'other clinic', now() - interval '2 hours',
   NULL, NULL, NULL, NULL);

INSERT INTO rollup_dirty SELECT DISTINCT time_bucket('1 hour', time) FROM readings ON CONFLICT DO NOTHING;
SELECT vigie_maintain();
"""


@pytest.fixture(scope="session")
def farm_dsn(template_db: str) -> Iterator[str]:
    """A migrated database with a clinic's worth of realistic data (read-only for the tests)."""
    name = f"vigie_dash_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    dsn = dsn_for(name)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(FILL.encode())
    yield dsn
    with psycopg.connect(ADMIN_DSN, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture(scope="session")
def farm(farm_dsn: str) -> Iterator[psycopg.Connection[tuple[object, ...]]]:
    """A connection to the filled database (autocommit, as the admin user)."""
    with psycopg.connect(farm_dsn, autocommit=True) as conn:
        yield conn
