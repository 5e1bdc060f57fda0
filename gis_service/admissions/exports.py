"""A run's assignments written out for officers: CSV and GeoJSON with homes (personal data)."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import ExitStack
from pathlib import Path
from typing import Any

from gis_service import audit
from gis_service.admissions.explain_vi import WHY_VI, explain_vi, metres
from gis_service.admissions.run_store import (
    EXPLANATION_COLUMNS,
    PassedOverColumns,
    stored_explanation,
)
from gis_service.db.connection import Connection
from gis_service.errors import NotFoundError
from gis_service.importers.eta import EtaTicker
from gis_service.importers.report import ProgressCallback, no_progress
from gis_service.safe_text import SpreadsheetSafeWriter


def export_run(
    conn: Connection,
    run_id: int,
    csv_path: Path | None,
    geojson_path: Path | None,
    *,
    gpkg_path: Path | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
    progress: ProgressCallback = no_progress,
) -> int:
    """Write a run's assignments with distances and explanations as CSV and/or GeoJSON.

    Children's data leaves the service here, so each export is audited in the caller's
    transaction (commit it for the entry to stay). The CSV opens in a spreadsheet as it is:
    UTF-8 with a byte-order mark, and no cell a spreadsheet would run as a formula.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run.mechanism, (SELECT count(*) FROM assignments x WHERE x.run_id = run.id), "
            "run.passed_kinds FROM allocation_runs run WHERE run.id = %s",
            (run_id,),
        )
        found = cur.fetchone()
        if found is None or not found[1]:
            raise NotFoundError(f"run {run_id} has no assignments")
        mechanism, count, kinds = str(found[0]), int(found[1]), found[2]
        # What each family ranked, for runs stored before explanations carried it.
        cur.execute(
            """
            SELECT a.applicant_id, a.preferences
            FROM allocation_runs run JOIN applications a ON a.round_id = run.round_id
            WHERE run.id = %s AND cardinality(a.preferences) > 0
            """,
            (run_id,),
        )
        ranked = {r[0]: list(r[1]) for r in cur.fetchall()}
        cur.execute("SELECT id, name, code FROM schools")
        schools = cur.fetchall()
        labels = {r[0]: school_label(r[1], r[2]) for r in schools}
        # A school passed over is named by its registry code in the CSV's list (by name
        # when it has none): the summary beside it names the first few in full.
        codes = {r[0]: r[2] or r[1] or "?" for r in schools}
    homes = geojson_path is not None or gpkg_path is not None
    passed_column = _PassedColumn(codes)
    audit.record(
        conn,
        actor=actor,
        action="run.export",
        target=f"run:{run_id}",
        detail={
            "formats": [
                name
                for name, path in zip(
                    ("csv", "geojson", "gpkg"), (csv_path, geojson_path, gpkg_path), strict=True
                )
                if path is not None
            ],
            "rows": count,
            # Home points are only in the GeoJSON and GeoPackage; the CSV holds none.
            "homes_included": homes,
        },
        remote_addr=remote_addr,
    )
    with ExitStack() as files:
        writer = None
        if csv_path is not None:
            handle = files.enter_context(csv_path.open("w", newline="", encoding="utf-8-sig"))
            writer = SpreadsheetSafeWriter(handle)
            writer.writerow(CSV_COLUMNS)
        geojson = None
        if geojson_path is not None:
            geojson = files.enter_context(geojson_path.open("w", encoding="utf-8"))
            geojson.write('{"type": "FeatureCollection", "features": [')
        packed: list[dict[str, Any]] = []
        # Rows stream from a server-side cursor and leave one by one: a city's run (over
        # 100,000 children, each with its explanation) is never held whole in memory.
        with conn.cursor(name=f"export_run_{run_id}") as rows:
            rows.itersize = 2000
            rows.execute(_ROWS, (run_id,))
            ticker = EtaTicker(
                progress, "xuất / exporting, trẻ / children", lambda: ticker.n / count
            )
            for n, row in enumerate(rows):
                ticker.tick()
                # Officers and parents read the same sentences: Vietnamese first, English
                # beside it, schools by name and code (never by database id).
                explanation = stored_explanation(row[10:], row[3], row[6], kinds)
                text = explain_vi(
                    explanation, mechanism, labels, ranked.get(row[0], []), brief=not homes
                )
                if writer is not None:
                    passed = passed_column(explanation.get("passed_over", []))
                    # The summary (the school given and why); each school passed over, with its
                    # distance and why, in the next column: a row a spreadsheet can show.
                    writer.writerow(
                        [row[0], row[9], *row[1:7], text["summary"], text["summary_en"], passed]
                    )
                if homes:
                    feature = {
                        "type": "Feature",
                        "geometry": {
                            "type": "Point",
                            "coordinates": [round(row[7], 6), round(row[8], 6)],
                        },
                        "properties": {
                            "applicant_id": row[0],
                            "home_unit": row[9],
                            "school_id": row[3],
                            "school_name": row[5],
                            "distance_m": row[6],
                            "reason": text["text"],
                            "reason_en": text["text_en"],
                            "explanation": {
                                **explanation,
                                "passed_over": list(explanation.get("passed_over", [])),
                                "reason": text["text_en"],
                            },
                        },
                    }
                    if geojson is not None:
                        geojson.write(("," if n else "") + json.dumps(feature, ensure_ascii=False))
                    if gpkg_path is not None:
                        packed.append(feature)
        ticker.done()
        if geojson is not None:
            geojson.write("]}")
        if gpkg_path is not None:
            _write_geopackage(gpkg_path, packed)
    return count


class _PassedColumn:
    """The schools a child passed over, in one cell, grouped by why, each by its registry code
    (its name when it has none) and distance: 'hết chỗ: TH0012 (820 m), TH0031 (1.240 m)'.
    Words and distances are made once per export (a city's run passes over 2,000,000)."""

    def __init__(self, codes: Mapping[int, str]) -> None:
        self._opening = {school: f"{code} (" for school, code in codes.items()}
        self._metres: dict[object, str] = {}

    def __call__(self, entries: Sequence[Mapping[str, Any]]) -> str:
        schools: Sequence[Any]
        costs: Sequence[Any]
        if isinstance(entries, PassedOverColumns):  # read from the stored columns, no dicts
            schools, costs, whys = entries.school_ids, entries.costs, entries.whys
        else:
            schools = [e.get("school_id") for e in entries]
            costs = [e.get("cost") for e in entries]
            whys = [str(e.get("why")) for e in entries]
        if not schools:
            return ""
        known, opening = self._metres, self._opening
        named = []
        for school, cost in zip(schools, costs, strict=True):
            distance = known.get(cost)
            if distance is None:
                distance = known[cost] = metres(cost)
            named.append(opening.get(school, "? (") + distance + ")")
        if whys.count(whys[0]) == len(whys):  # the usual case: every one full
            return f"{WHY_VI.get(whys[0], whys[0])}: " + ", ".join(named)
        groups: dict[str, list[str]] = {}
        for why, item in zip(whys, named, strict=True):
            groups.setdefault(why, []).append(item)
        return "; ".join(
            f"{WHY_VI.get(why, why)}: {', '.join(items)}" for why, items in groups.items()
        )


CSV_COLUMNS = [
    "applicant_id",
    "home_unit",
    "sibling_group",
    "priority_group",
    "school_id",
    "school_code",
    "school_name",
    "distance_m",
    "reason",
    "reason_en",
    "passed_over",
]

_ROWS = f"""
    SELECT x.applicant_id, a.sibling_group, a.priority_group, x.school_id, s.code,
           s.name, x.cost, ST_X(a.home), ST_Y(a.home), w.name, {EXPLANATION_COLUMNS}
    FROM assignments x
    JOIN allocation_runs run ON run.id = x.run_id
    JOIN applications a ON a.round_id = run.round_id AND a.applicant_id = x.applicant_id
    LEFT JOIN schools s ON s.id = x.school_id
    LEFT JOIN admin_units w ON w.id = a.ward_id
    WHERE x.run_id = %s ORDER BY x.applicant_id
"""


HOMES_WARNING = (
    "Tệp này chứa vị trí nhà chính xác của từng trẻ: dữ liệu cá nhân được pháp luật bảo vệ, "
    "không công bố, không gửi qua kênh không an toàn, xóa khi hết việc. / This file holds "
    "every child's exact home: personal data protected by law; never publish it, never send "
    "it over an unsafe channel, delete it when the work is done."
)
"""Said before a file with children's homes is written (GeoJSON, GeoPackage)."""


def _write_geopackage(path: Path, features: list[dict[str, Any]]) -> None:
    """The features as one GeoPackage layer `assignments` (EPSG:4326), explanation as JSON."""
    import geopandas as gpd
    import shapely

    records = []
    for feature in features:
        properties = dict(feature["properties"])
        properties["explanation"] = json.dumps(properties["explanation"], ensure_ascii=False)
        lon, lat = feature["geometry"]["coordinates"]
        properties["geometry"] = shapely.Point(lon, lat)
        records.append(properties)
    frame = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")
    frame.to_file(path, layer="assignments", driver="GPKG")


def school_label(name: str | None, code: str | None) -> str:
    """A school as officers find it in the registry: its name and its official code."""
    label = name or "?"
    return f"{label} (mã {code})" if code else label
