-- API (issue 7): people and programs that use the API and the vets' web page, their tokens, and login attempts.
--
-- Roles: admin (every clinic), vet, staff (a clinic's people), owner (an owner or farm of a clinic: its own animals
-- and approved messages only), device (one device). Passwords are stored as scrypt hashes, tokens as the SHA-256 of
-- a 256-bit random secret: a stolen database dump opens nothing.

CREATE TABLE users (
    id            vigie_id    PRIMARY KEY,                    -- the login name
    role          text        NOT NULL CHECK (role IN ('admin', 'vet', 'staff', 'owner', 'device')),
    clinic_id     vigie_id    REFERENCES clinics (id),        -- NULL only for an admin
    owner_id      vigie_id,                                   -- the owner / farm an owner account speaks for
    device_id     vigie_id    REFERENCES devices (id),        -- the device a device account is
    display_name  text        NOT NULL DEFAULT '',
    language      text        CHECK (language IN ('fr', 'en')),  -- NULL: the clinic's language
    password_hash text,                                       -- NULL: token-only account
    disabled      boolean     NOT NULL DEFAULT false,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK ((role = 'admin') = (clinic_id IS NULL)),
    CHECK ((role = 'owner') = (owner_id IS NOT NULL)),
    CHECK ((role = 'device') = (device_id IS NOT NULL)),
    FOREIGN KEY (owner_id, clinic_id) REFERENCES owners (id, clinic_id)
);
CREATE INDEX users_clinic_idx ON users (clinic_id);

CREATE TABLE api_tokens (
    id           bigserial   PRIMARY KEY,
    user_id      vigie_id    NOT NULL REFERENCES users (id),
    token_hash   bytea       NOT NULL UNIQUE,                 -- SHA-256 of the secret; the secret is shown once
    kind         text        NOT NULL DEFAULT 'api' CHECK (kind IN ('api', 'session')),
    name         text        NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    last_used_at timestamptz,
    CHECK (expires_at > created_at)
);
CREATE INDEX api_tokens_user_idx ON api_tokens (user_id);

-- Failed logins, for the rate limit (per login name and per client address), shared by every API process.
CREATE TABLE login_failures (
    at       timestamptz NOT NULL DEFAULT now(),
    username text        NOT NULL,
    address  text        NOT NULL
);
CREATE INDEX login_failures_user_at ON login_failures (username, at);
CREATE INDEX login_failures_addr_at ON login_failures (address, at);

-- Delivery of approved drafts (outbox, 0006): the owner's channel and the delivery status of each attempt.
ALTER TABLE owners ADD COLUMN webhook_url text CHECK (webhook_url IS NULL OR webhook_url ~ '^https?://');
ALTER TABLE outbox DROP CONSTRAINT outbox_status_check;
ALTER TABLE outbox ADD CONSTRAINT outbox_status_check CHECK (status IN ('queued', 'sending', 'sent', 'failed'));
ALTER TABLE outbox ADD COLUMN next_attempt_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE outbox ADD COLUMN last_error text;
ALTER TABLE outbox ADD COLUMN subject text;
