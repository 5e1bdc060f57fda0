-- An assignment's run, child and school are checked once per statement, set against set,
-- instead of by three foreign keys, each of which checks (and locks) its row once per assignment
-- row. A city's run writes 125,000 assignments at once; the per-row checks took 1.9 s of the
-- 4.2 s COPY (measured on the 2018 Ho Chi Minh City round), the statement's check about 0.1 s.
--
-- The rules stay those of the foreign keys:
--   * every assignment names an existing run, child and (when placed) school, or the
--     statement fails with foreign_key_violation (23503);
--   * deleting a run or a child deletes its assignments (as ON DELETE CASCADE did);
--   * a school named by an assignment cannot be deleted (as the plain foreign key did).
-- The foreign keys also locked each referenced row until commit. The rows cannot go away
-- meanwhile: a run is written under its round's row lock (lifecycle.lock_round), which a purge
-- takes too; a child is deleted only by a purge, and only once it has no application, while
-- every child of a run has an application of the round (applications keep their foreign key).

ALTER TABLE assignments DROP CONSTRAINT assignments_run_id_fkey;
ALTER TABLE assignments DROP CONSTRAINT assignments_applicant_id_fkey;
ALTER TABLE assignments DROP CONSTRAINT assignments_school_id_fkey;

CREATE FUNCTION assignments_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    SELECT 'run ' || a.run_id INTO missing FROM added a
    WHERE NOT EXISTS (SELECT 1 FROM allocation_runs r WHERE r.id = a.run_id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT 'applicant ' || a.applicant_id INTO missing FROM added a
        WHERE NOT EXISTS (SELECT 1 FROM applicants p WHERE p.id = a.applicant_id) LIMIT 1;
    END IF;
    IF missing IS NULL THEN
        SELECT 'school ' || a.school_id INTO missing FROM added a
        WHERE a.school_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = a.school_id) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'assignment names % which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER assignments_references_on_insert AFTER INSERT ON assignments
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION assignments_check_references();
CREATE TRIGGER assignments_references_on_update AFTER UPDATE ON assignments
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION assignments_check_references();

CREATE FUNCTION assignments_follow_runs() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM assignments x USING gone g WHERE x.run_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER allocation_runs_delete_assignments AFTER DELETE ON allocation_runs
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION assignments_follow_runs();

CREATE FUNCTION assignments_follow_applicants() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM assignments x USING gone g WHERE x.applicant_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER applicants_delete_assignments AFTER DELETE ON applicants
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION assignments_follow_applicants();

CREATE FUNCTION assignments_keep_schools() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    named integer;
BEGIN
    SELECT g.id INTO named FROM gone g
    WHERE NOT EXISTS (SELECT 1 FROM schools s WHERE s.id = g.id)
      AND EXISTS (SELECT 1 FROM assignments x WHERE x.school_id = g.id) LIMIT 1;
    IF named IS NOT NULL THEN
        RAISE EXCEPTION 'school % is named by an allocation run''s assignments', named
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER schools_keep_assigned AFTER DELETE ON schools
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION assignments_keep_schools();
CREATE TRIGGER schools_keep_assigned_ids AFTER UPDATE ON schools
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION assignments_keep_schools();
