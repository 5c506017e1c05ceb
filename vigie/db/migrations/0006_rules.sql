-- Rules engine (issue 6): vet-set rule overrides, the versions of the rule sets alerts were raised with, the
-- service's cursor over committed readings, and the outbox of approved drafts (delivery is the API's).

-- A vet's override of one rule's parameters, for a whole clinic (animal_id NULL) or for one animal; the animal's
-- override wins. Example: a cat with another target range ({"nadir_low": 90}).
CREATE TABLE rule_overrides (
    id         bigserial PRIMARY KEY,
    clinic_id  vigie_id    NOT NULL REFERENCES clinics (id),
    animal_id  vigie_id,
    rule_id    text        NOT NULL,
    params     jsonb       NOT NULL CHECK (jsonb_typeof(params) = 'object'),
    set_by     text        NOT NULL,
    set_at     timestamptz NOT NULL DEFAULT now(),
    reason     text        NOT NULL DEFAULT '',
    FOREIGN KEY (animal_id, clinic_id) REFERENCES animals (id, clinic_id)
);
CREATE UNIQUE INDEX rule_overrides_one ON rule_overrides (clinic_id, coalesce(animal_id, ''), rule_id);

-- Every effective rule set an alert was raised with: version = hash of its content, so a changed file or
-- override gives a new version; alerts.rule_version refers to it.
CREATE TABLE rule_set_versions (
    version     text        PRIMARY KEY,
    species     text        NOT NULL,
    content     jsonb       NOT NULL,
    first_seen  timestamptz NOT NULL DEFAULT now()
);

-- Alerts keep the time the condition started (onset), so that re-evaluating the same rows never re-creates an
-- alert that a vet resolved: (animal/device, rule, onset) identifies an episode.
ALTER TABLE alerts ADD COLUMN onset timestamptz;
CREATE INDEX alerts_episode ON alerts (clinic_id, coalesce(animal_id, ''), rule_id, onset);

-- The rules service's progress over committed readings (received_at), one row per service name.
CREATE TABLE rules_cursor (
    name        text        PRIMARY KEY,
    received_at timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Approved drafts waiting for delivery (issue 7 delivers them); one entry per draft.
CREATE TABLE outbox (
    id          bigserial PRIMARY KEY,
    draft_id    bigint      NOT NULL UNIQUE REFERENCES drafts (id),
    clinic_id   text        NOT NULL,
    channel     text        NOT NULL DEFAULT 'email',
    recipient   text,
    language    text        NOT NULL CHECK (language IN ('fr', 'en')),
    body        text        NOT NULL,
    status      text        NOT NULL DEFAULT 'queued' CHECK (status IN ('queued', 'sent', 'failed')),
    queued_at   timestamptz NOT NULL DEFAULT now(),
    sent_at     timestamptz,
    attempts    integer     NOT NULL DEFAULT 0
);
CREATE INDEX outbox_status ON outbox (status, queued_at);
