-- A batch triggered with a public access token (auth.createBatchTriggerPublicToken) remembers the
-- SHA-256 of that token: its items (the second phase, POST /api/v3/batches/{id}/items) are accepted
-- only with the same token, so a token spent on creating one batch cannot fill another. See
-- docs/realtime.md.
alter table ratchet.batches add column public_token_hash bytea;
