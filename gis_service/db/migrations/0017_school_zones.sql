-- School zones for a coming school year: forecast children admitted by road distance under
-- each school's seats. Per school, the expected admission distance (the road distance of the
-- last child it would admit) with its interval from the forecast's 80 % interval, and the area
-- of homes it would admit. Forecasts and seats only: nothing here is about any child.
CREATE TABLE zone_runs (
    id serial PRIMARY KEY,
    grade smallint NOT NULL CHECK (grade IN (1, 6)),
    school_year smallint NOT NULL,
    edition text NOT NULL,
    mode text NOT NULL,
    statement jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    created_by text NOT NULL,
    published_at timestamptz
);
CREATE INDEX zone_runs_published_idx ON zone_runs (grade, school_year DESC, published_at DESC)
    WHERE published_at IS NOT NULL;

CREATE TABLE school_zones (
    run_id integer NOT NULL REFERENCES zone_runs (id) ON DELETE CASCADE,
    school_id integer NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    seats integer NOT NULL CHECK (seats >= 0),
    expected_children integer NOT NULL CHECK (expected_children >= 0),
    -- NULL: the school would not fill, so it admits every child who asks.
    cutoff_m real CHECK (cutoff_m >= 0),
    cutoff_low_m real CHECK (cutoff_low_m >= 0),
    cutoff_high_m real CHECK (cutoff_high_m >= 0),
    unit_id integer REFERENCES admin_units (id) ON DELETE SET NULL,
    unit_share real CHECK (unit_share BETWEEN 0 AND 1),
    zone geometry(MultiPolygon, 4326),
    PRIMARY KEY (run_id, school_id)
);
CREATE INDEX school_zones_zone_idx ON school_zones USING gist (zone);
