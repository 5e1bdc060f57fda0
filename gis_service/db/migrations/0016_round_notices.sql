-- What a family does once a round's result is published, as the ward's admissions officers
-- announce it: the enrolment dates, the papers to bring, and whom to ask (and until when) for a
-- review of a result. One notice per round; it is public information, kept when a round's
-- personal data is purged.
CREATE TABLE round_notices (
    round_id integer PRIMARY KEY REFERENCES rounds (id) ON DELETE CASCADE,
    enrol_from date,
    enrol_until date,
    papers text[] NOT NULL DEFAULT '{}',
    review_contact text,
    review_requests_until date,
    updated_at timestamptz NOT NULL DEFAULT now(),
    updated_by text NOT NULL,
    CONSTRAINT round_notices_enrol_both CHECK ((enrol_from IS NULL) = (enrol_until IS NULL)),
    CONSTRAINT round_notices_enrol_order CHECK (enrol_from <= enrol_until),
    CONSTRAINT round_notices_papers_count CHECK (cardinality(papers) <= 12),
    CONSTRAINT round_notices_contact_length CHECK (char_length(review_contact) <= 300)
);
