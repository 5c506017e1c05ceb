-- Delivery of approved drafts (issue 7, api/_delivery.py): which channels each message goes to, when each channel
-- succeeded, the lease of the worker sending it, a wake-up notification, and the delivery status the API shows.
--
-- Life of an outbox row: queued -> sending (claimed: attempts + 1, next_attempt_at = end of the lease) -> sent, or
-- back to queued with next_attempt_at = now + backoff, or failed (permanent error or delivery_max_attempts reached).
-- A 'sending' row whose lease ended (its worker died) is claimed again: delivery is at least once, and each message
-- carries an id derived from outbox.id (Message-ID, Idempotency-Key) so that a receiver can drop a repeat.

ALTER TABLE outbox ADD COLUMN channels        text[];       -- set at the first attempt: {email}, {webhook} or both
ALTER TABLE outbox ADD COLUMN webhook_url     text;         -- the owner's webhook at the first attempt
ALTER TABLE outbox ADD COLUMN email_sent_at   timestamptz;  -- a channel that succeeded is not sent again on retry
ALTER TABLE outbox ADD COLUMN webhook_sent_at timestamptz;
ALTER TABLE outbox ADD COLUMN claimed_by      text;         -- the worker holding the lease (NULL when not sending)
ALTER TABLE outbox ADD COLUMN last_attempt_at timestamptz;
ALTER TABLE outbox ADD CONSTRAINT outbox_channels_known CHECK (channels <@ ARRAY['email', 'webhook']::text[]);
ALTER TABLE outbox ADD CONSTRAINT outbox_attempts_nonneg CHECK (attempts >= 0);

-- What the workers claim: due rows only.
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE status IN ('queued', 'sending');

-- A worker LISTENs on vigie_outbox and claims as soon as a draft is approved (polling stays the fallback).
CREATE FUNCTION outbox_notify() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('vigie_outbox', '');
    RETURN NULL;
END $$;
CREATE TRIGGER outbox_notify AFTER INSERT ON outbox FOR EACH STATEMENT EXECUTE FUNCTION outbox_notify();

-- The delivery status of each approved draft, for the API and `vigie outbox list` (filter by clinic_id).
CREATE VIEW delivery_status AS
SELECT o.id AS outbox_id, o.draft_id, o.clinic_id, d.animal_id, o.status, o.channels, o.recipient, o.subject,
       o.attempts, o.queued_at, o.last_attempt_at,
       CASE WHEN o.status IN ('queued', 'sending') THEN o.next_attempt_at END AS next_attempt_at,
       o.sent_at, o.email_sent_at, o.webhook_sent_at, o.last_error
FROM outbox o
JOIN drafts d ON d.id = o.draft_id;
