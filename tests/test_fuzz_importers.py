"""Bad input in files: every importer fed generated malformed CSV, GeoJSON and OSM bytes
refuses them with ImportFileError naming the file, and writes nothing."""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.rounds import create_round
from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError
from gis_service.importers.osm import import_osm
from gis_service.importers.population import PopulationFields, import_population
from gis_service.importers.registry import import_registry
from gis_service.importers.report import no_progress
from gis_service.importers.wards import WardFields, import_wards
from tests.conftest import table_counts

REGISTRY = (
    "code,name,levels,ownership,address,lon,lat,phone,grade_1_classes,grade_1_class_size\n"
    "TH01,Trường Tiểu học Lê Văn Thọ,tieu_hoc,public,1 Lê Lợi,106.70,10.77,0281,5,35\n"
)
POPULATION = (
    "province,district,year,total,age_0_04,age_05_09\n"
    "Thành phố Hồ Chí Minh,Quận 1,2019,142000,8000,9000\n"
)
APPLICANTS = (
    "child_id,birth_date,lon,lat,ward_code,priority_group,sibling_of\n"
    "079219000001,2019-04-25,106.70,10.77,26734,,\n"
)
WARDS = (
    '{"type":"FeatureCollection","features":[{"type":"Feature","properties":'
    '{"code":"26734","name":"Phường Bến Nghé","pop":"18000"},"geometry":{"type":"Polygon",'
    '"coordinates":[[[106.69,10.77],[106.71,10.77],[106.71,10.79],[106.69,10.79],[106.69,10.77]]]}}]}'
)
OSM = (
    "<?xml version='1.0' encoding='UTF-8'?>\n<osm version=\"0.6\">\n"
    '<node id="1" lat="10.77" lon="106.70" version="1"/>\n'
    '<node id="2" lat="10.78" lon="106.71" version="1"/>\n'
    '<way id="10" version="1"><nd ref="1"/><nd ref="2"/>'
    '<tag k="highway" v="residential"/></way>\n'
    '<node id="3" lat="10.775" lon="106.705" version="1"><tag k="amenity" v="school"/>'
    '<tag k="name" v="Trường Tiểu học Kiểm Thử"/></node>\n</osm>\n'
)

NASTY = st.sampled_from(
    [
        "",
        ",",
        '"',
        '"unclosed',
        "\x00",
        "\ufeff",
        "NaN",
        "inf",
        "-1e309",
        "9" * 40,
        "\r\n",
        "'; DROP TABLE schools; --",
        "null",
        "[]",
        "{",
        "<",
        "&",
        "2019-02-30",
        "ü\udcff",
    ]
)


@st.composite
def mangled(draw: st.DrawFn, valid: str) -> bytes:
    """A valid file broken in one or more ways: cut, bytes replaced, a field replaced."""
    text = valid
    for _ in range(draw(st.integers(1, 3))):
        how = draw(st.sampled_from(["cut", "replace", "insert", "field", "encoding"]))
        if how == "cut":
            text = text[: draw(st.integers(0, max(0, len(text) - 1)))]
        elif how == "replace" and text:
            at = draw(st.integers(0, len(text) - 1))
            text = text[:at] + draw(NASTY) + text[at + 1 :]
        elif how == "insert":
            at = draw(st.integers(0, len(text)))
            text = text[:at] + draw(st.text(max_size=8)) + text[at:]
        elif how == "field":
            separator = draw(st.sampled_from([",", '"', ":", "="]))
            parts = text.split(separator)
            if len(parts) > 1:
                i = draw(st.integers(0, len(parts) - 1))
                parts[i] = draw(NASTY)
                text = separator.join(parts)
        else:
            return (
                text.encode("utf-16") if draw(st.booleans()) else text.encode("latin-1", "replace")
            )
    return text.encode("utf-8", "surrogateescape") if text else b""


def raw_or_mangled(valid: str) -> st.SearchStrategy[bytes]:
    return st.one_of(mangled(valid), st.binary(max_size=300))


def refuses_or_imports(
    conn: Connection, data: bytes, suffix: str, load: Callable[[Path], Any]
) -> None:
    """Import the bytes: either they are a valid file, or ImportFileError names the file and
    nothing was written."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / f"input{suffix}"
        path.write_bytes(data)
        with conn.cursor() as cur:
            cur.execute("SAVEPOINT fuzz_example")
        before = table_counts(conn)
        try:
            load(path)
            event("imported")
        except ImportFileError as exc:
            event("refused")
            assert str(exc).startswith(str(path)) and exc.problem.strip()
            assert table_counts(conn) == before
        finally:
            with conn.cursor() as cur:
                cur.execute("ROLLBACK TO SAVEPOINT fuzz_example")


FUZZ = settings(
    max_examples=80,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    derandomize=True,
    database=None,
)


@FUZZ
@given(data=raw_or_mangled(REGISTRY))
def test_registry_files(db: Connection, data: bytes) -> None:
    refuses_or_imports(db, data, ".csv", lambda p: import_registry(db, p, no_progress))


@FUZZ
@given(data=raw_or_mangled(POPULATION))
def test_population_files(db: Connection, data: bytes) -> None:
    fields = PopulationFields(level="district", name="district", province="province", year=2019)
    refuses_or_imports(db, data, ".csv", lambda p: import_population(db, p, fields, no_progress))


@FUZZ
@given(data=raw_or_mangled(WARDS))
def test_ward_files(db: Connection, data: bytes) -> None:
    fields = WardFields(
        code="code",
        name="name",
        population=["pop"],
        population_years=[2019],
        province_name="Thành phố Hồ Chí Minh",
        province_code="79",
        crs="EPSG:4326",
    )
    refuses_or_imports(db, data, ".geojson", lambda p: import_wards(db, p, fields, no_progress))


@FUZZ
@given(data=raw_or_mangled(OSM))
def test_osm_files(db: Connection, data: bytes) -> None:
    refuses_or_imports(db, data, ".osm", lambda p: import_osm(db, p, no_progress))


@FUZZ
@given(data=raw_or_mangled(APPLICANTS))
def test_applicant_files(db: Connection, data: bytes) -> None:
    with db.cursor() as cur:
        cur.execute(
            "INSERT INTO admin_units (edition, level, code, name, name_folded, short_folded, "
            "geom) VALUES ('2019', 'ward', '26734', 'Phường Bến Nghé', 'phuong ben nghe', "
            "'ben nghe', "
            "ST_Multi(ST_MakeEnvelope(106.69, 10.77, 106.71, 10.79, 4326))) "
            "ON CONFLICT DO NOTHING"
        )
    made = create_round(
        db, name="Thử tệp / file fuzz", grade=1, school_year="2025-2026", wards=["26734"]
    )
    refuses_or_imports(
        db, data, ".csv", lambda p: import_applicants(db, made.round_id, p, b"k" * 32, no_progress)
    )
