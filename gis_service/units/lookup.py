"""Find units: the unit of each edition a point falls in, and the units a written name means."""

from __future__ import annotations

import re
from dataclasses import dataclass

from gis_service.db.connection import Connection
from gis_service.units.editions import UNIT_TYPES_VI, short_folded, unit_type_of

_CODE = re.compile(r"^\d{1,6}$")


@dataclass(frozen=True)
class UnitRef:
    """A commune-level unit of one edition, with the district above it (2019 edition)."""

    id: int
    edition: str
    code: str
    name: str
    unit_type: str | None
    district_name: str | None = None

    @property
    def label(self) -> str:
        """The name a person reads: 'Phường Sài Gòn', 'Ben Nghe (District 1)'."""
        name = self.name
        kind = UNIT_TYPES_VI.get(self.unit_type or "")
        if kind and unit_type_of(name, "ward") is None:
            name = f"{kind} {name}"
        return f"{name} ({self.district_name})" if self.district_name else name


_SELECT = """
    SELECT w.id, w.edition, w.code, w.name, w.unit_type,
           CASE WHEN d.level = 'district' THEN d.name END
    FROM admin_units w LEFT JOIN admin_units d ON d.id = w.parent_id
"""


def _ref(row: tuple[object, ...]) -> UnitRef:
    return UnitRef(
        int(row[0]),  # type: ignore[call-overload]
        str(row[1]),
        str(row[2]),
        str(row[3]),
        None if row[4] is None else str(row[4]),
        None if row[5] is None else str(row[5]),
    )


def units_at(conn: Connection, lon: float, lat: float) -> dict[str, UnitRef]:
    """The commune-level unit of every loaded edition that covers the point, by edition."""
    with conn.cursor() as cur:
        cur.execute(
            _SELECT + " WHERE w.level = 'ward' "
            "AND ST_Covers(w.geom, ST_SetSRID(ST_MakePoint(%s, %s), 4326)) "
            "ORDER BY w.edition, w.id",
            (lon, lat),
        )
        found: dict[str, UnitRef] = {}
        for row in cur.fetchall():
            found.setdefault(str(row[1]), _ref(row))
    return found


def unit_at(conn: Connection, lon: float, lat: float, edition: str) -> UnitRef | None:
    """The commune-level unit of the edition that covers the point, if any."""
    return units_at(conn, lon, lat).get(edition)


def units_by_id(conn: Connection, ids: list[int]) -> dict[int, UnitRef]:
    """Units by id."""
    with conn.cursor() as cur:
        cur.execute(_SELECT + " WHERE w.id = ANY(%s)", (list(ids),))
        return {int(row[0]): _ref(row) for row in cur.fetchall()}


def resolve_unit(conn: Connection, written: str) -> list[UnitRef]:
    """The commune-level units, of any edition, that a written unit may mean: its code
    ('26740'), or its name with or without type and diacritics ('Phường Sài Gòn', 'phuong ben
    nghe', 'Bến Nghé, Quận 1'). A district written after a comma narrows 2019 units to it.
    Newest edition first; empty when nothing matches."""
    text = written.strip()
    if not text:
        return []
    if _CODE.match(text):
        with conn.cursor() as cur:
            cur.execute(
                _SELECT + " WHERE w.level = 'ward' AND (w.code = %s OR w.code = lpad(%s, 5, '0'))"
                " ORDER BY w.edition DESC, w.id",
                (text, text),
            )
            return [_ref(row) for row in cur.fetchall()]
    head, _, rest = text.partition(",")
    district = short_folded(rest.split(",")[0]) if rest.strip() else None
    with conn.cursor() as cur:
        cur.execute(
            _SELECT + " WHERE w.level = 'ward' AND w.short_folded = %(name)s"
            " AND (%(district)s::text IS NULL OR d.level <> 'district'"
            "      OR d.short_folded = %(district)s)"
            " ORDER BY w.edition DESC, w.id",
            {"name": short_folded(head), "district": district},
        )
        return [_ref(row) for row in cur.fetchall()]
