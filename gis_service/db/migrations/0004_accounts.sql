-- Signed-in sessions (only a hash of each bearer token is kept), and applications submitted
-- online: who submitted them and a hash of the request, so a repeated Idempotency-Key can be
-- told apart from a key reused for a different request.

CREATE TABLE sessions (
    id           bigserial PRIMARY KEY,
    user_id      integer NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash   text NOT NULL UNIQUE,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    revoked_at   timestamptz,
    remote_addr  text,
    CHECK (expires_at > created_at)
);
CREATE INDEX sessions_user_idx ON sessions (user_id);

ALTER TABLE applications ADD COLUMN submitted_by integer REFERENCES users (id);
ALTER TABLE applications ADD COLUMN request_hash text;
CREATE INDEX applications_submitted_by_idx ON applications (submitted_by);
