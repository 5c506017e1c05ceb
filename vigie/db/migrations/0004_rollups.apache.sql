-- Rollups and retention, Apache edition of TimescaleDB (no continuous aggregates, no policies).
-- Vigie maintains the same objects the Timescale edition gets from continuous aggregates and policies:
--   readings_hourly, readings_daily   same columns as the continuous aggregates of 0004_rollups.timescale.sql
--   rollup_dirty                      hours touched by ingest since the last refresh (written in the ingest transaction,
--                                     so late and backlogged data is rolled up too)
--   vigie_maintain()                  refreshes dirty hours and days, then applies retention; run by `vigie db maintain`
--                                     and periodically by the running services

CREATE TABLE readings_hourly (
    bucket    timestamptz      NOT NULL,
    clinic_id text             NOT NULL,
    device_id text             NOT NULL,
    animal_id text,
    metric    text             NOT NULL,
    n         bigint           NOT NULL,
    sum       double precision NOT NULL,
    min       double precision NOT NULL,
    max       double precision NOT NULL
);
SELECT create_hypertable('readings_hourly', by_range('bucket', INTERVAL '30 days'));
CREATE UNIQUE INDEX readings_hourly_key ON readings_hourly (device_id, metric, bucket, animal_id) NULLS NOT DISTINCT;
CREATE INDEX readings_hourly_animal ON readings_hourly (animal_id, metric, bucket DESC);

CREATE TABLE readings_daily (LIKE readings_hourly INCLUDING ALL);
SELECT create_hypertable('readings_daily', by_range('bucket', INTERVAL '365 days'));

CREATE TABLE rollup_dirty (hour timestamptz PRIMARY KEY);

CREATE TABLE retention (
    table_name text PRIMARY KEY,
    keep       interval NOT NULL
);
-- Raw readings are kept 3 years, rollups for ever (a clinical record outlives the sensor data behind it).
INSERT INTO retention VALUES ('readings', INTERVAL '1095 days');

CREATE FUNCTION vigie_maintain() RETURNS TABLE (hours_refreshed integer, days_refreshed integer, chunks_dropped integer)
LANGUAGE plpgsql AS $$
DECLARE
    dirty_hours timestamptz[];
    dirty_days  timestamptz[];
    keep        interval;
BEGIN
    -- take the dirty set atomically: ingest may add new hours concurrently, they stay for the next run
    WITH taken AS (DELETE FROM rollup_dirty RETURNING hour)
    SELECT coalesce(array_agg(hour), '{}') INTO dirty_hours FROM taken;
    SELECT coalesce(array_agg(DISTINCT time_bucket(INTERVAL '1 day', h)), '{}') INTO dirty_days FROM unnest(dirty_hours) h;

    DELETE FROM readings_hourly WHERE bucket = ANY (dirty_hours);
    INSERT INTO readings_hourly (bucket, clinic_id, device_id, animal_id, metric, n, sum, min, max)
    SELECT time_bucket(INTERVAL '1 hour', r.time), r.clinic_id, r.device_id, r.animal_id, r.metric,
           count(*), sum(r.value), min(r.value), max(r.value)
    FROM unnest(dirty_hours) AS h(hour)
    JOIN readings r ON r.time >= h.hour AND r.time < h.hour + INTERVAL '1 hour'
    GROUP BY 1, 2, 3, 4, 5;

    DELETE FROM readings_daily WHERE bucket = ANY (dirty_days);
    INSERT INTO readings_daily (bucket, clinic_id, device_id, animal_id, metric, n, sum, min, max)
    SELECT time_bucket(INTERVAL '1 day', r.bucket), r.clinic_id, r.device_id, r.animal_id, r.metric,
           sum(r.n), sum(r.sum), min(r.min), max(r.max)
    FROM unnest(dirty_days) AS d(day)
    JOIN readings_hourly r ON r.bucket >= d.day AND r.bucket < d.day + INTERVAL '1 day'
    GROUP BY 1, 2, 3, 4, 5;

    SELECT r.keep INTO keep FROM retention r WHERE r.table_name = 'readings';
    IF keep IS NOT NULL THEN
        SELECT count(*) INTO chunks_dropped FROM drop_chunks('readings', older_than => now() - keep);
    ELSE
        chunks_dropped := 0;
    END IF;
    hours_refreshed := cardinality(dirty_hours);
    days_refreshed := cardinality(dirty_days);
    RETURN NEXT;
END $$;
