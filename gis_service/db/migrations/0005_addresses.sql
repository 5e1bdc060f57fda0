-- House numbers and named streets from OpenStreetMap, so addresses resolve from our own data.
-- Keys are folded (no diacritics, no case, no "Đường"/"Street"): see gis_service/geocoding/text.py.

CREATE TABLE addresses (
    extract_id    integer NOT NULL REFERENCES osm_extracts (id) ON DELETE CASCADE,
    osm_type      text NOT NULL CHECK (osm_type IN ('node', 'way')),
    osm_id        bigint NOT NULL,
    housenumber   text NOT NULL,
    street        text NOT NULL,
    number_key    text NOT NULL,
    street_key    text NOT NULL,
    -- 'tag': addr:street; 'nearest_road': the extract had only a house number, and the
    -- street is the nearest named road within 50 m.
    street_source text NOT NULL CHECK (street_source IN ('tag', 'nearest_road')),
    geom          geometry(Point, 4326) NOT NULL,
    PRIMARY KEY (extract_id, osm_type, osm_id)
);
CREATE INDEX addresses_street_number_idx ON addresses (street_key, number_key);
CREATE INDEX addresses_geom_idx ON addresses USING gist (geom);

-- A street is the named road ways of one extract that share a name and lie together; two
-- streets of one name far apart (e.g. "Đường số 1" in two districts) stay two rows.
CREATE TABLE streets (
    id            serial PRIMARY KEY,
    extract_id    integer NOT NULL REFERENCES osm_extracts (id) ON DELETE CASCADE,
    name          text NOT NULL,
    street_key    text NOT NULL,
    length_m      double precision NOT NULL,
    geom          geometry(MultiLineString, 4326) NOT NULL
);
CREATE INDEX streets_key_idx ON streets (street_key);
CREATE INDEX streets_key_trgm_idx ON streets USING gin (street_key gin_trgm_ops);
CREATE INDEX streets_geom_idx ON streets USING gist (geom);
