-- An application's round and home unit are checked once per statement, set against set,
-- instead of by two foreign keys, each of which checks (and locks) its row once per
-- application row. A city's import writes 125,000 applications at once, all of one round and
-- of a few hundred units: the two per-row checks took about 1.2 s of the INSERT (measured on
-- the 2018 Ho Chi Minh City round), locking the same few rows again and again.
--
-- The rules stay those of the foreign keys:
--   * every application names an existing round and (when given) home unit, or the statement
--     fails with foreign_key_violation (23503);
--   * deleting a round deletes its applications (as ON DELETE CASCADE did);
--   * a unit named as an application's home unit cannot be deleted (as the plain key did).
-- As the keys did, the statement locks each distinct round and unit it names (FOR KEY SHARE)
-- until commit, so a concurrent delete of one waits, and then finds the application.
-- The child (applicant_id) keeps its foreign key: its rows are as many as the applications.

ALTER TABLE applications DROP CONSTRAINT applications_round_id_fkey;
ALTER TABLE applications DROP CONSTRAINT applications_ward_id_fkey;

CREATE FUNCTION applications_check_references() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    missing text;
BEGIN
    PERFORM 1 FROM rounds r WHERE r.id IN (SELECT a.round_id FROM added a) FOR KEY SHARE;
    PERFORM 1 FROM admin_units u WHERE u.id IN (SELECT a.ward_id FROM added a) FOR KEY SHARE;
    SELECT 'round ' || a.round_id INTO missing FROM added a
    WHERE NOT EXISTS (SELECT 1 FROM rounds r WHERE r.id = a.round_id) LIMIT 1;
    IF missing IS NULL THEN
        SELECT 'unit ' || a.ward_id INTO missing FROM added a
        WHERE a.ward_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM admin_units u WHERE u.id = a.ward_id) LIMIT 1;
    END IF;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'application names % which does not exist', missing
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER applications_references_on_insert AFTER INSERT ON applications
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION applications_check_references();
CREATE TRIGGER applications_references_on_update AFTER UPDATE ON applications
    REFERENCING NEW TABLE AS added FOR EACH STATEMENT
    EXECUTE FUNCTION applications_check_references();

CREATE FUNCTION applications_follow_rounds() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM applications a USING gone g WHERE a.round_id = g.id;
    RETURN NULL;
END
$$;

CREATE TRIGGER rounds_delete_applications AFTER DELETE ON rounds
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION applications_follow_rounds();

CREATE FUNCTION applications_keep_units() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
    named integer;
BEGIN
    SELECT g.id INTO named FROM gone g
    WHERE NOT EXISTS (SELECT 1 FROM admin_units u WHERE u.id = g.id)
      AND EXISTS (SELECT 1 FROM applications a WHERE a.ward_id = g.id) LIMIT 1;
    IF named IS NOT NULL THEN
        RAISE EXCEPTION 'unit % is the home unit of applications', named
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END
$$;

CREATE TRIGGER admin_units_keep_homes AFTER DELETE ON admin_units
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION applications_keep_units();
CREATE TRIGGER admin_units_keep_home_ids AFTER UPDATE ON admin_units
    REFERENCING OLD TABLE AS gone FOR EACH STATEMENT
    EXECUTE FUNCTION applications_keep_units();
