"""The unit of residence a parent's records state, checked against the unit the home is in.

A stated unit may be written as in the records: a 2019 or a 2025 name (with or without its
type and diacritics) or a code. It is never a reason to accept or reject an application by
itself: a mismatch is listed for the officer, with both names, to settle before the lock."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from typing import Any

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.units.lookup import UnitRef, resolve_unit

MATCH, MISMATCH, UNKNOWN_UNIT = "match", "mismatch", "unknown_unit"
MAX_STATED_LENGTH = 200
NEAR_BOUNDARY_M = 50
"""A home outside its stated unit by less than this lies on or beside the boundary (in
Vietnamese cities often the street itself): still a mismatch for the officer, listed apart
from the ones farther away."""


@dataclass(frozen=True)
class ResidenceCheck:
    """What the application states, the unit it was read as, and how it compares."""

    stated: str | None = None
    stated_unit_id: int | None = None
    check: str | None = None
    distance_m: float | None = None
    """How far the home lies outside the stated unit (0: inside); None for no known unit."""


def clean_stated_unit(value: str | None) -> str | None:
    """The stated unit as stored (trimmed; None when empty), or an error when it cannot be."""
    if value is None:
        return None
    text = " ".join(str(value).split())
    if not text:
        return None
    if len(text) > MAX_STATED_LENGTH or any(ord(ch) < 32 for ch in str(value).strip("\r\n")):
        raise InvalidRequestError(
            f"Đơn vị cư trú ghi tối đa {MAX_STATED_LENGTH} ký tự, không có ký tự điều khiển / "
            f"the stated unit of residence is at most {MAX_STATED_LENGTH} characters of text"
        )
    return text


class ResidenceChecker:
    """Checks stated units against homes; remembers what each written unit resolved to, so a
    file of many rows reads each distinct unit once."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._resolved: dict[str, list[UnitRef]] = {}

    def check(self, stated: str | None, lon: float, lat: float) -> ResidenceCheck:
        text = clean_stated_unit(stated)
        if text is None:
            return ResidenceCheck()
        if text not in self._resolved:
            self._resolved[text] = resolve_unit(self._conn, text)
        candidates = self._resolved[text]
        if not candidates:
            return ResidenceCheck(text, None, UNKNOWN_UNIT)
        # One query: how far the home lies from each unit the text may mean (0 inside).
        with self._conn.cursor() as cur:
            cur.execute(
                """
                SELECT u.id, CASE WHEN ST_Covers(u.geom, p.pt) THEN 0
                                  ELSE ST_Distance(u.geom::geography, p.pt::geography) END
                FROM admin_units u, (SELECT ST_SetSRID(ST_MakePoint(%s, %s), 4326) AS pt) p
                WHERE u.id = ANY(%s)
                """,
                (lon, lat, [unit.id for unit in candidates]),
            )
            distance = {int(unit_id): float(metres) for unit_id, metres in cur.fetchall()}
        nearest = min(candidates, key=lambda unit: distance.get(unit.id, float("inf")))
        metres = round(distance.get(nearest.id, float("inf")), 1)
        check = MATCH if metres == 0 else MISMATCH
        return ResidenceCheck(text, nearest.id, check, metres)


def check_residence(conn: Connection, stated: str | None, lon: float, lat: float) -> ResidenceCheck:
    """One application's stated unit against its home."""
    return ResidenceChecker(conn).check(stated, lon, lat)


def residence_report(conn: Connection, round_id: int) -> dict[str, Any]:
    """Every application of the round whose stated unit differs from its home's unit (or names
    no known unit), with both names and how far the home lies outside the stated unit (those
    farthest first; unknown units before all), and the count per unit of the round's area."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT a.id, a.residence_check, a.stated_unit, s.edition, s.code, s.name,
                   sd.name, h.code, h.name, hd.name, w.code, w.name, a.stated_unit_distance_m
            FROM applications a
            JOIN rounds r ON r.id = a.round_id
            LEFT JOIN admin_units s ON s.id = a.stated_unit_id
            LEFT JOIN admin_units sd ON sd.id = s.parent_id AND sd.level = 'district'
            LEFT JOIN LATERAL (
                SELECT u.id, u.code, u.name, u.parent_id FROM admin_units u
                WHERE u.level = 'ward' AND u.edition = COALESCE(s.edition, r.edition)
                  AND ST_Covers(u.geom, a.home)
                ORDER BY u.id LIMIT 1) h ON true
            LEFT JOIN admin_units hd ON hd.id = h.parent_id AND hd.level = 'district'
            LEFT JOIN admin_units w ON w.id = a.ward_id
            WHERE a.round_id = %s AND a.residence_check IN ('mismatch', 'unknown_unit')
              AND a.status <> 'withdrawn'
            ORDER BY a.stated_unit_distance_m DESC NULLS FIRST, a.id
            """,
            (round_id,),
        )
        rows = cur.fetchall()
        cur.execute(
            "SELECT count(*) FILTER (WHERE residence_check IS NOT NULL), "
            "count(*) FILTER (WHERE residence_check = 'match') FROM applications "
            "WHERE round_id = %s AND status <> 'withdrawn'",
            (round_id,),
        )
        stated_total, matched = cur.fetchone()  # type: ignore[misc]
    items = []
    per_unit: Counter[tuple[str | None, str]] = Counter()
    for row in rows:
        (app_id, check, stated, s_ed, s_code, s_name, s_dist) = row[:7]
        (h_code, h_name, h_dist, w_code, w_name, metres) = row[7:]
        items.append(
            {
                "application_id": app_id,
                "check": check,
                "stated": stated,
                "stated_unit": None
                if s_code is None
                else {"edition": s_ed, "code": s_code, "name": s_name, "district": s_dist},
                "home_unit": None
                if h_code is None
                else {"edition": s_ed, "code": h_code, "name": h_name, "district": h_dist},
                "home_unit_in_round": None if w_code is None else {"code": w_code, "name": w_name},
                "distance_m": None if metres is None else round(float(metres)),
                "near_boundary": metres is not None and float(metres) < NEAR_BOUNDARY_M,
            }
        )
        per_unit[(w_name, check)] += 1
    units: dict[str, dict[str, int]] = {}
    for (name, check), n in sorted(per_unit.items(), key=lambda kv: (kv[0][0] or "", kv[0][1])):
        units.setdefault(name or "(ngoài các đơn vị / outside every unit)", {})[check] = n
    return {
        "round_id": round_id,
        "stated": int(stated_total),
        "matched": int(matched),
        "mismatched": sum(1 for i in items if i["check"] == MISMATCH),
        "near_boundary": sum(1 for i in items if i["near_boundary"]),
        "near_boundary_m": NEAR_BOUNDARY_M,
        "unknown_unit": sum(1 for i in items if i["check"] == UNKNOWN_UNIT),
        "by_unit": units,
        "items": items,
    }
