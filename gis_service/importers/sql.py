"""SQL steps shared by several importers."""

from __future__ import annotations

from gis_service.db.connection import Connection
from gis_service.units.editions import current_edition

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
    """Set every school's ward to the unit of the current edition whose polygon covers it;
    return how many have one."""
    with conn.cursor() as cur:
        cur.execute(_ASSIGN_SCHOOL_WARDS, {"edition": current_edition(conn)})
        cur.execute("SELECT count(*) FROM schools WHERE ward_id IS NOT NULL")
        row = cur.fetchone()
    return int(row[0]) if row else 0
