-- Registry: clinics, owners / farms, animals, devices.
-- Ids are short readable strings chosen by the clinic ("rex", "cow-017", "cgm-4f2a"); they appear in MQTT topics,
-- so they may not contain MQTT wildcards or separators (+ # /) and are limited to a safe character set.
CREATE DOMAIN vigie_id AS text CHECK (VALUE ~ '^[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}$');

CREATE TABLE clinics (
    id           vigie_id PRIMARY KEY,
    name         text NOT NULL,
    language     text NOT NULL DEFAULT 'fr' CHECK (language IN ('fr', 'en')),
    glucose_unit text NOT NULL DEFAULT 'mg/dL' CHECK (glucose_unit IN ('mg/dL', 'mmol/L', 'g/L')),
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE owners (
    id           vigie_id PRIMARY KEY,
    clinic_id    vigie_id NOT NULL REFERENCES clinics (id),
    kind         text NOT NULL DEFAULT 'owner' CHECK (kind IN ('owner', 'farm')),
    name         text NOT NULL,
    email        text,
    language     text CHECK (language IN ('fr', 'en')),               -- NULL: the clinic's language
    glucose_unit text CHECK (glucose_unit IN ('mg/dL', 'mmol/L', 'g/L')),
    created_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, clinic_id)
);

CREATE TABLE animals (
    id         vigie_id PRIMARY KEY,
    clinic_id  vigie_id NOT NULL REFERENCES clinics (id),
    owner_id   vigie_id,
    name       text NOT NULL,
    species    text NOT NULL CHECK (species IN ('dog', 'cat', 'horse', 'pony', 'donkey', 'cow')),
    birth_date date,
    weight_kg  double precision CHECK (weight_kg > 0 AND weight_kg < 2000),
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (id, clinic_id),
    -- an animal's owner belongs to the same clinic
    FOREIGN KEY (owner_id, clinic_id) REFERENCES owners (id, clinic_id)
);

CREATE TABLE devices (
    id               vigie_id PRIMARY KEY,
    kind             text NOT NULL CHECK (kind IN ('cgm', 'feeder', 'milking')),
    clinic_id        vigie_id NOT NULL REFERENCES clinics (id),
    animal_id        vigie_id,             -- NULL for a device that serves many animals (milking robot, shared feeder)
    enabled          boolean NOT NULL DEFAULT true,
    credentials_hash text,                 -- Mosquitto's PBKDF2-SHA512 ($7$) hash of the MQTT password, never the password
    last_seen        timestamptz,          -- last telemetry received by ingest
    availability     text CHECK (availability IN ('online', 'offline')),
    availability_at  timestamptz,
    created_at       timestamptz NOT NULL DEFAULT now(),
    -- a bound device belongs to its animal's clinic
    FOREIGN KEY (animal_id, clinic_id) REFERENCES animals (id, clinic_id)
);
CREATE INDEX devices_clinic_idx ON devices (clinic_id);
CREATE INDEX animals_clinic_idx ON animals (clinic_id);
