"""A run's assignments written out for officers: CSV and GeoJSON with homes (personal data)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from gis_service.db.connection import Connection
from gis_service.errors import NotFoundError


def export_run(
    conn: Connection, run_id: int, csv_path: Path | None, geojson_path: Path | None
) -> int:
    """Write a run's assignments with distances and explanations as CSV and/or GeoJSON."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT x.applicant_id, p.sibling_group, p.priority_group, x.school_id, s.code,
                   s.name, x.cost, x.explanation->>'reason', x.explanation,
                   ST_X(p.home), ST_Y(p.home)
            FROM assignments x JOIN applicants p ON p.id = x.applicant_id
            LEFT JOIN schools s ON s.id = x.school_id
            WHERE x.run_id = %s ORDER BY x.applicant_id
            """,
            (run_id,),
        )
        rows = cur.fetchall()
    if not rows:
        raise NotFoundError(f"run {run_id} has no assignments")
    if csv_path is not None:
        with csv_path.open("w", newline="", encoding="utf-8") as handle:
            writer = csv.writer(handle)
            writer.writerow(
                [
                    "applicant_id",
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
                writer.writerow([*row[:8], passed])
    if geojson_path is not None:
        features = [
            {
                "type": "Feature",
                "geometry": {"type": "Point", "coordinates": [round(row[9], 6), round(row[10], 6)]},
                "properties": {
                    "applicant_id": row[0],
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
