-- Initial schema: admin units and population, schools, OSM extracts and road networks,
-- admissions (rounds, applicants, applications, runs, assignments), users and the audit log.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- Administrative units: province > district > ward, with GSO codes.
CREATE TABLE admin_units (
    id           serial PRIMARY KEY,
    level        text NOT NULL CHECK (level IN ('province', 'district', 'ward')),
    code         text NOT NULL,
    name         text NOT NULL,
    name_folded  text NOT NULL,
    parent_id    integer REFERENCES admin_units (id) ON DELETE CASCADE,
    geom         geometry(MultiPolygon, 4326),
    source       text,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    UNIQUE (level, code)
);
CREATE INDEX admin_units_geom_idx ON admin_units USING gist (geom);
CREATE INDEX admin_units_parent_idx ON admin_units (parent_id);

-- Total population of a unit in a year.
CREATE TABLE admin_population (
    admin_unit_id integer NOT NULL REFERENCES admin_units (id) ON DELETE CASCADE,
    year          smallint NOT NULL CHECK (year BETWEEN 1900 AND 2200),
    population    integer NOT NULL CHECK (population >= 0),
    source        text,
    PRIMARY KEY (admin_unit_id, year)
);

-- Population of a unit in a year by age group [age_min, age_max]; age_max NULL = open-ended.
CREATE TABLE admin_population_by_age (
    admin_unit_id integer NOT NULL REFERENCES admin_units (id) ON DELETE CASCADE,
    year          smallint NOT NULL CHECK (year BETWEEN 1900 AND 2200),
    age_min       smallint NOT NULL CHECK (age_min >= 0),
    age_max       smallint CHECK (age_max IS NULL OR age_max >= age_min),
    population    integer NOT NULL CHECK (population >= 0),
    source        text,
    PRIMARY KEY (admin_unit_id, year, age_min)
);

-- An imported OpenStreetMap extract: the version every road network is built from.
CREATE TABLE osm_extracts (
    id            serial PRIMARY KEY,
    source        text NOT NULL,
    sha256        text NOT NULL UNIQUE,
    extract_date  timestamptz,
    imported_at   timestamptz NOT NULL DEFAULT now(),
    way_count     integer NOT NULL DEFAULT 0,
    school_count  integer NOT NULL DEFAULT 0
);

-- Every highway way of an extract, with its node ids so networks can be built from it.
CREATE TABLE road_ways (
    extract_id  integer NOT NULL REFERENCES osm_extracts (id) ON DELETE CASCADE,
    osm_id      bigint NOT NULL,
    highway     text NOT NULL,
    name        text,
    oneway      text,
    tags        jsonb NOT NULL DEFAULT '{}'::jsonb,
    node_ids    bigint[] NOT NULL,
    geom        geometry(LineString, 4326) NOT NULL,
    PRIMARY KEY (extract_id, osm_id)
);
CREATE INDEX road_ways_geom_idx ON road_ways USING gist (geom);

-- A routable network for one travel mode, built from one extract with given parameters.
CREATE TABLE road_networks (
    id           serial PRIMARY KEY,
    extract_id   integer NOT NULL REFERENCES osm_extracts (id) ON DELETE CASCADE,
    mode         text NOT NULL CHECK (mode IN ('walk', 'motorbike', 'car')),
    parameters   jsonb NOT NULL DEFAULT '{}'::jsonb,
    params_hash  text NOT NULL,
    node_count   integer NOT NULL DEFAULT 0,
    edge_count   integer NOT NULL DEFAULT 0,
    built_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (extract_id, mode, params_hash)
);

CREATE TABLE road_nodes (
    network_id  integer NOT NULL REFERENCES road_networks (id) ON DELETE CASCADE,
    node_id     bigint NOT NULL,
    geom        geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (network_id, node_id)
);
CREATE INDEX road_nodes_geom_idx ON road_nodes USING gist (geom);

CREATE TABLE road_edges (
    network_id   integer NOT NULL REFERENCES road_networks (id) ON DELETE CASCADE,
    edge_id      bigint NOT NULL,
    source_node  bigint NOT NULL,
    target_node  bigint NOT NULL,
    osm_way_id   bigint,
    highway      text,
    length_m     double precision NOT NULL CHECK (length_m >= 0),
    time_s       double precision NOT NULL CHECK (time_s >= 0),
    geom         geometry(LineString, 4326) NOT NULL,
    PRIMARY KEY (network_id, edge_id)
);
CREATE INDEX road_edges_geom_idx ON road_edges USING gist (geom);

-- Schools. Levels: mam_non, tieu_hoc, thcs, thpt; levels_source says how they were known.
-- name_folded is the name as searched: no diacritics or case, abbreviations (TH, THCS) expanded.
CREATE TABLE schools (
    id             serial PRIMARY KEY,
    code           text UNIQUE,
    osm_type       text CHECK (osm_type IN ('node', 'way', 'relation')),
    osm_id         bigint,
    name           text NOT NULL,
    name_folded    text NOT NULL,
    levels         text[] NOT NULL DEFAULT '{}',
    levels_source  text NOT NULL DEFAULT 'unknown'
                   CHECK (levels_source IN ('registry', 'osm_tag', 'name', 'unknown')),
    ownership      text NOT NULL DEFAULT 'unknown'
                   CHECK (ownership IN ('public', 'private', 'unknown')),
    address        text,
    phone          text,
    website        text,
    ward_id        integer REFERENCES admin_units (id) ON DELETE SET NULL,
    geom           geometry(Point, 4326) NOT NULL,
    source         text NOT NULL,
    tags           jsonb NOT NULL DEFAULT '{}'::jsonb,
    updated_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (osm_type, osm_id),
    CHECK (levels <@ ARRAY['mam_non', 'tieu_hoc', 'thcs', 'thpt']::text[])
);
CREATE INDEX schools_geom_idx ON schools USING gist (geom);
CREATE INDEX schools_ward_idx ON schools (ward_id);
CREATE INDEX schools_levels_idx ON schools USING gin (levels);
CREATE INDEX schools_name_trgm_idx ON schools USING gin (name_folded gin_trgm_ops);

-- Classes and legal class size per school and grade.
CREATE TABLE school_grades (
    school_id   integer NOT NULL REFERENCES schools (id) ON DELETE CASCADE,
    grade       smallint NOT NULL CHECK (grade BETWEEN 1 AND 12),
    classes     smallint NOT NULL CHECK (classes >= 0),
    class_size  smallint NOT NULL CHECK (class_size > 0),
    PRIMARY KEY (school_id, grade)
);

-- Accounts and roles.
CREATE TABLE users (
    id             serial PRIMARY KEY,
    username       text NOT NULL UNIQUE,
    password_hash  text NOT NULL,
    role           text NOT NULL
                   CHECK (role IN ('parent', 'school_staff', 'district_officer', 'city_admin',
                                   'planner')),
    area_unit_ids  integer[] NOT NULL DEFAULT '{}',
    school_id      integer REFERENCES schools (id) ON DELETE SET NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    disabled       boolean NOT NULL DEFAULT false
);

-- Admission rounds: one grade, one school year, one area.
CREATE TABLE rounds (
    id             serial PRIMARY KEY,
    name           text NOT NULL,
    grade          smallint NOT NULL CHECK (grade IN (1, 6)),
    school_year    text NOT NULL,
    round_number   smallint NOT NULL DEFAULT 1 CHECK (round_number >= 1),
    area_unit_ids  integer[] NOT NULL,
    status         text NOT NULL DEFAULT 'draft'
                   CHECK (status IN ('draft', 'open', 'closed', 'published', 'archived')),
    opens_at       timestamptz,
    closes_at      timestamptz,
    parent_round_id integer REFERENCES rounds (id),
    created_by     integer REFERENCES users (id),
    created_at     timestamptz NOT NULL DEFAULT now()
);

-- Children who apply. Identity codes are kept only as keyed hashes.
CREATE TABLE applicants (
    id              serial PRIMARY KEY,
    child_id_hash   text NOT NULL UNIQUE,
    birth_date      date NOT NULL,
    home            geometry(Point, 4326) NOT NULL,
    home_address    text,
    ward_id         integer REFERENCES admin_units (id),
    priority_group  text,
    sibling_group   text,
    guardian_id     integer REFERENCES users (id),
    created_at      timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX applicants_home_idx ON applicants USING gist (home);

CREATE TABLE applications (
    id               serial PRIMARY KEY,
    round_id         integer NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    applicant_id     integer NOT NULL REFERENCES applicants (id) ON DELETE CASCADE,
    preferences      integer[] NOT NULL DEFAULT '{}',
    status           text NOT NULL DEFAULT 'submitted'
                     CHECK (status IN ('draft', 'submitted', 'eligible', 'rejected',
                                       'withdrawn')),
    rejection_reason text,
    idempotency_key  text UNIQUE,
    submitted_at     timestamptz NOT NULL DEFAULT now(),
    UNIQUE (round_id, applicant_id)
);

CREATE TABLE allocation_runs (
    id            serial PRIMARY KEY,
    round_id      integer NOT NULL REFERENCES rounds (id) ON DELETE CASCADE,
    mechanism     text NOT NULL CHECK (mechanism IN ('nearest', 'da', 'constrained', 'greedy')),
    seed          bigint NOT NULL,
    parameters    jsonb NOT NULL DEFAULT '{}'::jsonb,
    status        text NOT NULL,
    input_hash    text,
    output_hash   text,
    code_version  text,
    metrics       jsonb,
    created_by    integer REFERENCES users (id),
    created_at    timestamptz NOT NULL DEFAULT now(),
    published_at  timestamptz
);

CREATE TABLE assignments (
    run_id        integer NOT NULL REFERENCES allocation_runs (id) ON DELETE CASCADE,
    applicant_id  integer NOT NULL REFERENCES applicants (id) ON DELETE CASCADE,
    school_id     integer REFERENCES schools (id),
    cost          integer,
    explanation   jsonb,
    PRIMARY KEY (run_id, applicant_id)
);

-- Append-only audit log: who did what, when, from where.
CREATE TABLE audit_log (
    id           bigserial PRIMARY KEY,
    at           timestamptz NOT NULL DEFAULT now(),
    actor        text NOT NULL,
    action       text NOT NULL,
    target       text,
    detail       jsonb NOT NULL DEFAULT '{}'::jsonb,
    remote_addr  text
);

CREATE FUNCTION audit_log_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP;
END;
$$;

CREATE TRIGGER audit_log_append_only
    BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_refuse_change();
CREATE TRIGGER audit_log_no_truncate
    BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_refuse_change();
