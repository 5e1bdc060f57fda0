"""SQL steps shared by several importers."""

from __future__ import annotations

from gis_service.db.connection import Connection
from gis_service.units.editions import current_edition

# A join, not a lookup per school: the planner then walks a spatial index instead of testing
# every school against every ward polygon (seconds for a city, against milliseconds).
_ASSIGN_SCHOOL_WARDS = """
UPDATE schools s
SET ward_id = w.ward_id
FROM (
    SELECT s2.id AS school_id, placed.ward_id
    FROM schools s2
    LEFT JOIN (
        SELECT DISTINCT ON (s3.id) s3.id AS school_id, a.id AS ward_id
        FROM schools s3
        JOIN admin_units a ON ST_Covers(a.geom, s3.geom)
        WHERE a.level = 'ward' AND a.edition = %(edition)s
        ORDER BY s3.id, a.id
    ) placed ON placed.school_id = s2.id
) w
WHERE s.id = w.school_id AND s.ward_id IS DISTINCT FROM w.ward_id
"""


def assign_school_wards(conn: Connection) -> int:
    """Set every school's ward to the unit of the current edition whose polygon covers it;
    return how many have one."""
    with conn.cursor() as cur:
        cur.execute(_ASSIGN_SCHOOL_WARDS, {"edition": current_edition(conn)})
        cur.execute("SELECT count(*) FROM schools WHERE ward_id IS NOT NULL")
        row = cur.fetchone()
    return int(row[0]) if row else 0
