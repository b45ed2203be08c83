-- An idempotency record belongs to the credential that made the request: another key of the
-- same tenant (another role) never gets its saved response. Records of before have no
-- credential and so are never replayed again; they expire within a day as usual.
ALTER TABLE idempotency_keys ADD COLUMN credential text NOT NULL DEFAULT '';
ALTER TABLE idempotency_keys DROP CONSTRAINT idempotency_keys_pkey;
ALTER TABLE idempotency_keys ADD PRIMARY KEY (tenant, credential, key);
