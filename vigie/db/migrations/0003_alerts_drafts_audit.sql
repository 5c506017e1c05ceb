-- Alerts raised by the rules, recommendation drafts a vet approves, and the append-only audit log.

CREATE TABLE alerts (
    id               bigserial PRIMARY KEY,
    clinic_id        text        NOT NULL,
    animal_id        text,
    device_id        text,
    category         text        NOT NULL CHECK (category IN (
                        'hypoglycemia', 'hyperglycemia', 'glycemic_control', 'insulin_duration',
                        'feed_intake_drop', 'water_intake_drop', 'milk_yield_drop', 'mastitis', 'ketosis',
                        'lameness', 'estrus', 'data_gap', 'device_fault')),
    rule_id          text        NOT NULL,
    rule_version     text        NOT NULL,
    severity         text        NOT NULL CHECK (severity IN ('info', 'review', 'urgent')),
    status           text        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'acknowledged', 'resolved')),
    window_start     timestamptz NOT NULL,
    window_end       timestamptz NOT NULL,
    evidence         jsonb       NOT NULL DEFAULT '{}'::jsonb,
    explanation      text        NOT NULL DEFAULT '',
    opened_at        timestamptz NOT NULL DEFAULT now(),
    updated_at       timestamptz NOT NULL DEFAULT now(),
    acknowledged_by  text,
    acknowledged_at  timestamptz,
    resolved_by      text,
    resolved_at      timestamptz,
    CHECK (window_end >= window_start)
);
-- One open alert per animal (or device) and condition: updated, never repeated.
CREATE UNIQUE INDEX alerts_one_open ON alerts (clinic_id, coalesce(animal_id, ''), coalesce(device_id, ''), category, rule_id)
    WHERE status <> 'resolved';
CREATE INDEX alerts_clinic_status ON alerts (clinic_id, status, severity);

CREATE TABLE drafts (
    id           bigserial PRIMARY KEY,
    clinic_id    text        NOT NULL,
    animal_id    text,
    alert_ids    bigint[]    NOT NULL DEFAULT '{}',
    audience     text        NOT NULL DEFAULT 'owner' CHECK (audience IN ('owner', 'farmer')),
    language     text        NOT NULL CHECK (language IN ('fr', 'en')),
    status       text        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'approved', 'edited', 'rejected')),
    body         text        NOT NULL,           -- as drafted
    final_body   text,                           -- as approved (edited or not); only this ever reaches an owner
    created_at   timestamptz NOT NULL DEFAULT now(),
    decided_by   text,
    decided_at   timestamptz,
    reject_reason text,
    CHECK (status <> 'rejected' OR reject_reason IS NOT NULL),
    CHECK (status NOT IN ('approved', 'edited') OR final_body IS NOT NULL)
);
CREATE INDEX drafts_clinic_status ON drafts (clinic_id, status);

CREATE TABLE audit_log (
    id          bigserial PRIMARY KEY,
    at          timestamptz NOT NULL DEFAULT now(),
    actor       text        NOT NULL,
    action      text        NOT NULL,
    clinic_id   text,
    object_type text        NOT NULL,
    object_id   text        NOT NULL,
    detail      jsonb       NOT NULL DEFAULT '{}'::jsonb
);
CREATE INDEX audit_log_clinic_at ON audit_log (clinic_id, at DESC);

-- Append-only: no UPDATE, DELETE or TRUNCATE, whoever asks.
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only' USING ERRCODE = 'insufficient_privilege';
END $$;
CREATE TRIGGER audit_log_no_update BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
