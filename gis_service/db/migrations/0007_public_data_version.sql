-- One number that changes whenever data behind the public map answers changes (schools and
-- their classes, admin units and population, roads), so each service worker may keep those
-- answers until it does. Values come from a sequence: a rolled-back change never hands its
-- number to a later, different change.

CREATE SEQUENCE public_data_version_seq;

CREATE TABLE public_data_version (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    version bigint NOT NULL
);
INSERT INTO public_data_version (version) VALUES (nextval('public_data_version_seq'));

CREATE FUNCTION bump_public_data_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    UPDATE public_data_version SET version = nextval('public_data_version_seq');
    RETURN NULL;
END;
$$;

CREATE TRIGGER schools_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON schools
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER school_grades_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON school_grades
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER admin_units_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_units
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER admin_population_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_population
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER road_ways_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON road_ways
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
