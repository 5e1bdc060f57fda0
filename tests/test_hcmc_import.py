"""The real Ho Chi Minh City data through every importer, with golden counts (rolled back)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import geopandas as gpd
import pytest

from gis_service.db.connection import Connection
from gis_service.importers.osm import import_osm
from gis_service.importers.population import PopulationFields, import_population
from gis_service.importers.report import ImportReport, no_progress
from gis_service.importers.wards import import_wards
from tests.conftest import SHARED_DATA, rolled_back
from tests.hcmc_data import HCMC_WARD_FIELDS

pytestmark = pytest.mark.hcmc


@dataclass
class HcmcLoad:
    conn: Connection
    osm: ImportReport
    wards: ImportReport
    population: ImportReport


@pytest.fixture(scope="module")
def hcmc(empty_db_url: str) -> Iterator[HcmcLoad]:
    with rolled_back(empty_db_url) as conn:
        wards = import_wards(
            conn,
            SHARED_DATA / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp",
            HCMC_WARD_FIELDS,
            no_progress,
        )
        osm = import_osm(conn, SHARED_DATA / "hcmc_osm_2018" / "hcm_2018.osm.pbf", no_progress)
        population = import_population(
            conn,
            SHARED_DATA / "vn_census2019" / "district_population_by_age_2019.csv",
            PopulationFields(name="district", province="province", year=2019),
            no_progress,
        )
        yield HcmcLoad(conn, osm, wards, population)


def scalar(conn: Connection, query: str) -> object:
    with conn.cursor() as cur:
        cur.execute(query)
        return cur.fetchone()[0]


def test_road_ways_and_schools(hcmc: HcmcLoad) -> None:
    # 33,044 highway ways in the extract, less 23 proposed / under construction / platforms.
    assert hcmc.osm.counts["road ways"] == 33_021
    # 916 amenity=school|kindergarten objects with an area or a node, plus 3 unclosed ways.
    assert hcmc.osm.counts["schools"] == 919
    assert scalar(hcmc.conn, "SELECT count(*) FROM schools") == 919
    assert scalar(hcmc.conn, "SELECT count(*) FROM schools WHERE cardinality(levels) = 0") == 242
    km = scalar(hcmc.conn, "SELECT sum(ST_Length(geom::geography)) / 1000 FROM road_ways")
    assert float(km) == pytest.approx(8_668.5, abs=1)  # type: ignore[arg-type]


def test_wards_districts_and_population(hcmc: HcmcLoad) -> None:
    assert hcmc.wards.counts["wards"] == 322
    assert hcmc.wards.counts["districts"] == 24
    assert "population 2019: 8,993,082" in hcmc.wards.notes
    assert "population 2009: 7,162,864" in hcmc.wards.notes
    assert (
        scalar(
            hcmc.conn,
            """
        SELECT sum(p.population) FROM admin_population p
        JOIN admin_units a ON a.id = p.admin_unit_id WHERE a.level = 'ward' AND p.year = 2019
    """,
        )
        == 8_993_082
    )
    assert scalar(hcmc.conn, "SELECT bool_and(ST_IsValid(geom)) FROM admin_units") is True


def test_census_age_groups_for_every_district(hcmc: HcmcLoad) -> None:
    assert hcmc.population.counts["district rows matched"] == 24
    assert (
        scalar(
            hcmc.conn,
            """
        SELECT sum(b.population) FROM admin_population_by_age b
        JOIN admin_units a ON a.id = b.admin_unit_id WHERE a.level = 'district'
    """,
        )
        == 8_993_082
    )
    assert (
        scalar(
            hcmc.conn,
            """
        SELECT b.population FROM admin_population_by_age b
        JOIN admin_units a ON a.id = b.admin_unit_id
        WHERE a.code = '786' AND b.age_min = 0
    """,
        )
        == 13_650
    )  # Nhà Bè, aged 0-4


def test_schools_fall_in_the_wards_a_spatial_join_gives(hcmc: HcmcLoad) -> None:
    reference = gpd.read_file(SHARED_DATA / "hcmc_osm_2018" / "hcmc_schools_osm_2018.geojson")
    reference = reference[reference["ward_code_2019"].notna()]
    assert len(reference) == 857
    with hcmc.conn.cursor() as cur:
        cur.execute(
            "SELECT s.osm_type, s.osm_id, w.code FROM schools s "
            "JOIN admin_units w ON w.id = s.ward_id"
        )
        ours = {(t, i): code for t, i, code in cur.fetchall()}
    # That file numbers ways and relations as osmium areas: way id x 2, relation id x 2 + 1.
    expected = {}
    for osm_type, osm_id, code in zip(
        reference["osm_type"], reference["osm_id"], reference["ward_code_2019"], strict=True
    ):
        key = (
            ("node", int(osm_id))
            if osm_type == "node"
            else (
                ("way", int(osm_id) // 2)
                if int(osm_id) % 2 == 0
                else ("relation", int(osm_id) // 2)
            )
        )
        expected[key] = str(int(code))
    agree = sum(1 for key, code in expected.items() if ours.get(key) == code)
    assert agree == 857
    assert hcmc.osm.counts["schools placed in a ward"] == len(ours)
    assert len(ours) == 860
