-- What Fleetledger keeps in PostgreSQL besides read models: credentials, HTTP idempotency
-- records, and the projection engine's checkpoints and parked events. Read-model tables are
-- created by their projections in a schema of their own (see projections/src/lib.rs), so that
-- a rebuild can build fresh tables beside the serving ones and swap them in.

CREATE TABLE api_keys (
    id          uuid PRIMARY KEY,
    tenant      text NOT NULL,
    role        text NOT NULL,
    name        text,
    -- SHA-256 of the key, hex. The key itself is shown once and never stored.
    key_hash    text NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);

-- Idempotency-Key records: the response a command produced, kept 24 hours.
CREATE TABLE idempotency_keys (
    tenant          text NOT NULL,
    key             text NOT NULL,
    request_hash    text NOT NULL,
    status_code     integer,
    response_headers jsonb,
    response_body   bytea,
    created_at      timestamptz NOT NULL DEFAULT now(),
    completed_at    timestamptz,
    PRIMARY KEY (tenant, key)
);
CREATE INDEX idempotency_keys_created_at ON idempotency_keys (created_at);

-- The stream sequence each projection has applied, written in the same transaction as its rows.
CREATE TABLE projection_checkpoints (
    projection  text PRIMARY KEY,
    position    bigint NOT NULL DEFAULT 0,
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- Events a projection could not apply, kept with the error; the projection moved past them.
CREATE TABLE projection_parked (
    projection  text NOT NULL,
    sequence    bigint NOT NULL,
    subject     text NOT NULL,
    event_type  text,
    error       text NOT NULL,
    event       jsonb,
    parked_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, sequence)
);
