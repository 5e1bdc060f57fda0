"""Import roads and schools from an OpenStreetMap extract (.osm.pbf, .osm, .osm.bz2)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import urllib.parse
import urllib.request
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import osmium
import shapely
from psycopg2.extras import execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.geocoding.text import number_key, street_key
from gis_service.importers.eta import EtaTicker, StepProgress, file_read_share
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress
from gis_service.importers.sql import assign_school_wards
from gis_service.safe_text import drop_control_characters
from gis_service.school_levels import infer_levels, school_search_text
from gis_service.text import fold_text

OSM_SUFFIXES = (".osm.pbf", ".pbf", ".osm", ".osm.bz2", ".osm.gz")
SCHOOL_AMENITIES = frozenset({"school", "kindergarten"})
# Highway values that are not (yet) usable roads.
SKIPPED_HIGHWAYS = frozenset(
    {
        "proposed",
        "construction",
        "abandoned",
        "disused",
        "razed",
        "platform",
        "raceway",
        "bus_stop",
        "elevator",
        "rest_area",
        "services",
        "emergency_bay",
        "corridor",
    }
)
# Road tags kept for building per-mode networks later; the rest are dropped.
ROAD_TAG_KEYS = frozenset(
    {
        "highway",
        "name",
        "oneway",
        "junction",
        "service",
        "access",
        "motor_vehicle",
        "motorcycle",
        "motorcar",
        "foot",
        "bicycle",
        "maxspeed",
        "lanes",
        "bridge",
        "tunnel",
        "surface",
        "area",
        "footway",
        "sidewalk",
        "ref",
    }
)


@dataclass
class SchoolRecord:
    """One school found in the extract, as a point."""

    osm_type: str
    osm_id: int
    lon: float
    lat: float
    tags: dict[str, str]


@dataclass
class AddressRecord:
    """One house number found in the extract (a node, or a building way's centre)."""

    osm_type: str
    osm_id: int
    housenumber: str
    street: str
    lon: float
    lat: float


@dataclass
class ExtractContents:
    """What reading an extract gave: road ways, schools and the newest object time."""

    way_ids: list[int] = field(default_factory=list)
    way_tags: list[dict[str, str]] = field(default_factory=list)
    way_nodes: list[list[int]] = field(default_factory=list)
    way_coords: list[list[tuple[float, float]]] = field(default_factory=list)
    schools: dict[tuple[str, int], SchoolRecord] = field(default_factory=dict)
    addresses: list[AddressRecord] = field(default_factory=list)
    newest: datetime | None = None
    objects: int = 0
    ways_cut: int = 0
    school_relations_without_area: int = 0


def check_osm_path(path: Path) -> None:
    """Raise ImportFileError unless the path is an existing, non-empty OSM file we can read."""
    name = path.name.lower()
    if not any(name.endswith(suffix) for suffix in OSM_SUFFIXES):
        raise ImportFileError(path, f"unknown format; expected one of {', '.join(OSM_SUFFIXES)}")
    if not path.is_file():
        raise ImportFileError(path, "no such file")
    if path.stat().st_size == 0:
        raise ImportFileError(path, "the file is empty")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _is_road(tags: Any) -> bool:
    highway = tags.get("highway")
    return highway is not None and highway not in SKIPPED_HIGHWAYS


def read_extract(path: Path, progress: ProgressCallback = print_progress) -> ExtractContents:
    """Read highway ways (with node ids and coordinates) and schools from an OSM file."""
    check_osm_path(path)
    contents = ExtractContents()
    school_filter = osmium.filter.TagFilter(("amenity", "school"), ("amenity", "kindergarten"))
    wkb = osmium.geom.WKBFactory()
    ticker = EtaTicker(progress, f"đọc / reading {path.name}: objects", file_read_share(path))
    school_relations: set[int] = set()
    try:
        processor = osmium.FileProcessor(str(path)).with_locations().with_areas(school_filter)
        node_type, way_type, area_type = osmium.osm.Node, osmium.osm.Way, osmium.osm.Area
        objects = 0
        newest = None
        obj: Any
        for obj in processor:
            objects += 1
            if not objects & 0xFFF:
                ticker.tick(0x1000)
            kind = type(obj)
            if kind is area_type:
                if obj.tags.get("amenity") in SCHOOL_AMENITIES:
                    _read_school_area(obj, contents, wkb)
                continue
            if kind is osmium.osm.Changeset:
                continue
            stamp = obj.timestamp
            if stamp.year > 1970 and (newest is None or stamp > newest):
                newest = stamp
            if kind is node_type:
                tags = obj.tags
                if not len(tags):
                    continue
                if tags.get("amenity") in SCHOOL_AMENITIES and obj.location.valid():
                    contents.schools[("node", obj.id)] = SchoolRecord(
                        "node", obj.id, obj.location.lon, obj.location.lat, dict(tags)
                    )
                if "addr:housenumber" in tags and obj.location.valid():
                    _add_address(contents, "node", obj.id, tags, obj.location.lon, obj.location.lat)
            elif kind is way_type:
                _read_way(obj, contents)
            elif obj.tags.get("amenity") in SCHOOL_AMENITIES:
                school_relations.add(obj.id)
        contents.objects = objects
        contents.newest = newest
    except RuntimeError as exc:
        raise ImportFileError(path, f"truncated or corrupt OSM data ({exc})") from exc
    ticker.tick(contents.objects - ticker.n)
    ticker.done()
    contents.school_relations_without_area = sum(
        1 for rel in school_relations if ("relation", rel) not in contents.schools
    )
    if contents.objects == 0:
        raise ImportFileError(path, "the file holds no OSM objects")
    return contents


def _add_address(
    contents: ExtractContents, osm_type: str, osm_id: int, tags: Any, lon: float, lat: float
) -> None:
    housenumber = tags.get("addr:housenumber", "").strip()
    if number_key(housenumber):
        street = tags.get("addr:street", "").strip()
        contents.addresses.append(AddressRecord(osm_type, osm_id, housenumber, street, lon, lat))


def _read_way(way: Any, contents: ExtractContents) -> None:
    tags = way.tags
    is_school = tags.get("amenity") in SCHOOL_AMENITIES
    has_address = "addr:housenumber" in tags
    if not _is_road(tags) and not is_school and not has_address:
        return
    ids: list[int] = []
    coords: list[tuple[float, float]] = []
    for ref in way.nodes:
        if ref.location.valid():
            ids.append(ref.ref)
            coords.append((ref.location.lon, ref.location.lat))
    if has_address and coords:
        # A building's address sits at the mean of its outline's corners.
        lons, lats = zip(*coords[:-1] if len(coords) > 2 else coords, strict=True)
        _add_address(contents, "way", way.id, tags, sum(lons) / len(lons), sum(lats) / len(lats))
    if is_school and coords and ("way", way.id) not in contents.schools:
        # A closed way's area (read later) replaces this line centroid.
        centre = shapely.centroid(shapely.MultiPoint(coords))
        contents.schools[("way", way.id)] = SchoolRecord(
            "way", way.id, centre.x, centre.y, dict(tags)
        )
    if not _is_road(tags):
        return
    if len(ids) < len(way.nodes):
        contents.ways_cut += 1
    if len(ids) < 2:
        return
    contents.way_ids.append(way.id)
    contents.way_tags.append({k: v for k, v in tags if k in ROAD_TAG_KEYS})
    contents.way_nodes.append(ids)
    contents.way_coords.append(coords)


def _read_school_area(area: Any, contents: ExtractContents, wkb: Any) -> None:
    osm_type = "way" if area.from_way() else "relation"
    try:
        shape = shapely.from_wkb(bytes.fromhex(wkb.create_multipolygon(area)))
    except RuntimeError:
        return
    if shape.is_empty:
        return
    point = shape.representative_point()
    contents.schools[(osm_type, area.orig_id())] = SchoolRecord(
        osm_type, area.orig_id(), point.x, point.y, dict(area.tags)
    )


def _pg_array(values: list[int]) -> str:
    return "{" + ",".join(str(v) for v in values) + "}"


def _hex_ewkb(shapes: Any) -> Any:
    """Hex EWKB with SRID 4326, which PostGIS reads straight into a geometry column."""
    return shapely.to_wkb(shapely.set_srid(shapes, 4326), hex=True, include_srid=True)


def _copy_rows(
    cur: Any,
    table: str,
    columns: Sequence[str],
    rows: Iterable[Sequence[object]],
    empty_is_null: Sequence[str] = (),
) -> None:
    """COPY rows into a table; an empty string stays one, except in the `empty_is_null` columns."""
    # CSV only as COPY's input to PostgreSQL, never opened by people: no cell neutralising.
    # Every string is quoted, so COPY reads "" as an empty string, not as NULL.
    buffer = io.StringIO()
    csv.writer(buffer, quoting=csv.QUOTE_NONNUMERIC).writerows(rows)
    buffer.seek(0)
    options = "FORMAT csv"
    if empty_is_null:
        options += f", FORCE_NULL ({', '.join(empty_is_null)})"
    cur.copy_expert(f"COPY {table} ({', '.join(columns)}) FROM STDIN WITH ({options})", buffer)


def _copy_road_ways(conn: Connection, extract_id: int, contents: ExtractContents) -> None:
    """COPY the road ways straight into road_ways (geometries as hex EWKB, built at once)."""
    counts = [len(coords) for coords in contents.way_coords]
    lines = shapely.linestrings(
        [xy for coords in contents.way_coords for xy in coords],
        indices=np.repeat(np.arange(len(counts)), counts),
    )
    rows = (
        (
            extract_id,
            osm_id,
            tags["highway"],
            tags.get("name", ""),
            tags.get("oneway", ""),
            json.dumps(tags, ensure_ascii=False),
            _pg_array(nodes),
            geom,
        )
        for osm_id, tags, nodes, geom in zip(
            contents.way_ids, contents.way_tags, contents.way_nodes, _hex_ewkb(lines), strict=True
        )
    )
    with conn.cursor() as cur:
        columns = ("extract_id", "osm_id", "highway", "name", "oneway", "tags", "node_ids", "geom")
        _copy_rows(cur, "road_ways", columns, rows, empty_is_null=("name", "oneway"))


# Same-named road pieces closer than this (degrees, about 220 m) make one street.
STREET_GAP_DEG = 0.002
# A house number with no addr:street takes the nearest named road this close (about 55 m).
ADDRESS_STREET_DEG = 0.0005


def _write_streets(conn: Connection, extract_id: int, contents: ExtractContents) -> int:
    """Group the extract's named road ways into streets; leave the name keys in street_keys."""
    names = {tags["name"] for tags in contents.way_tags if tags.get("name")}
    names |= {a.street for a in contents.addresses if a.street}
    keyed = [(name, street_key(name)) for name in sorted(names)]
    with conn.cursor() as cur:
        cur.execute("DROP TABLE IF EXISTS street_keys")
        cur.execute(
            "CREATE TEMP TABLE street_keys (name text PRIMARY KEY, key text) ON COMMIT DROP"
        )
        _copy_rows(cur, "street_keys", ("name", "key"), [k for k in keyed if k[1]])
        cur.execute("DELETE FROM streets WHERE extract_id = %s", (extract_id,))
        cur.execute(
            """
            INSERT INTO streets (extract_id, name, street_key, length_m, geom)
            SELECT %(extract)s, mode() WITHIN GROUP (ORDER BY name), key,
                   sum(ST_Length(geom::geography)), ST_Multi(ST_Collect(geom))
            FROM (
                SELECT r.geom, k.name, k.key,
                       ST_ClusterDBSCAN(r.geom, eps := %(gap)s, minpoints := 1)
                           OVER (PARTITION BY k.key) AS cluster
                FROM road_ways r JOIN street_keys k ON k.name = r.name
                WHERE r.extract_id = %(extract)s
            ) pieces
            GROUP BY key, cluster
            """,
            {"extract": extract_id, "gap": STREET_GAP_DEG},
        )
        return int(cur.rowcount)


_MATCH_ADDRESSES = """
INSERT INTO addresses (extract_id, osm_type, osm_id, housenumber, street, number_key,
                       street_key, street_source, geom)
SELECT %(extract)s, l.osm_type, l.osm_id, l.housenumber,
       COALESCE(k.name, l.street), l.number_key, COALESCE(k.key, l.street_key),
       l.street_source, l.geom
FROM (
    SELECT DISTINCT ON (osm_type, osm_id) *
    FROM address_load ORDER BY osm_type, osm_id, seq
) l
LEFT JOIN address_near near USING (seq)
LEFT JOIN street_keys k ON k.name = near.name
WHERE COALESCE(k.key, l.street_key) <> ''
"""

_NEAREST_NAMED_ROAD = """
INSERT INTO address_near (seq, name)
SELECT l.seq, (SELECT r.name FROM road_ways r
               WHERE r.extract_id = %(extract)s AND r.name IS NOT NULL
                 AND ST_DWithin(r.geom, l.geom, %(near)s)
               ORDER BY r.geom <-> l.geom, r.name LIMIT 1)
FROM address_load l
WHERE l.street_source = 'nearest_road'
"""


def _write_addresses(conn: Connection, extract_id: int, contents: ExtractContents) -> list[int]:
    """Store house numbers; one without a street takes the nearest named road's.

    Returns [stored, streets taken from the nearest road, dropped with no street near].
    """
    addresses = contents.addresses
    points = shapely.points(
        [round(a.lon, 7) for a in addresses], [round(a.lat, 7) for a in addresses]
    )
    hexes = _hex_ewkb(points) if addresses else []
    rows = (
        (
            seq,
            a.osm_type,
            a.osm_id,
            a.housenumber,
            a.street,
            number_key(a.housenumber),
            street_key(a.street),
            "tag" if a.street else "nearest_road",
            geom,
        )
        for seq, (a, geom) in enumerate(zip(addresses, hexes, strict=True))
    )
    params = {"extract": extract_id, "near": ADDRESS_STREET_DEG}
    with conn.cursor() as cur:
        cur.execute("DELETE FROM addresses WHERE extract_id = %s", (extract_id,))
        cur.execute(
            "CREATE TEMP TABLE address_load (seq int PRIMARY KEY, osm_type text, osm_id bigint, "
            "housenumber text, street text, number_key text, street_key text, "
            "street_source text, geom geometry(Point, 4326)) ON COMMIT DROP"
        )
        _copy_rows(
            cur,
            "address_load",
            (
                "seq",
                "osm_type",
                "osm_id",
                "housenumber",
                "street",
                "number_key",
                "street_key",
                "street_source",
                "geom",
            ),
            rows,
        )
        cur.execute(
            "CREATE TEMP TABLE address_near (seq int PRIMARY KEY, name text) ON COMMIT DROP"
        )
        # Fresh statistics, so the lookup below walks the spatial index nearest-first.
        cur.execute("ANALYZE road_ways")
        cur.execute(_NEAREST_NAMED_ROAD, params)
        cur.execute(_MATCH_ADDRESSES, params)
        stored = int(cur.rowcount)
        cur.execute(
            "SELECT count(*) FROM address_near n JOIN street_keys k ON k.name = n.name "
            "WHERE n.seq IN (SELECT DISTINCT ON (osm_type, osm_id) seq FROM address_load "
            "ORDER BY osm_type, osm_id, seq)"
        )
        from_road = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("SELECT count(DISTINCT (osm_type, osm_id)) FROM address_load")
        distinct = int(cur.fetchone()[0])  # type: ignore[index]
        cur.execute("DROP TABLE address_near, address_load")
    return [stored, from_road, distinct - stored]


def _school_address(tags: dict[str, str]) -> str | None:
    parts = [
        tags.get("addr:housenumber"),
        tags.get("addr:street"),
        tags.get("addr:subdistrict"),
        tags.get("addr:district"),
        tags.get("addr:city"),
    ]
    text = " ".join(p for p in parts[:2] if p)
    rest = ", ".join(p for p in parts[2:] if p)
    joined = ", ".join(p for p in (text, rest) if p)
    return joined or None


def _ownership(tags: dict[str, str]) -> str:
    operator_type = tags.get("operator:type", "").lower()
    if operator_type in {"public", "government", "state"}:
        return "public"
    if operator_type in {"private", "private_non_profit", "religious", "community"}:
        return "private"
    folded = fold_text(tags.get("name", ""))
    if any(word in folded for word in ("tu thuc", "dan lap", "quoc te", "international")):
        return "private"
    if "cong lap" in folded:
        return "public"
    return "unknown"


def _upsert_schools(conn: Connection, contents: ExtractContents, report: ImportReport) -> None:
    rows = []
    for record in sorted(contents.schools.values(), key=lambda r: (r.osm_type, r.osm_id)):
        tags = record.tags
        name = tags.get("name") or tags.get("name:vi") or tags.get("name:en") or ""
        # Anyone may edit OSM: a name must not hide controls or bidi overrides from people.
        name = drop_control_characters(name)
        guess = infer_levels(tags)
        report.count(f"schools with levels from {guess.source}")
        if not name:
            report.count("schools without a name")
        rows.append(
            (
                record.osm_type,
                record.osm_id,
                name,
                school_search_text(name),
                list(guess.levels),
                guess.source,
                _ownership(tags),
                _school_address(tags),
                tags.get("phone"),
                tags.get("website"),
                f"POINT({record.lon:.7f} {record.lat:.7f})",
                json.dumps(tags, ensure_ascii=False),
            )
        )
    if not rows:
        return
    with conn.cursor() as cur:
        # Registry-coded schools keep their official name, levels, ownership and point.
        execute_values(
            cur,
            """
            INSERT INTO schools (osm_type, osm_id, name, name_folded, levels, levels_source,
                                 ownership, address, phone, website, geom, source, tags)
            SELECT v.osm_type, v.osm_id, v.name, v.name_folded, v.levels::text[], v.levels_source,
                   v.ownership, v.address, v.phone, v.website,
                   ST_GeomFromText(v.wkt, 4326), 'osm', v.tags::jsonb
            FROM (VALUES %s) AS v (osm_type, osm_id, name, name_folded, levels, levels_source,
                                   ownership, address, phone, website, wkt, tags)
            ON CONFLICT (osm_type, osm_id) DO UPDATE SET
                name = CASE WHEN schools.code IS NULL THEN EXCLUDED.name ELSE schools.name END,
                name_folded = CASE WHEN schools.code IS NULL THEN EXCLUDED.name_folded
                                   ELSE schools.name_folded END,
                levels = CASE WHEN schools.levels_source = 'registry' THEN schools.levels
                              ELSE EXCLUDED.levels END,
                levels_source = CASE WHEN schools.levels_source = 'registry'
                                     THEN schools.levels_source ELSE EXCLUDED.levels_source END,
                ownership = CASE WHEN schools.code IS NULL THEN EXCLUDED.ownership
                                 ELSE schools.ownership END,
                address = COALESCE(schools.address, EXCLUDED.address),
                phone = COALESCE(schools.phone, EXCLUDED.phone),
                website = COALESCE(schools.website, EXCLUDED.website),
                geom = CASE WHEN schools.code IS NULL THEN EXCLUDED.geom ELSE schools.geom END,
                tags = EXCLUDED.tags,
                updated_at = now()
            """,
            rows,
            page_size=1000,
        )


# Each writing step's usual share of the time (seconds for the 2018 HCMC extract), from which
# the time left is estimated as the steps finish.
WRITE_STEP_WEIGHTS = (
    ("đường / road ways", 0.8),
    ("tên đường / streets", 0.3),
    ("số nhà / house numbers", 1.2),
    ("trường / schools", 0.1),
    ("trường vào phường / schools into wards", 0.05),
)


def import_osm(
    conn: Connection, path: Path, progress: ProgressCallback = print_progress
) -> ImportReport:
    """Load an extract's roads and schools in one step; on any error nothing is written."""
    report = ImportReport("OSM roads and schools", str(path))
    contents = read_extract(path, progress)
    sha = file_sha256(path)
    progress(f"writing {len(contents.way_ids):,} road ways and {len(contents.schools):,} schools")
    with savepoint(conn), conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO osm_extracts (source, sha256, extract_date, way_count, school_count)
            VALUES (%s, %s, %s, %s, %s)
            ON CONFLICT (sha256) DO UPDATE SET source = EXCLUDED.source,
                imported_at = now(), way_count = EXCLUDED.way_count,
                school_count = EXCLUDED.school_count
            RETURNING id, (xmax = 0)
            """,
            (path.name, sha, contents.newest, len(contents.way_ids), len(contents.schools)),
        )
        extract_id, new_extract = cur.fetchone()  # type: ignore[misc]
        cur.execute("DELETE FROM road_ways WHERE extract_id = %s", (extract_id,))
        steps = StepProgress(progress, "ghi / writing", dict(WRITE_STEP_WEIGHTS))
        if contents.way_ids:
            _copy_road_ways(conn, extract_id, contents)
        steps.finished("đường / road ways")
        streets = _write_streets(conn, extract_id, contents)
        steps.finished("tên đường / streets")
        addresses, from_road, dropped = _write_addresses(conn, extract_id, contents)
        steps.finished("số nhà / house numbers")
        cur.execute("SELECT count(*) FROM schools")
        before = cur.fetchone()[0]  # type: ignore[index]
        _upsert_schools(conn, contents, report)
        cur.execute("SELECT count(*) FROM schools")
        after = cur.fetchone()[0]  # type: ignore[index]
        steps.finished("trường / schools")
        located = assign_school_wards(conn)
        steps.finished("trường vào phường / schools into wards")
    report.counts = {
        "extract id": extract_id,
        "objects read": contents.objects,
        "road ways": len(contents.way_ids),
        "road ways cut at the extract edge": contents.ways_cut,
        "schools": len(contents.schools),
        "schools added": after - before,
        "schools updated": len(contents.schools) - (after - before),
        **report.counts,
        "schools placed in a ward": located,
        "streets (named roads)": streets,
        "house numbers": addresses,
        "house numbers given the nearest road's street": from_road,
        "house numbers without a street near (skipped)": dropped,
    }
    if not new_extract:
        report.notes.append("this extract was imported before; its roads were replaced")
    if contents.school_relations_without_area:
        report.notes.append(
            f"{contents.school_relations_without_area} school relations had no valid area "
            "and were skipped"
        )
    if contents.newest:
        report.notes.append(f"newest object in the extract: {contents.newest.isoformat()}")
    return report.finish()


def download_place_extract(place: str, dest: Path) -> Path:
    """Fetch roads and schools of a named place from Overpass into an .osm file (needs network).

    The place's boundary comes from osmnx's geocoder; the data comes from the Overpass server
    osmnx is configured with, so the file is then imported like any other extract.
    """
    import osmnx

    try:
        boundary = osmnx.geocode_to_gdf(place).geometry.iloc[0]
    except Exception as exc:
        raise ImportFileError(place, f"cannot geocode the place ({exc})") from exc
    minx, miny, maxx, maxy = boundary.bounds
    bbox = f"{miny},{minx},{maxy},{maxx}"
    query = (
        "[out:xml][timeout:600];("
        f'way["highway"]({bbox});'
        f'nwr["amenity"~"^(school|kindergarten)$"]({bbox});'
        ");(._;>;);out meta;"
    )
    url = osmnx.settings.overpass_url.rstrip("/") + "/interpreter"
    body = urllib.parse.urlencode({"data": query}).encode()
    try:
        with urllib.request.urlopen(url, data=body, timeout=900) as response:
            dest.write_bytes(response.read())
    except OSError as exc:
        raise ImportFileError(place, f"cannot download from {url} ({exc})") from exc
    return dest
