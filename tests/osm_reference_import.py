"""The OSM importer as it was before its bulk-load rewrite, kept as the reference the new one is
compared with (tests/test_osm_import_sameness.py, benchmarks/osm_import.py)."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import osmium
import shapely
from psycopg2.extras import execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.geocoding.text import number_key, street_key
from gis_service.importers.report import ImportReport, ProgressCallback, Ticker, print_progress
from gis_service.safe_text import drop_control_characters
from gis_service.school_levels import infer_levels, school_search_text
from gis_service.text import fold_text
from gis_service.units.editions import current_edition

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
    ticker = Ticker(progress, f"reading {path.name}: objects")
    school_relations: set[int] = set()
    try:
        processor = osmium.FileProcessor(str(path)).with_locations().with_areas(school_filter)
        for obj in processor:
            contents.objects += 1
            ticker.tick()
            if isinstance(obj, osmium.osm.Area):
                if obj.tags.get("amenity") in SCHOOL_AMENITIES:
                    _read_school_area(obj, contents, wkb)
                continue
            if isinstance(obj, osmium.osm.Changeset):
                continue
            stamp = obj.timestamp
            if stamp.year > 1970 and (contents.newest is None or stamp > contents.newest):
                contents.newest = stamp
            if isinstance(obj, osmium.osm.Node):
                if obj.tags.get("amenity") in SCHOOL_AMENITIES and obj.location.valid():
                    contents.schools[("node", obj.id)] = SchoolRecord(
                        "node", obj.id, obj.location.lon, obj.location.lat, dict(obj.tags)
                    )
                if "addr:housenumber" in obj.tags and obj.location.valid():
                    _add_address(
                        contents, "node", obj.id, obj.tags, obj.location.lon, obj.location.lat
                    )
            elif isinstance(obj, osmium.osm.Way):
                _read_way(obj, contents)
            elif obj.tags.get("amenity") in SCHOOL_AMENITIES:
                school_relations.add(obj.id)
    except RuntimeError as exc:
        raise ImportFileError(path, f"truncated or corrupt OSM data ({exc})") from exc
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


def _copy_road_ways(conn: Connection, extract_id: int, contents: ExtractContents) -> None:
    lines = shapely.linestrings(
        [xy for coords in contents.way_coords for xy in coords],
        indices=[i for i, coords in enumerate(contents.way_coords) for _ in coords],
    )
    hexes = shapely.to_wkb(lines, hex=True, include_srid=False)
    # CSV only as COPY's input to PostgreSQL, never opened by people: no cell neutralising.
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    for osm_id, tags, nodes, geom in zip(
        contents.way_ids, contents.way_tags, contents.way_nodes, hexes, strict=True
    ):
        writer.writerow(
            [
                extract_id,
                osm_id,
                tags["highway"],
                tags.get("name", ""),
                tags.get("oneway", ""),
                json.dumps(tags, ensure_ascii=False),
                _pg_array(nodes),
                geom,
            ]
        )
    buffer.seek(0)
    with conn.cursor() as cur:
        cur.execute(
            "CREATE TEMP TABLE road_ways_load (extract_id int, osm_id bigint, highway text, "
            "name text, oneway text, tags jsonb, node_ids bigint[], wkb text) ON COMMIT DROP"
        )
        cur.copy_expert("COPY road_ways_load FROM STDIN WITH (FORMAT csv)", buffer)
        cur.execute(
            """
            INSERT INTO road_ways (extract_id, osm_id, highway, name, oneway, tags, node_ids, geom)
            SELECT extract_id, osm_id, highway, NULLIF(name, ''), NULLIF(oneway, ''), tags,
                   node_ids, ST_SetSRID(ST_GeomFromWKB(decode(wkb, 'hex')), 4326)
            FROM road_ways_load
            """
        )
        cur.execute("DROP TABLE road_ways_load")


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
        execute_values(cur, "INSERT INTO street_keys VALUES %s", [k for k in keyed if k[1]])
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


def _write_addresses(conn: Connection, extract_id: int, contents: ExtractContents) -> list[int]:
    """Store house numbers; one without a street takes the nearest named road's.

    Returns [stored, streets taken from the nearest road, dropped with no street near].
    """
    rows = [
        (
            extract_id,
            a.osm_type,
            a.osm_id,
            a.housenumber,
            a.street,
            number_key(a.housenumber),
            street_key(a.street),
            "tag" if a.street else "nearest_road",
            f"POINT({a.lon:.7f} {a.lat:.7f})",
        )
        for a in contents.addresses
    ]
    with conn.cursor() as cur:
        cur.execute("DELETE FROM addresses WHERE extract_id = %s", (extract_id,))
        execute_values(
            cur,
            """
            INSERT INTO addresses (extract_id, osm_type, osm_id, housenumber, street, number_key,
                                   street_key, street_source, geom)
            SELECT v.e, v.t, v.i, v.h, v.s, v.nk, v.sk, v.src, ST_GeomFromText(v.wkt, 4326)
            FROM (VALUES %s) AS v (e, t, i, h, s, nk, sk, src, wkt)
            ON CONFLICT DO NOTHING
            """,
            rows,
            page_size=2000,
        )
        cur.execute(
            """
            UPDATE addresses a SET street = near.name, street_key = k.key
            FROM (
                SELECT a2.osm_type, a2.osm_id,
                       (SELECT r.name FROM road_ways r
                        WHERE r.extract_id = a2.extract_id AND r.name IS NOT NULL
                          AND ST_DWithin(r.geom, a2.geom, %(near)s)
                        ORDER BY r.geom <-> a2.geom LIMIT 1) AS name
                FROM addresses a2
                WHERE a2.extract_id = %(extract)s AND a2.street_source = 'nearest_road'
            ) near JOIN street_keys k ON k.name = near.name
            WHERE a.extract_id = %(extract)s AND a.osm_type = near.osm_type
              AND a.osm_id = near.osm_id
            """,
            {"extract": extract_id, "near": ADDRESS_STREET_DEG},
        )
        from_road = int(cur.rowcount)
        cur.execute(
            "DELETE FROM addresses WHERE extract_id = %s AND street_key = ''", (extract_id,)
        )
        dropped = int(cur.rowcount)
        cur.execute("SELECT count(*) FROM addresses WHERE extract_id = %s", (extract_id,))
        stored = int(cur.fetchone()[0])  # type: ignore[index]
    return [stored, from_road, dropped]


_ASSIGN_SCHOOL_WARDS = """
UPDATE schools s
SET ward_id = w.id
FROM (
    SELECT s2.id AS school_id,
           (SELECT a.id FROM admin_units a
            WHERE a.level = 'ward' AND a.edition = %(edition)s AND ST_Covers(a.geom, s2.geom)
            ORDER BY a.id LIMIT 1) AS id
    FROM schools s2
) w
WHERE s.id = w.school_id AND s.ward_id IS DISTINCT FROM w.id
"""


def assign_school_wards(conn: Connection) -> int:
    """The ward statement as it was: one lookup per school."""
    with conn.cursor() as cur:
        cur.execute(_ASSIGN_SCHOOL_WARDS, {"edition": current_edition(conn)})
        cur.execute("SELECT count(*) FROM schools WHERE ward_id IS NOT NULL")
        row = cur.fetchone()
    return int(row[0]) if row else 0


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
        if contents.way_ids:
            _copy_road_ways(conn, extract_id, contents)
        streets = _write_streets(conn, extract_id, contents)
        addresses, from_road, dropped = _write_addresses(conn, extract_id, contents)
        cur.execute("SELECT count(*) FROM schools")
        before = cur.fetchone()[0]  # type: ignore[index]
        _upsert_schools(conn, contents, report)
        cur.execute("SELECT count(*) FROM schools")
        after = cur.fetchone()[0]  # type: ignore[index]
        located = assign_school_wards(conn)
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
