"""Crosswalk 2019 -> 2025: a hand-checked case, exact totals on random partitions, the real HCMC
census carried onto the 2025 units, children units report, and the `units` commands."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import pytest
import shapely
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from psycopg2.extras import execute_values
from shapely.geometry import LineString, box
from typer.testing import CliRunner

from gis_service.cli import app
from gis_service.db.connection import Connection, connect
from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.importers.osm import import_osm
from gis_service.importers.population import PopulationFields, import_population
from gis_service.importers.report import no_progress
from gis_service.importers.wards import WardFields, import_wards
from gis_service.planning.series import import_series
from gis_service.units.coverage import NO_CENSUS_VI, census_coverage
from gis_service.units.crosswalk import (
    CrosswalkReport,
    coverage_table,
    largest_remainder,
    run_crosswalk,
)
from gis_service.units.reported import import_reported_children, reported_children
from tests.conftest import SHARED_DATA, recreate_database, rolled_back
from tests.hcmc_data import load_hcmc_units_2025, load_hcmc_wards_2019

X0, Y0 = 677_000.0, 1_155_500.0  # about 106.62 E, 10.45 N in UTM 48N
SCHOOLMAP = str(Path(sys.executable).parent / "schoolmap")


def rows(conn: Connection, query: str, *args: object) -> list[tuple[object, ...]]:
    with conn.cursor() as cur:
        cur.execute(query, args)
        return list(cur.fetchall())


@contextmanager
def undone(conn: Connection) -> Iterator[Connection]:
    """Run a block and undo it, so a module-scoped load stays as it was."""
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT undone")
    try:
        yield conn
    finally:
        with conn.cursor() as cur:
            cur.execute("ROLLBACK TO SAVEPOINT undone")


# --- a hand-checked case -------------------------------------------------------------------
#
#   y=1000 +-----------+-----------+-----------+
#          |  A | ||| T1|     B     |           |    2019: wards A (1,000 people) and B (400),
#          |    | |||   |           |    T3     |          one district over both
#          | T1 | T2 |  (T2 ... )  |  (no 2019 |    2025: T1 = left half of A,
#          |    |    |              |  ward)   |          T2 = right half of A + B, T3 beyond
#   y=0    +----+-----+-----------+-----------+
#          x=0  500  1000        2000        3000
#
# A has 3 x 980 m of residential street in its left half and 980 m in its right half (plus a
# motorway, which people do not live along): road weights 3/4 and 1/4, area weights 1/2 each.
# B has no road at all, so it is weighted by area.


def write_units(path: Path, units: list[tuple[str, str, object]], **columns: list[object]) -> Path:
    frame = gpd.GeoDataFrame(
        {"code": [u[0] for u in units], "ten": [u[1] for u in units], **columns},
        geometry=[u[2] for u in units],
        crs="EPSG:32648",
    )
    frame.to_file(path, driver="GeoJSON")
    return path


def square(x: float, width: float) -> object:
    return box(X0 + x, Y0, X0 + x + width, Y0 + 1000)


def add_roads(conn: Connection, lines: list[tuple[str, LineString]]) -> None:
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO osm_extracts (source, sha256, extract_date) "
            "VALUES ('test', 'tiny-case', now()) RETURNING id"
        )
        extract = cur.fetchone()[0]
        execute_values(
            cur,
            "INSERT INTO road_ways (extract_id, osm_id, highway, node_ids, geom) "
            "SELECT v.e, v.id, v.h, ARRAY[v.id * 2, v.id * 2 + 1], "
            "ST_Transform(ST_GeomFromText(v.wkt, 32648), 4326) "
            "FROM (VALUES %s) AS v (e, id, h, wkt)",
            [(extract, i + 1, kind, line.wkt) for i, (kind, line) in enumerate(lines)],
        )


def load_tiny_case(conn: Connection, folder: Path) -> dict[str, int]:
    """The case drawn above; returns unit ids by code."""
    import_wards(
        conn,
        write_units(
            folder / "wards_2019.geojson",
            [("98001", "Phường A", square(0, 1000)), ("98002", "Phường B", square(1000, 1000))],
            quan=["Quận Thử", "Quận Thử"],
            ma_quan=["980", "980"],
            Pop_2019=[1000, 400],
        ),
        WardFields(
            code="code",
            name="ten",
            district="quan",
            district_code="ma_quan",
            population=["Pop_2019"],
            province_name="Tỉnh Thử",
            province_code="98",
        ),
        no_progress,
    )
    import_wards(
        conn,
        write_units(
            folder / "units_2025.geojson",
            [
                ("98001", "Phường Một", square(0, 500)),
                ("98004", "Phường Hai", square(500, 1500)),
                ("98007", "Xã Ba", square(2000, 1000)),
            ],
        ),
        WardFields(
            code="code", name="ten", edition="2025", province_name="Tỉnh Thử", province_code="98"
        ),
        no_progress,
    )
    streets = [
        ("residential", LineString([(X0 + x, Y0 + 10), (X0 + x, Y0 + 990)]))
        for x in (100, 250, 400, 750)
    ]
    motorway = ("motorway", LineString([(X0 + 510, Y0 + 500), (X0 + 990, Y0 + 500)]))
    add_roads(conn, [*streets, motorway])
    ids = dict(rows(conn, "SELECT edition || ':' || code, id FROM admin_units"))
    with conn.cursor() as cur:
        district = ids["2019:980"]
        # A district figure of a year its wards have none for, and its age groups.
        cur.execute(
            "INSERT INTO admin_population (admin_unit_id, year, population, source) "
            "VALUES (%s, 2015, 1400, 'test')",
            (district,),
        )
        cur.execute(
            "INSERT INTO admin_population_by_age (admin_unit_id, year, age_min, age_max, "
            "population, source) VALUES (%s, 2019, 0, 4, 140, 'test'), "
            "(%s, 2019, 5, NULL, 1260, 'test')",
            (district, district),
        )
    return {str(k): int(v) for k, v in ids.items()}  # type: ignore[call-overload]


def carried(conn: Connection, table: str = "admin_population") -> dict[tuple[str, int], int]:
    extra = " AND p.age_min = 0" if table == "admin_population_by_age" else ""
    found = rows(
        conn,
        f"SELECT u.code, p.year, p.population FROM {table} p "
        "JOIN admin_units u ON u.id = p.admin_unit_id WHERE u.edition = '2025'" + extra,
    )
    return {(str(c), int(y)): int(n) for c, y, n in found}  # type: ignore[call-overload]


def test_road_weights_follow_the_streets_where_area_splits_evenly(
    db: Connection, tmp_path: Path
) -> None:
    ids = load_tiny_case(db, tmp_path)
    report = run_crosswalk(db, "2019", "2025", "roads", no_progress)
    pieces = rows(
        db,
        "SELECT f.code, t.code, round(area_m2), round(road_m), round(weight::numeric, 4), basis "
        "FROM unit_crosswalk_pieces p JOIN admin_units f ON f.id = p.from_unit_id "
        "JOIN admin_units t ON t.id = p.to_unit_id ORDER BY 1, 2",
    )
    assert [(f, t, a, r, float(w), b) for f, t, a, r, w, b in pieces] == [
        ("98001", "98001", 500_000, 2940, 0.75, "roads"),
        ("98001", "98004", 500_000, 980, 0.25, "roads"),
        ("98002", "98004", 1_000_000, 0, 1.0, "area"),
    ]
    assert carried(db) == {
        ("98001", 2019): 750,
        ("98004", 2019): 250 + 400,
        # The district's 2015 figure goes down to A and B as 1,000 : 400, then on.
        ("98001", 2015): 750,
        ("98004", 2015): 650,
    }
    assert carried(db, "admin_population_by_age") == {("98001", 2019): 75, ("98004", 2019): 65}
    assert report.pieces_by_basis == {"roads": 2, "area": 1}
    assert report.coverage == {"full": 2, "none": 1}
    assert census_coverage(db, "2025") == {
        ids["2025:98001"]: pytest.approx(1.0),
        ids["2025:98004"]: pytest.approx(1.0),
        ids["2025:98007"]: 0.0,
    }
    assert rows(
        db,
        "SELECT DISTINCT p.source FROM admin_population p JOIN admin_units u "
        "ON u.id = p.admin_unit_id WHERE u.edition = '2025'",
    ) == [("crosswalk 2019→2025 (roads)",)]

    by_area = run_crosswalk(db, "2019", "2025", "area", no_progress)
    assert carried(db) == {
        ("98001", 2019): 500,
        ("98004", 2019): 900,
        ("98001", 2015): 500,
        ("98004", 2015): 900,
    }
    assert by_area.pieces_by_basis == {"area": 3}
    assert [(c.kind, c.year, c.total, c.carried, c.units) for c in by_area.carried] == [
        ("population", 2015, 1400, 1400, 2),
        ("population", 2019, 1400, 1400, 2),
        ("age groups", 2019, 1400, 1400, 2),
    ]


def test_a_crosswalk_needs_both_editions_and_known_weights(db: Connection, tmp_path: Path) -> None:
    with pytest.raises(InvalidRequestError, match="no commune-level units of the 2019 edition"):
        run_crosswalk(db, "2019", "2025", "area", no_progress)
    load_tiny_case(db, tmp_path)
    with pytest.raises(InvalidRequestError, match="no weighting 'people'"):
        run_crosswalk(db, "2019", "2025", "people", no_progress)
    with pytest.raises(InvalidRequestError, match="the two editions must differ"):
        run_crosswalk(db, "2025", "2025", "area", no_progress)
    with pytest.raises(InvalidRequestError, match="no unit edition '2030'"):
        run_crosswalk(db, "2019", "2030", "area", no_progress)
    assert rows(db, "SELECT count(*) FROM unit_crosswalks") == [(0,)]


def test_largest_remainder_keeps_the_total_and_leaves_the_uncovered_rest() -> None:
    assert largest_remainder(10, [0.5, 0.5]) == [5, 5]
    assert largest_remainder(10, [1 / 3, 1 / 3, 1 / 3]) == [4, 3, 3]
    assert largest_remainder(7, [0.25, 0.25]) == [2, 2]  # 3 (the uncovered half, 3.5) left
    assert largest_remainder(1000, [0.6, 0.6]) == [500, 500]  # overlapping: scaled to 1
    assert largest_remainder(0, [0.2, 0.8]) == [0, 0]


# --- random partitions: every total preserved exactly --------------------------------------

cuts = st.sets(st.integers(1, 19), max_size=4).map(sorted)


def grid_cells(
    xs: list[int], ys: list[int], every_x: list[int], every_y: list[int]
) -> list[object]:
    """Rectangles of a 2 km square cut at xs and ys (in 100 m), each drawn through every cut of
    both partitions on its border, so the two editions' shared borders match vertex for vertex."""
    cells = []
    for x0, x1 in zip([0, *xs], [*xs, 20], strict=True):
        for y0, y1 in zip([0, *ys], [*ys, 20], strict=True):
            bottom = [(x, y0) for x in every_x if x0 <= x <= x1]
            right = [(x1, y) for y in every_y if y0 < y <= y1]
            top = [(x, y1) for x in reversed(every_x) if x0 <= x < x1]
            left = [(x0, y) for y in reversed(every_y) if y0 < y < y1]
            ring = [(X0 + 100 * x, Y0 + 100 * y) for x, y in [*bottom, *right, *top, *left]]
            cells.append(shapely.Polygon(ring))
    return cells


def insert_units(
    conn: Connection, edition: str, cells: list[object], parent: int | None
) -> list[int]:
    with conn.cursor() as cur:
        found = execute_values(
            cur,
            "INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded, "
            "parent_id, geom) SELECT v.e, 'ward', v.code, v.code, v.code, v.code, v.p::integer, "
            "ST_Multi(ST_Transform(ST_GeomFromText(v.wkt, 32648), 4326)) "
            "FROM (VALUES %s) AS v (e, code, p, wkt) RETURNING id",
            [(edition, f"9{i:04d}", parent, c.wkt) for i, c in enumerate(cells)],  # type: ignore[attr-defined]
            fetch=True,
        )
    return [int(r[0]) for r in found]


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    source_x=cuts,
    source_y=cuts,
    target_x=cuts,
    target_y=cuts,
    data=st.data(),
)
def test_random_partitions_carry_every_figure_exactly(
    db: Connection,
    source_x: list[int],
    source_y: list[int],
    target_x: list[int],
    target_y: list[int],
    data: st.DataObject,
) -> None:
    every_x = sorted({0, 20, *source_x, *target_x})
    every_y = sorted({0, 20, *source_y, *target_y})
    sources = grid_cells(source_x, source_y, every_x, every_y)
    targets = grid_cells(target_x, target_y, every_x, every_y)
    n = len(sources)
    population = data.draw(st.lists(st.integers(0, 10**6), min_size=n, max_size=n))
    district_total = data.draw(st.integers(0, 10**7))
    young = data.draw(st.integers(0, 10**6))
    with undone(db), db.cursor() as cur:
        cur.execute(
            "INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded) "
            "VALUES ('2019', 'district', '999', 'Quận Thử', 'quan thu', 'thu') RETURNING id"
        )
        district = cur.fetchone()[0]
        ward_ids = insert_units(db, "2019", sources, district)
        insert_units(db, "2025", targets, None)
        execute_values(
            cur,
            "INSERT INTO admin_population (admin_unit_id, year, population) VALUES %s",
            [(w, 2019, p) for w, p in zip(ward_ids, population, strict=True)]
            + [(district, 2012, district_total)],
        )
        cur.execute(
            "INSERT INTO admin_population_by_age (admin_unit_id, year, age_min, age_max, "
            "population) VALUES (%s, 2019, 0, 4, %s)",
            (district, young),
        )
        report = run_crosswalk(db, "2019", "2025", "area", no_progress)
        got = {(c.kind, c.year): (c.total, c.carried) for c in report.carried}
        assert got == {
            ("population", 2019): (sum(population), sum(population)),
            ("population", 2012): (district_total, district_total),
            ("age groups", 2019): (young, young),
        }
        stored = defaultdict(int)
        for (_, year), value in carried(db).items():
            stored[year] += value
        assert stored == {y: t for y, t in ((2019, sum(population)), (2012, district_total)) if t}
        assert report.coverage == {"full": len(targets)}


# --- the real HCMC census onto the 2025 units ----------------------------------------------

HCMC_TOTAL_2019 = 8_993_082


@dataclass
class Hcmc:
    conn: Connection
    report: CrosswalkReport


@pytest.fixture(scope="module")
def hcmc() -> Iterator[Hcmc]:
    """The 2019 wards and district figures, the 2018 roads and the 2025 units of HCMC, carried
    over with road weights, in a database of their own (an import's open transaction holds
    the public data version row, which every other writer of that database would wait for)."""
    with rolled_back(recreate_database("schoolmap_test_crosswalk")) as conn:
        census = SHARED_DATA / "hcmc_cityscope_pop2019"
        load_hcmc_wards_2019(conn)
        import_series(
            conn, census / "Population_District_Level.shp", level="district", code_field="Dist_ID"
        )
        import_population(
            conn,
            SHARED_DATA / "vn_census2019" / "district_population_by_age_2019.csv",
            PopulationFields(name="district", province="province", year=2019),
            no_progress,
        )
        import_osm(conn, SHARED_DATA / "hcmc_osm_2018" / "hcm_2018.osm.pbf", no_progress)
        load_hcmc_units_2025(conn)
        yield Hcmc(conn, run_crosswalk(conn, "2019", "2025", "roads", no_progress))


def figures(report: CrosswalkReport) -> dict[tuple[str, int], tuple[int, int, int]]:
    return {(c.kind, c.year): (c.total, c.carried, c.units) for c in report.carried}


@pytest.mark.hcmc
def test_census_population_reaches_the_2025_units(hcmc: Hcmc) -> None:
    total, moved, units = figures(hcmc.report)[("population", 2019)]
    assert total == HCMC_TOTAL_2019
    assert abs(moved - total) / total < 0.005
    assert moved < total  # slivers of 2019 wards that no 2025 unit covers (coast, rivers)
    assert rows(
        hcmc.conn,
        "SELECT sum(p.population) FROM admin_population p JOIN admin_units u "
        "ON u.id = p.admin_unit_id WHERE u.edition = '2025' AND p.year = 2019",
    ) == [(moved,)]
    # Golden figures: the former Bình Dương and Bà Rịa – Vũng Tàu have no census polygon here.
    assert hcmc.report.coverage == {"none": 66, "full": 102}
    assert hcmc.report.units_with_population == units == 110
    assert hcmc.report.target_units == 168 and hcmc.report.source_units == 322
    assert hcmc.report.pieces_by_basis == {"roads": 1095, "area": 63}


@pytest.mark.hcmc
def test_every_2025_unit_has_a_coverage_share(hcmc: Hcmc) -> None:
    shares = census_coverage(hcmc.conn, "2025")
    assert len(shares) == 168 and all(0 <= s <= 1 for s in shares.values())
    table = {u.code: u for u in coverage_table(hcmc.conn, "2025")}
    assert table["26740"].name == "Phường Sài Gòn" and table["26740"].coverage == "full"
    assert table["25747"].coverage == "none"  # Phường Thủ Dầu Một, formerly Bình Dương
    assert table["26740"].year == 2019 and (table["26740"].population or 0) > 10_000


@pytest.mark.hcmc
def test_each_carried_figure_traces_back_through_its_pieces(hcmc: Hcmc) -> None:
    pieces = rows(
        hcmc.conn,
        "SELECT p.from_unit_id, p.to_unit_id, p.weight, p.basis, p.road_m, p.area_m2 "
        "FROM unit_crosswalk_pieces p JOIN unit_crosswalks x ON x.id = p.crosswalk_id "
        "WHERE x.from_edition = '2019' AND x.to_edition = '2025' "
        "ORDER BY p.from_unit_id, p.to_unit_id",
    )
    by_source: dict[int, list[tuple[int, float]]] = defaultdict(list)
    for source, target, weight, basis, road, area in pieces:
        by_source[source].append((target, weight))  # type: ignore[arg-type, index]
        assert road is not None and area > 0  # type: ignore[operator]
        assert basis in ("roads", "area")
    for year in (2009, 2019):
        expected: dict[int, int] = defaultdict(int)
        for ward, value in rows(
            hcmc.conn,
            "SELECT p.admin_unit_id, p.population FROM admin_population p "
            "JOIN admin_units u ON u.id = p.admin_unit_id "
            "WHERE u.edition = '2019' AND u.level = 'ward' AND p.year = %s",
            year,
        ):
            split = by_source.get(ward, [])  # type: ignore[call-overload]
            for (target, _), n in zip(
                split,
                largest_remainder(value, [w for _, w in split]),
                strict=True,  # type: ignore[arg-type]
            ):
                expected[target] += n
        stored = dict(
            rows(
                hcmc.conn,
                "SELECT p.admin_unit_id, p.population FROM admin_population p "
                "JOIN admin_units u ON u.id = p.admin_unit_id "
                "WHERE u.edition = '2025' AND p.year = %s",
                year,
            )
        )
        assert stored == {t: n for t, n in expected.items() if n}


@pytest.mark.hcmc
def test_age_groups_and_the_yearly_district_series_are_carried(hcmc: Hcmc) -> None:
    got = figures(hcmc.report)
    total, moved, _ = got[("age groups", 2019)]
    assert total == HCMC_TOTAL_2019 and abs(moved - total) / total < 0.005
    for year in range(2010, 2018):  # district figures only: down to wards, then on
        total, moved, units = got[("population", year)]
        assert total > 7_000_000 and abs(moved - total) / total < 0.005 and units >= 100
    groups = rows(
        hcmc.conn,
        "SELECT count(DISTINCT b.admin_unit_id), count(*), sum(b.population) "
        "FILTER (WHERE b.age_min = 0) FROM admin_population_by_age b "
        "JOIN admin_units u ON u.id = b.admin_unit_id WHERE u.edition = '2025'",
    )
    units, figures_stored, aged_0_4 = groups[0]
    assert figures_stored == 18 * units  # type: ignore[operator]
    census_0_4 = rows(
        hcmc.conn,
        "SELECT sum(b.population) FROM admin_population_by_age b JOIN admin_units u "
        "ON u.id = b.admin_unit_id WHERE u.edition = '2019' AND b.age_min = 0",
    )[0][0]
    assert abs(aged_0_4 - census_0_4) / census_0_4 < 0.005  # type: ignore[operator]


@pytest.mark.hcmc
def test_running_again_replaces_the_crosswalk_and_its_figures(hcmc: Hcmc) -> None:
    count = (
        "SELECT count(*), sum(population) FROM admin_population p JOIN admin_units u "
        "ON u.id = p.admin_unit_id WHERE u.edition = '2025'"
    )
    before = rows(hcmc.conn, count)
    with undone(hcmc.conn):
        by_area = run_crosswalk(hcmc.conn, "2019", "2025", "area", no_progress)
        moved = figures(by_area)[("population", 2019)][1]
        assert abs(moved - HCMC_TOTAL_2019) / HCMC_TOTAL_2019 < 0.005
        assert by_area.units_with_population == 113
        assert rows(hcmc.conn, "SELECT count(*), min(method) FROM unit_crosswalks") == [(1, "area")]
        assert rows(
            hcmc.conn,
            "SELECT DISTINCT p.source FROM admin_population p JOIN admin_units u "
            "ON u.id = p.admin_unit_id WHERE u.edition = '2025'",
        ) == [("crosswalk 2019→2025 (area)",)]
        again = run_crosswalk(hcmc.conn, "2019", "2025", "roads", no_progress)
        assert figures(again) == figures(hcmc.report)
        assert rows(hcmc.conn, count) == before
        assert rows(hcmc.conn, "SELECT count(*) FROM unit_crosswalk_pieces") == [(1158,)]
        assert rows(hcmc.conn, "SELECT count(*) FROM unit_coverage") == [(168,)]


# --- children units report ----------------------------------------------------------------


def write_csv(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_reported_children_are_matched_in_the_edition_and_read_back(
    db: Connection, tmp_path: Path
) -> None:
    ids = load_tiny_case(db, tmp_path)
    path = write_csv(
        tmp_path / "children.csv",
        "unit_code,unit_name,birth_year,children\n"
        "98001,,2019,120\n"  # 98001 is Phường A in 2019, Phường Một in 2025
        ",Phường Hai,2019,300\n"
        "98007,Xã Ba,2020,45\n"
        ",phuong mot,2020,118\n",
    )
    report = import_reported_children(db, path, progress=no_progress)
    assert report.counts["lines"] == 4 and report.counts["figures added"] == 4
    assert "edition 2025" in report.notes
    got = [(r.code, r.name, r.birth_year, r.children) for r in reported_children(db)]
    assert got == [
        ("98001", "Phường Một", 2019, 120),
        ("98001", "Phường Một", 2020, 118),
        ("98004", "Phường Hai", 2019, 300),
        ("98007", "Xã Ba", 2020, 45),
    ]
    assert [r.children for r in reported_children(db, unit_ids=[ids["2025:98007"]])] == [45]
    # The same code in the 2019 edition is another unit; Vietnamese headers are read too.
    old = write_csv(tmp_path / "old.csv", "ma_don_vi,nam_sinh,so_tre\n98001,2019,99\n")
    import_reported_children(db, old, edition="2019", progress=no_progress)
    assert [(r.name, r.children) for r in reported_children(db, "2019")] == [("Phường A", 99)]
    # Importing again updates in place.
    write_csv(path, "unit_code,birth_year,children\n98001,2019,125\n")
    again = import_reported_children(db, path, progress=no_progress)
    assert again.counts["figures updated"] == 1
    assert rows(db, "SELECT count(*) FROM unit_reported_children") == [(5,)]


def test_a_bad_children_file_names_every_bad_line_and_writes_nothing(
    db: Connection, tmp_path: Path
) -> None:
    load_tiny_case(db, tmp_path)
    path = write_csv(
        tmp_path / "children.csv",
        "unit_code,unit_name,birth_year,children\n"
        "98001,,2019,120\n"
        "99999,,2019,5\n"
        "98004,Xã Ba,2019,5\n"
        ",Phường Bốn,2019,5\n"
        "98007,,năm ngoái,5\n"
        "98007,,2019,-3\n"
        ",,2019,5\n"
        "98001,,2019,121\n"
        "98007,,1800,2.5\n",
    )
    before = rows(db, "SELECT count(*) FROM unit_reported_children")
    with pytest.raises(ImportFileError) as caught:
        import_reported_children(db, path, progress=no_progress)
    message = caught.value.problem
    assert message.startswith("9 lỗi, chưa nạp dòng nào / 9 problem(s), nothing was imported")
    for expected in [
        "dòng 3: không có đơn vị mã 99999 trong bộ 2025 / line 3: no unit has code 99999",
        "dòng 4: mã 98004 là Phường Hai, không phải 'Xã Ba'",
        "dòng 5: không có đơn vị tên 'Phường Bốn'",
        "dòng 6: birth_year là 'năm ngoái', không phải số nguyên",
        "dòng 7: children là -3, ngoài khoảng 0–100000",
        "dòng 8: thiếu mã và tên đơn vị / line 8: unit_code and unit_name are both empty",
        "dòng 9: Phường Một, năm sinh 2019 đã có ở dòng 2",
        "dòng 10: birth_year là 1800, ngoài khoảng 1990–",
        "dòng 10: children là '2.5', không phải số nguyên",
    ]:
        assert expected in message
    assert rows(db, "SELECT count(*) FROM unit_reported_children") == before
    missing = write_csv(tmp_path / "cols.csv", "unit_code,year,children\n98001,2019,1\n")
    with pytest.raises(ImportFileError, match="thiếu cột birth_year / missing column"):
        import_reported_children(db, missing, progress=no_progress)
    with pytest.raises(InvalidRequestError, match="no unit edition '2024'"):
        import_reported_children(db, path, edition="2024", progress=no_progress)


def test_a_name_several_units_share_needs_a_code(db: Connection, tmp_path: Path) -> None:
    load_tiny_case(db, tmp_path)
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded, "
            "unit_type) VALUES ('2025', 'ward', '98010', 'Xã Một', 'xa mot', 'mot', 'xa')"
        )
    path = write_csv(tmp_path / "c.csv", "unit_name,birth_year,children\nMột,2019,1\n")
    with pytest.raises(ImportFileError, match=r"2 units are called 'Một' .*; give unit_code"):
        import_reported_children(db, path, progress=no_progress)
    # Its type tells the two apart.
    write_csv(path, "unit_name,birth_year,children\nXã Một,2019,1\n")
    assert import_reported_children(db, path, progress=no_progress).counts["units"] == 1


# --- the `schoolmap units` commands ---------------------------------------------------------


@pytest.fixture(scope="module")
def cli_url(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A database holding the hand-checked case, committed, for the commands to open."""
    url = recreate_database("schoolmap_test_units_cli")
    conn = connect(url)
    try:
        load_tiny_case(conn, tmp_path_factory.mktemp("tiny"))
        conn.commit()
    finally:
        conn.close()
    return url


def invoke(url: str, *args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args), env={"DATABASE_URL": url})
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.output


def test_units_commands(cli_url: str, tmp_path: Path) -> None:
    code, out = invoke(cli_url, "units", "editions")
    assert code == 0, out
    assert "2019     2019-04-01 2025-06-30      2  province > district > ward" in out
    assert "2025*    2025-07-01 —               3  province > ward" in out

    code, out = invoke(cli_url, "units", "crosswalk", "--from", "2019", "--to", "2025")
    assert code == 0, out
    assert "pieces: 3 (area 1, roads 2)" in out
    assert "population 2019: carried 1,400 of 1,400 (100.00%) onto 2 units" in out
    assert "coverage by census units with figures: none 1 (< 5%), partial 0, full 2" in out

    code, out = invoke(cli_url, "units", "coverage", "--edition", "2025")
    assert code == 0, out
    lines = out.splitlines()
    assert any(
        line.startswith("98001  Phường Một") and "100.0%" in line and " 750" in line
        for line in lines
    )
    assert any(line.startswith("98007  Xã Ba") and NO_CENSUS_VI in line for line in lines)
    assert "3 units: covered none 1, partial 0, full 2" in out

    path = write_csv(tmp_path / "c.csv", "unit_code,birth_year,children\n98004,2019,31\n")
    code, out = invoke(cli_url, "units", "import-children", str(path))
    assert code == 0, out
    assert "figures added: 1" in out and "note: edition 2025" in out


def test_units_command_errors_exit_one_with_the_reason(cli_url: str, tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": cli_url}
    bad = write_csv(tmp_path / "c.csv", "unit_code,birth_year,children\n12345,2019,1\n")
    result = subprocess.run(
        [SCHOOLMAP, "units", "import-children", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1
    assert "dòng 2: không có đơn vị mã 12345 trong bộ 2025" in result.stderr
    assert "Traceback" not in result.stderr
    result = subprocess.run(
        [SCHOOLMAP, "units", "crosswalk", "--weights", "people"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert result.returncode == 1 and "no weighting 'people'" in result.stderr
