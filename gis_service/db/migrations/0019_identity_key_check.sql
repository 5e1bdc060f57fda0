-- Every machine and process serving one database must hash children's identity codes with one
-- key, or one child would count as two. The first key to hash for the database leaves a check
-- value here (HMAC-SHA256 of a fixed text under the key: it tells keys apart, and the key
-- cannot be had back from it); a process holding another key is refused.
CREATE TABLE identity_key_check (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    check_value text NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
