"""How much of each unit the census units with figures cover (from the last crosswalk)."""

from __future__ import annotations

from gis_service.db.connection import Connection
from gis_service.units.editions import EDITION_2019

NO_CENSUS_VI = "không có số liệu điều tra dân số 2019"
NO_CENSUS_EN = "no 2019 census figures"


def census_coverage(conn: Connection, edition: str) -> dict[int, float]:
    """Each commune-level unit's share of area covered by 2019 census units with population,
    by unit id. The 2019 edition's own wards are covered where they have population; a unit
    of another edition is absent when no crosswalk has been made to it."""
    with conn.cursor() as cur:
        if edition == EDITION_2019:
            cur.execute(
                """
                SELECT w.id, CASE WHEN EXISTS (SELECT 1 FROM admin_population p
                                              WHERE p.admin_unit_id = w.id) THEN 1.0 ELSE 0.0 END
                FROM admin_units w WHERE w.edition = %s AND w.level = 'ward'
                """,
                (edition,),
            )
        else:
            cur.execute(
                """
                SELECT c.unit_id, c.covered_share FROM unit_coverage c
                JOIN unit_crosswalks x ON x.id = c.crosswalk_id
                WHERE x.from_edition = %s AND x.to_edition = %s
                """,
                (EDITION_2019, edition),
            )
        return {int(unit_id): float(share) for unit_id, share in cur.fetchall()}
