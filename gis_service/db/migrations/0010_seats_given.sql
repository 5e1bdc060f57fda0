-- Seats each published run gave at each school, kept when a round's personal data is purged,
-- so later rounds of the grade and year still know the seats they did not have; and each
-- application keeps the sibling group it was judged with.

CREATE TABLE run_school_seats (
    run_id     integer NOT NULL REFERENCES allocation_runs (id) ON DELETE CASCADE,
    school_id  integer NOT NULL REFERENCES schools (id),
    placed     integer NOT NULL CHECK (placed > 0),
    PRIMARY KEY (run_id, school_id)
);

INSERT INTO run_school_seats (run_id, school_id, placed)
SELECT x.run_id, x.school_id, count(*)
FROM assignments x JOIN allocation_runs run ON run.id = x.run_id
WHERE run.published_at IS NOT NULL AND x.school_id IS NOT NULL
GROUP BY x.run_id, x.school_id;

ALTER TABLE applications ADD COLUMN sibling_group text;
UPDATE applications a SET sibling_group = p.sibling_group
FROM applicants p WHERE p.id = a.applicant_id AND p.sibling_group IS NOT NULL;
