-- Readings (a hypertable) and the quarantine of everything that could not be stored.

CREATE TABLE readings (
    time        timestamptz      NOT NULL,   -- when the device measured (device clock, checked at ingest)
    device_id   text             NOT NULL,
    animal_id   text,                        -- the animal measured; NULL only for device-level metrics (battery)
    metric      text             NOT NULL,   -- a name from config/metrics.toml, value in its canonical unit
    value       double precision NOT NULL CHECK (value NOT IN ('NaN'::float8, 'Infinity'::float8, '-Infinity'::float8)),
    clinic_id   text             NOT NULL,   -- from the device registry, never from the payload
    seq         bigint,                      -- the device's message sequence number (native format), NULL for SenML
    received_at timestamptz      NOT NULL DEFAULT now()
);

-- Chunk interval: 1 day. TimescaleDB advises chunks whose indexes fit in ~25 % of shared_buffers. Each row costs
-- about 100 B across the two indexes below; a large clinic (500 CGMs at 1-minute samples, plus a 200-cow robot
-- and 50 feeders) writes under 1 M rows a day, ~100 MB of index: one day per chunk keeps the hot chunk in memory
-- on a modest server, and the common queries (last hours, 14-day patient view) touch 1 to 15 chunks.
SELECT create_hypertable('readings', by_range('time', INTERVAL '1 day'));

-- The natural key: a re-sent or redelivered reading is stored once. TimescaleDB requires the time column in every
-- unique index; NULLS NOT DISTINCT makes device-level metrics (animal_id NULL) deduplicate too. Its column order
-- also serves the patient view (one animal, one metric, a time range), so no other index is needed: every index
-- costs ingest speed (measured: COPY 76 k rows/s with this key and the time index, 52 k with a third index).
CREATE UNIQUE INDEX readings_natural_key ON readings (animal_id, metric, time, device_id) NULLS NOT DISTINCT;

CREATE TABLE quarantine (
    id           bigserial PRIMARY KEY,
    received_at  timestamptz NOT NULL DEFAULT now(),
    topic        text        NOT NULL,
    device_id    text,                     -- as named by the topic (may be unknown to the registry)
    clinic_id    text,                     -- when the device is known
    reason       text        NOT NULL,     -- a reason code, see docs/device-contract.md
    detail       text        NOT NULL DEFAULT '',
    payload      bytea       NOT NULL,     -- the offending payload or record, at most 64 KiB
    payload_size integer     NOT NULL,     -- the original size in bytes
    payload_hash bytea       NOT NULL      -- sha256 of topic + payload: a redelivered message is quarantined once
);
CREATE UNIQUE INDEX quarantine_dedup ON quarantine (payload_hash, reason);
CREATE INDEX quarantine_device_time ON quarantine (device_id, received_at DESC);
CREATE INDEX quarantine_reason_time ON quarantine (reason, received_at DESC);
