-- A read-only role for Grafana's PostgreSQL data source (dashboards/, docs/dashboards.md).
-- NOLOGIN and without a password: an administrator creates the login user Grafana connects with and grants it
-- this role (docs/dashboards.md), so no secret is ever in a migration. The role is cluster-wide and may already
-- exist (another Vigie database on the same server, a re-created database): it is created only when missing.
-- It gets SELECT on exactly what the dashboards query, and nothing else: no drafts, no audit log, no device
-- credentials (column grants on devices) and no quarantined payloads (column grants on quarantine).
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_catalog.pg_roles WHERE rolname = 'vigie_grafana_reader') THEN
        BEGIN
            CREATE ROLE vigie_grafana_reader NOLOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN
                NULL;  -- created meanwhile by a migration of another database of the same cluster
            WHEN insufficient_privilege THEN
                RAISE EXCEPTION 'cannot create role vigie_grafana_reader: %', SQLERRM
                    USING HINT = 'ask an administrator to run: CREATE ROLE vigie_grafana_reader NOLOGIN; then migrate again';
        END;
    END IF;
    EXECUTE format('GRANT CONNECT ON DATABASE %I TO vigie_grafana_reader', current_database());
END $$;

GRANT USAGE ON SCHEMA public TO vigie_grafana_reader;

GRANT SELECT ON clinics, animals, alerts, readings TO vigie_grafana_reader;
-- the rollups are tables (Apache build) or continuous aggregates (Timescale build), both made by 0004; a GRANT on
-- either kind of relation is the same statement. Granted when present, so this file also applies to a schema
-- whose 0004 could not run (the Timescale variant checked on an Apache build, in tests/test_migrations.py).
DO $$
DECLARE
    rel text;
BEGIN
    FOREACH rel IN ARRAY ARRAY['readings_hourly', 'readings_daily'] LOOP
        IF to_regclass(rel) IS NOT NULL THEN
            EXECUTE format('GRANT SELECT ON %I TO vigie_grafana_reader', rel);
        ELSE
            RAISE NOTICE 'rollup % is missing: not granted to vigie_grafana_reader', rel;
        END IF;
    END LOOP;
END $$;
GRANT SELECT (id, kind, clinic_id, animal_id, enabled, last_seen, availability, availability_at, created_at)
    ON devices TO vigie_grafana_reader;
GRANT SELECT (id, received_at, topic, device_id, clinic_id, reason, detail, payload_size)
    ON quarantine TO vigie_grafana_reader;
GRANT SELECT (id, clinic_id, glucose_unit) ON owners TO vigie_grafana_reader;  -- the glucose unit preference only
