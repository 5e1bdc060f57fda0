-- Every change to a school row moves its updated_at, so cached distance fields keyed on the
-- schools' newest update see any change, whoever makes it.

CREATE FUNCTION schools_touch_updated_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    NEW.updated_at := clock_timestamp();
    RETURN NEW;
END;
$$;

CREATE TRIGGER schools_touch_updated_at
    BEFORE UPDATE ON schools
    FOR EACH ROW EXECUTE FUNCTION schools_touch_updated_at();
