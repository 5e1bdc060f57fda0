-- Planning scenarios: a forecast year and grade with added classes, new school sites and
-- changed limits, kept with the figures they gave so scenarios can be compared side by side.
CREATE TABLE planning_scenarios (
    id             serial PRIMARY KEY,
    name           text NOT NULL,
    grade          smallint NOT NULL CHECK (grade IN (1, 6)),
    school_year    smallint NOT NULL CHECK (school_year BETWEEN 1900 AND 2200),
    district_codes text[] NOT NULL DEFAULT '{}',
    added_classes  jsonb NOT NULL DEFAULT '{}'::jsonb,
    new_sites      jsonb NOT NULL DEFAULT '[]'::jsonb,
    limits         jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_by     text NOT NULL DEFAULT 'cli',
    created_at     timestamptz NOT NULL DEFAULT now(),
    result         jsonb,
    computed_at    timestamptz
);
