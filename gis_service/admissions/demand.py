"""Applicants, placements and seats per unit of a round's edition, for the officer's map."""

from __future__ import annotations

from typing import Any

from gis_service.admissions.disclosure import hide_small_groups
from gis_service.admissions.rounds import Round
from gis_service.db.connection import Connection
from gis_service.units.editions import UNIT_TYPES_VI


def demand_by_unit(
    conn: Connection, the_round: Round, run: int | None, norm_m: int
) -> list[dict[str, Any]]:
    """One GeoJSON feature per unit of the round's area (and any other unit an application's
    home fell in): eligible and rejected applications, placed and beyond the distance norm in
    `run`, classes and seats of the grade; counts under the smallest group hidden."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.id, w.code, w.name, w.unit_type, d.name,
                   ST_AsGeoJSON(ST_Simplify(w.geom, 0.0002), 6)::json,
                   count(a.id) FILTER (WHERE a.status = 'eligible'),
                   count(a.id) FILTER (WHERE a.status = 'rejected'),
                   count(x.applicant_id) FILTER (WHERE x.school_id IS NOT NULL),
                   count(x.applicant_id) FILTER (WHERE x.cost > %(norm)s)
            FROM admin_units w
            LEFT JOIN admin_units d ON d.id = w.parent_id AND d.level = 'district'
            LEFT JOIN applications a ON a.ward_id = w.id AND a.round_id = %(round)s
            LEFT JOIN assignments x ON x.applicant_id = a.applicant_id AND x.run_id = %(run)s
            WHERE w.level = 'ward' AND w.edition = %(edition)s
              AND (w.id = ANY(%(units)s) OR a.id IS NOT NULL)
            GROUP BY w.id, d.name ORDER BY w.name, w.code
            """,
            {
                "round": the_round.round_id,
                "run": run,
                "units": list(the_round.area_unit_ids),
                "edition": the_round.edition,
                "norm": norm_m,
            },
        )
        rows = cur.fetchall()
        cur.execute(
            """
            SELECT w.id, sum(g.classes), sum(g.classes * g.class_size)
            FROM schools s JOIN school_grades g ON g.school_id = s.id AND g.grade = %s
            JOIN admin_units w ON w.level = 'ward' AND w.edition = %s AND ST_Covers(w.geom, s.geom)
            WHERE g.classes > 0 GROUP BY w.id
            """,
            (the_round.grade, the_round.edition),
        )
        seats = {int(unit): (int(c), int(n)) for unit, c, n in cur.fetchall()}
    area = set(the_round.area_unit_ids)
    features = []
    for unit_id, code, name, kind, district, geometry, eligible, rejected, placed, beyond in rows:
        counts = hide_small_groups(
            {"eligible": eligible, "rejected": rejected}
            | ({"placed": placed, "beyond_norm": beyond} if run is not None else {}),
            nested=(("eligible", "placed"), ("placed", "beyond_norm")),
        )
        features.append(
            {
                "type": "Feature",
                "geometry": geometry,
                "properties": {
                    "ward": code,
                    "name": name,
                    "unit_type": kind,
                    "unit_type_vi": UNIT_TYPES_VI.get(kind or ""),
                    "district": district,
                    "edition": the_round.edition,
                    "in_area": unit_id in area,
                    "placed": None,
                    "beyond_norm": None,
                    **counts,
                    "classes": seats.get(unit_id, (0, 0))[0],
                    "seats": seats.get(unit_id, (0, 0))[1],
                },
            }
        )
    return features


DEMAND_COLUMNS = (
    "ward",
    "name",
    "unit_type_vi",
    "district",
    "edition",
    "in_area",
    "eligible",
    "rejected",
    "placed",
    "beyond_norm",
    "classes",
    "seats",
)


def demand_layer(round_id: int, run: int | None) -> str:
    """'nhu_cau_dot7_lan12': the round's demand (of a run), as a layer and file name."""
    return f"nhu_cau_dot{round_id}" + (f"_lan{run}" if run is not None else "")


def demand_geopackage(features: list[dict[str, Any]], round_id: int, run: int | None) -> bytes:
    """The aggregated counts per unit (those of `demand_by_unit`, small groups already hidden)
    as a GeoPackage layer, for a GIS: no child and no home in it."""
    import shapely
    import shapely.geometry

    from gis_service.open_data import rows_geopackage

    def multi(geometry: dict[str, Any] | None) -> bytes | None:
        if geometry is None:
            return None
        shape = shapely.geometry.shape(geometry)
        if isinstance(shape, shapely.Polygon):
            shape = shapely.MultiPolygon([shape])
        return bytes(shapely.to_wkb(shape))

    rows = [f["properties"] for f in features]
    shapes = [multi(f["geometry"]) for f in features]
    return rows_geopackage(
        demand_layer(round_id, run), DEMAND_COLUMNS, rows, shapes, "MultiPolygon"
    )
