"""A run's assignments written out for officers: CSV and GeoJSON with homes (personal data)."""

from __future__ import annotations

import json
from pathlib import Path

from gis_service import audit
from gis_service.db.connection import Connection
from gis_service.errors import NotFoundError
from gis_service.safe_text import SpreadsheetSafeWriter


def export_run(
    conn: Connection,
    run_id: int,
    csv_path: Path | None,
    geojson_path: Path | None,
    *,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
) -> int:
    """Write a run's assignments with distances and explanations as CSV and/or GeoJSON.

    Children's data leaves the service here, so each export is audited in the caller's
    transaction (commit it for the entry to stay). The CSV opens in a spreadsheet as it is:
    UTF-8 with a byte-order mark, and no cell a spreadsheet would run as a formula.
    """
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT x.applicant_id, a.sibling_group, a.priority_group, x.school_id, s.code,
                   s.name, x.cost, x.explanation->>'reason', x.explanation,
                   ST_X(a.home), ST_Y(a.home), w.name
            FROM assignments x
            JOIN allocation_runs run ON run.id = x.run_id
            JOIN applications a ON a.round_id = run.round_id AND a.applicant_id = x.applicant_id
            LEFT JOIN schools s ON s.id = x.school_id
            LEFT JOIN admin_units w ON w.id = a.ward_id
            WHERE x.run_id = %s ORDER BY x.applicant_id
            """,
            (run_id,),
        )
        rows = cur.fetchall()
    if not rows:
        raise NotFoundError(f"run {run_id} has no assignments")
    written = {"csv": csv_path, "geojson": geojson_path}
    audit.record(
        conn,
        actor=actor,
        action="run.export",
        target=f"run:{run_id}",
        detail={
            "formats": [name for name, path in written.items() if path is not None],
            "rows": len(rows),
            # Home points are only in the GeoJSON; the CSV holds the rest of each child's row.
            "homes_included": geojson_path is not None,
        },
        remote_addr=remote_addr,
    )
    if csv_path is not None:
        with csv_path.open("w", newline="", encoding="utf-8-sig") as handle:
            writer = SpreadsheetSafeWriter(handle)
            writer.writerow(
                [
                    "applicant_id",
                    "home_unit",
                    "sibling_group",
                    "priority_group",
                    "school_id",
                    "school_code",
                    "school_name",
                    "distance_m",
                    "reason",
                    "passed_over",
                ]
            )
            for row in rows:
                passed = "; ".join(
                    f"{p['school_id']} ({p['cost']} m): {p['why']}"
                    for p in row[8].get("passed_over", [])
                )
                writer.writerow([row[0], row[11], *row[1:8], passed])
    if geojson_path is not None:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(row[9], 6), round(row[10], 6)]},
                "properties": {
                    "applicant_id": row[0],
                    "home_unit": row[11],
                    "school_id": row[3],
                    "school_name": row[5],
                    "distance_m": row[6],
                    "explanation": row[8],
                },
            }
            for row in rows
        ]
        geojson_path.write_text(
            json.dumps({"type": "FeatureCollection", "features": features}, ensure_ascii=False),
            encoding="utf-8",
        )
    return len(rows)
