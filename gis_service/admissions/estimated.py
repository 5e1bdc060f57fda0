"""What a run estimated: children whose homes, and schools that, lie beyond the mapped roads."""

from __future__ import annotations

from typing import Any

from gis_service.db.connection import Connection


def estimated_homes(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """Each application of the run whose home lies beyond the mapped roads, with how far it is
    from the nearest one, its unit, and the school and estimated distance it was given; or
    whose school given, or every school, lies beyond the distance fields' radius by road
    (`beyond_radius_m`, None for the others)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.id, w.name, (x.explanation->'estimated'->>'offset_m')::float,
                   (x.explanation->'estimated'->>'factor')::float, s.code, s.name, x.cost,
                   (x.explanation->'estimated'->>'beyond_radius_m')::float
            FROM assignments x
            JOIN allocation_runs run ON run.id = x.run_id
            JOIN applications a ON a.round_id = run.round_id AND a.applicant_id = x.applicant_id
            LEFT JOIN admin_units w ON w.id = a.ward_id
            LEFT JOIN schools s ON s.id = x.school_id
            WHERE x.run_id = %s AND x.explanation ? 'estimated'
            ORDER BY 3 DESC, a.id
            """,
            (run_id,),
        )
        return [
            {
                "application_id": int(app),
                "home_unit": unit,
                "road_offset_m": round(offset),
                "detour": factor,
                "school_code": code,
                "school_name": name,
                "distance_m": cost,
                "beyond_radius_m": radius,
            }
            for app, unit, offset, factor, code, name, cost, radius in cur.fetchall()
        ]


def estimated_schools(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    """Each school of the run beyond the mapped roads, with how far it is from the nearest one
    and how many children the run placed there (their distances are estimated)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT s.id, s.code, s.name, far.offset_m::float,
                   (SELECT count(*) FROM assignments x
                    WHERE x.run_id = run.id AND x.school_id = s.id)
            FROM allocation_runs run
            CROSS JOIN LATERAL jsonb_each_text(
                coalesce(run.parameters->'estimated_schools', '{}'::jsonb)) AS far(id, offset_m)
            JOIN schools s ON s.id = far.id::int
            WHERE run.id = %s
            ORDER BY 4 DESC, s.id
            """,
            (run_id,),
        )
        return [
            {
                "school_id": int(school),
                "school_code": code,
                "school_name": name,
                "road_offset_m": round(offset),
                "placed": int(placed),
            }
            for school, code, name, offset, placed in cur.fetchall()
        ]
