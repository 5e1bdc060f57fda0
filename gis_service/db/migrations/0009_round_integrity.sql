-- One record of each admission, whatever door an action comes through:
-- * a round gains its review window (parents check their data) and a revision, bumped
--   whenever the data a run reads may change while no application can arrive (a reopened
--   round, a priority claim decided), so a run made before it can no longer be published;
-- * at most one published run per round and one next round per round, as unique indexes;
-- * each application keeps the facts it was judged on (birth date, home, ward, priority
--   claim), so a later application of the same child never changes a published round;
-- * a priority claim waits for an officer's decision, with a note;
-- * an import that meets a parent's application lists the conflict instead of overwriting.

ALTER TABLE rounds DROP CONSTRAINT rounds_status_check;
ALTER TABLE rounds ADD CONSTRAINT rounds_status_check
    CHECK (status IN ('draft', 'open', 'review', 'closed', 'published', 'archived'));
ALTER TABLE rounds ADD COLUMN revision integer NOT NULL DEFAULT 0;
ALTER TABLE rounds ADD COLUMN review_at timestamptz;

ALTER TABLE allocation_runs ADD COLUMN round_revision integer;
UPDATE allocation_runs run SET round_revision = r.revision FROM rounds r WHERE r.id = run.round_id;
ALTER TABLE allocation_runs ALTER COLUMN round_revision SET NOT NULL;

-- Earlier databases may hold two published runs of one round, or two next rounds of one
-- round: the first stays, the others are set aside with an audit entry naming them.
WITH ranked AS (
    SELECT id, round_id,
           row_number() OVER (PARTITION BY round_id ORDER BY published_at, id) AS nth
    FROM allocation_runs WHERE published_at IS NOT NULL
), unpublished AS (
    UPDATE allocation_runs run SET published_at = NULL
    FROM ranked WHERE ranked.id = run.id AND ranked.nth > 1
    RETURNING run.id, run.round_id
)
INSERT INTO audit_log (actor, action, target, detail)
SELECT 'system', 'run.unpublish', 'run:' || id,
       jsonb_build_object('round', round_id,
                          'why', 'a second published run of the round (migration 0009)')
FROM unpublished;

WITH ranked AS (
    SELECT id, parent_round_id,
           row_number() OVER (PARTITION BY parent_round_id ORDER BY id) AS nth
    FROM rounds WHERE parent_round_id IS NOT NULL
), detached AS (
    UPDATE rounds r SET parent_round_id = NULL
    FROM ranked WHERE ranked.id = r.id AND ranked.nth > 1
    RETURNING r.id, ranked.parent_round_id
)
INSERT INTO audit_log (actor, action, target, detail)
SELECT 'system', 'round.detach', 'round:' || id,
       jsonb_build_object('after_round', parent_round_id,
                          'why', 'a second next round of the round (migration 0009)')
FROM detached;

CREATE UNIQUE INDEX allocation_runs_one_published ON allocation_runs (round_id)
    WHERE published_at IS NOT NULL;
CREATE UNIQUE INDEX rounds_one_next ON rounds (parent_round_id)
    WHERE parent_round_id IS NOT NULL;

-- The facts each application was judged on, copied from the child's record.
ALTER TABLE applications ADD COLUMN birth_date date;
ALTER TABLE applications ADD COLUMN home geometry(Point, 4326);
ALTER TABLE applications ADD COLUMN home_address text;
ALTER TABLE applications ADD COLUMN ward_id integer REFERENCES admin_units (id);
ALTER TABLE applications ADD COLUMN priority_group text;
ALTER TABLE applications ADD COLUMN priority_status text
    CHECK (priority_status IN ('pending', 'verified', 'rejected'));
ALTER TABLE applications ADD COLUMN priority_note text;
ALTER TABLE applications ADD COLUMN priority_checked_by text;
ALTER TABLE applications ADD COLUMN priority_checked_at timestamptz;
UPDATE applications a
SET birth_date = p.birth_date, home = p.home, home_address = p.home_address,
    ward_id = p.ward_id, priority_group = p.priority_group,
    -- Claims stored before now were decided under the old rules: an officer's import counts
    -- as checked; a parent's own claim waits for an officer like every new one.
    priority_status = CASE
        WHEN p.priority_group IS NULL THEN NULL
        WHEN a.submitted_by IS NULL THEN 'verified'
        ELSE 'pending'
    END
FROM applicants p WHERE p.id = a.applicant_id;
ALTER TABLE applications ALTER COLUMN birth_date SET NOT NULL;
ALTER TABLE applications ALTER COLUMN home SET NOT NULL;
ALTER TABLE applications ADD CONSTRAINT applications_priority_claim
    CHECK ((priority_group IS NULL) = (priority_status IS NULL));
CREATE INDEX applications_home_idx ON applications USING gist (home);
CREATE INDEX applications_pending_claims_idx ON applications (round_id)
    WHERE priority_status = 'pending';

-- The child's record keeps who the child is and who answers for it; the facts live with
-- each application.
ALTER TABLE applicants DROP COLUMN birth_date;
ALTER TABLE applicants DROP COLUMN home;
ALTER TABLE applicants DROP COLUMN home_address;
ALTER TABLE applicants DROP COLUMN ward_id;
ALTER TABLE applicants DROP COLUMN priority_group;

-- An officer's import that met a parent's own application in the round: the parent's data
-- stayed, and the officer sees which fields of which file line differ.
CREATE TABLE application_conflicts (
    id              bigserial PRIMARY KEY,
    round_id        integer NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    application_id  integer NOT NULL REFERENCES applications (id) ON DELETE CASCADE,
    source_file     text,
    source_line     integer,
    fields          text[] NOT NULL,
    actor           text NOT NULL,
    created_at      timestamptz NOT NULL DEFAULT now(),
    resolved_at     timestamptz
);
CREATE INDEX application_conflicts_round_idx ON application_conflicts (round_id);
