-- Administrative units in editions: the 2019 census units (province > district > ward) and the
-- two-tier units in force since 1 July 2025 (province > commune/ward/special zone), side by
-- side; a crosswalk carrying population from one edition to another with its weights; child
-- counts units report themselves; ward-run rounds with a review window; the unit of residence
-- a parent states, checked against the home; ward officers.

CREATE TABLE unit_editions (
    edition     text PRIMARY KEY CHECK (edition ~ '^[0-9]{4}$'),
    name        text NOT NULL,
    valid_from  date NOT NULL,
    valid_to    date CHECK (valid_to IS NULL OR valid_to >= valid_from),
    levels      text[] NOT NULL
);
INSERT INTO unit_editions (edition, name, valid_from, valid_to, levels) VALUES
    ('2019', 'Đơn vị hành chính 3 cấp (Tổng điều tra dân số 2019)', '2019-04-01', '2025-06-30',
     '{province,district,ward}'),
    ('2025', 'Đơn vị hành chính 2 cấp (từ 01/7/2025)', '2025-07-01', NULL, '{province,ward}');

-- Every unit stored so far is a 2019 census unit.
ALTER TABLE admin_units ADD COLUMN edition text NOT NULL DEFAULT '2019'
    REFERENCES unit_editions (edition);
ALTER TABLE admin_units ALTER COLUMN edition DROP DEFAULT;
ALTER TABLE admin_units ADD COLUMN unit_type text CHECK (unit_type IN (
    'tinh', 'thanh_pho_tw', 'quan', 'huyen', 'thi_xa', 'thanh_pho', 'phuong', 'xa', 'thi_tran',
    'dac_khu'));
-- The name without its type ('Sài Gòn' of 'Phường Sài Gòn'), folded, for search.
ALTER TABLE admin_units ADD COLUMN short_folded text;
ALTER TABLE admin_units DROP CONSTRAINT admin_units_level_code_key;
ALTER TABLE admin_units ADD CONSTRAINT admin_units_edition_level_code_key
    UNIQUE (edition, level, code);
CREATE INDEX admin_units_edition_level_idx ON admin_units (edition, level);
UPDATE admin_units SET unit_type = CASE
        WHEN name_folded LIKE 'phuong %' OR name_folded LIKE 'ward %' THEN 'phuong'
        WHEN name_folded LIKE 'xa %' OR name_folded LIKE 'commune %' THEN 'xa'
        WHEN name_folded LIKE 'thi tran %' OR name_folded LIKE 'township %' THEN 'thi_tran'
        WHEN name_folded LIKE 'quan %' OR name_folded LIKE 'district %' THEN 'quan'
        WHEN name_folded LIKE 'huyen %' THEN 'huyen'
        WHEN name_folded LIKE 'thi xa %' THEN 'thi_xa'
        WHEN name_folded LIKE 'thanh pho %' AND level = 'province' THEN 'thanh_pho_tw'
        WHEN name_folded LIKE 'thanh pho %' THEN 'thanh_pho'
        WHEN name_folded LIKE 'tinh %' THEN 'tinh'
    END;

-- A crosswalk from one edition's units to another's: one row per overlap piece, with the
-- weight (share of the source unit's figures the piece carries) and what the weight rests on.
CREATE TABLE unit_crosswalks (
    id            serial PRIMARY KEY,
    from_edition  text NOT NULL REFERENCES unit_editions (edition),
    to_edition    text NOT NULL REFERENCES unit_editions (edition),
    method        text NOT NULL,
    detail        jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at    timestamptz NOT NULL DEFAULT now(),
    CHECK (from_edition <> to_edition),
    UNIQUE (from_edition, to_edition)
);
CREATE TABLE unit_crosswalk_pieces (
    crosswalk_id  integer NOT NULL REFERENCES unit_crosswalks (id) ON DELETE CASCADE,
    from_unit_id  integer NOT NULL REFERENCES admin_units (id) ON DELETE CASCADE,
    to_unit_id    integer NOT NULL REFERENCES admin_units (id) ON DELETE CASCADE,
    area_m2       double precision NOT NULL CHECK (area_m2 >= 0),
    road_m        double precision CHECK (road_m >= 0),
    weight        double precision NOT NULL CHECK (weight >= 0 AND weight <= 1),
    basis         text NOT NULL CHECK (basis IN ('roads', 'area')),
    PRIMARY KEY (crosswalk_id, from_unit_id, to_unit_id)
);
CREATE INDEX unit_crosswalk_pieces_to_idx ON unit_crosswalk_pieces (to_unit_id);
-- Share of each target unit's area that the source edition's units with census figures cover.
CREATE TABLE unit_coverage (
    crosswalk_id  integer NOT NULL REFERENCES unit_crosswalks (id) ON DELETE CASCADE,
    unit_id       integer NOT NULL REFERENCES admin_units (id) ON DELETE CASCADE,
    covered_share double precision NOT NULL CHECK (covered_share >= 0 AND covered_share <= 1),
    PRIMARY KEY (crosswalk_id, unit_id)
);

-- Children by birth year that a unit reports itself (for units without census coverage).
CREATE TABLE unit_reported_children (
    admin_unit_id integer NOT NULL REFERENCES admin_units (id) ON DELETE CASCADE,
    birth_year    smallint NOT NULL CHECK (birth_year BETWEEN 1990 AND 2200),
    children      integer NOT NULL CHECK (children >= 0),
    source        text,
    updated_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (admin_unit_id, birth_year)
);

-- A round's area is a list of units of one edition; until review_until parents may correct
-- their home and stated unit, after it a change needs an officer and a written reason.
ALTER TABLE rounds ADD COLUMN edition text NOT NULL DEFAULT '2019'
    REFERENCES unit_editions (edition);
ALTER TABLE rounds ALTER COLUMN edition DROP DEFAULT;
ALTER TABLE rounds ADD COLUMN review_until timestamptz;

-- The unit of residence as the parent's records state it, and how it compares with the home.
ALTER TABLE applications ADD COLUMN stated_unit text;
ALTER TABLE applications ADD COLUMN stated_unit_id integer REFERENCES admin_units (id);
ALTER TABLE applications ADD COLUMN residence_check text
    CHECK (residence_check IN ('match', 'mismatch', 'unknown_unit'));
-- How far the home lies outside the stated unit (0 inside it): a few metres is a home on the
-- boundary street, a kilometre another address.
ALTER TABLE applications ADD COLUMN stated_unit_distance_m real
    CHECK (stated_unit_distance_m >= 0);
ALTER TABLE applications ADD CONSTRAINT applications_residence_stated
    CHECK ((stated_unit IS NULL) = (residence_check IS NULL));
CREATE INDEX applications_residence_idx ON applications (round_id, residence_check);

-- Ward officers: admissions officers of a commune-level People's Committee.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check CHECK (role IN (
    'parent', 'school_staff', 'district_officer', 'ward_officer', 'city_admin', 'planner'));

UPDATE admin_units SET short_folded = regexp_replace(
    regexp_replace(name_folded,
        '^(thanh pho|thi tran|thi xa|dac khu|district|commune|township|huyen|phuong|quan|ward|tinh|xa) ',
        ''),
    '(^| )0+([0-9])', '\1\2', 'g');
ALTER TABLE admin_units ALTER COLUMN short_folded SET NOT NULL;
CREATE INDEX admin_units_short_folded_idx ON admin_units (short_folded);

-- Public answers read these tables too (coverage, reported children, former names, editions).
CREATE TRIGGER unit_editions_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_editions
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER unit_crosswalks_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_crosswalks
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER unit_crosswalk_pieces_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_crosswalk_pieces
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER unit_coverage_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_coverage
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER unit_reported_children_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON unit_reported_children
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
CREATE TRIGGER admin_population_by_age_bump_public_data_version
    AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON admin_population_by_age
    FOR EACH STATEMENT EXECUTE FUNCTION bump_public_data_version();
