"""The editions of administrative units and the words for their units, defined once.

The 2019 edition holds the census units (province > district > ward) the statistics come in;
the 2025 edition the two-tier units in force since 1 July 2025 (province > commune, ward or
special zone), which run admissions. Both live side by side in `admin_units`."""

from __future__ import annotations

from dataclasses import dataclass

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.text import fold_text

EDITION_2019 = "2019"
EDITION_2025 = "2025"
EDITIONS = (EDITION_2019, EDITION_2025)

PROVINCE, DISTRICT, WARD = "province", "district", "ward"
"""Levels. 'ward' is every commune-level unit (phường, xã, thị trấn, đặc khu) of an edition."""

LEVELS_OF = {EDITION_2019: (PROVINCE, DISTRICT, WARD), EDITION_2025: (PROVINCE, WARD)}

UNIT_TYPES_VI = {
    "tinh": "Tỉnh",
    "thanh_pho_tw": "Thành phố",
    "quan": "Quận",
    "huyen": "Huyện",
    "thi_xa": "Thị xã",
    "thanh_pho": "Thành phố",
    "phuong": "Phường",
    "xa": "Xã",
    "thi_tran": "Thị trấn",
    "dac_khu": "Đặc khu",
}
"""Unit types (as stored) and their Vietnamese words."""

# Folded name prefixes and the type they announce, longest first.
_PREFIX_TYPES = (
    ("thanh pho", None),  # a province-level city or a district-level one: depends on the level
    ("thi tran", "thi_tran"),
    ("township", "thi_tran"),
    ("dac khu", "dac_khu"),
    ("district", "quan"),
    ("commune", "xa"),
    ("thi xa", "thi_xa"),
    ("phuong", "phuong"),
    ("huyen", "huyen"),
    ("quan", "quan"),
    ("ward", "phuong"),
    ("tinh", "tinh"),
    ("xa", "xa"),
)


def unit_type_of(name: str, level: str) -> str | None:
    """The type a unit's full name announces: 'Phường Sài Gòn' -> 'phuong'; None if none."""
    folded = fold_text(name)
    for prefix, kind in _PREFIX_TYPES:
        if folded.startswith(prefix + " "):
            if kind is None:
                return "thanh_pho_tw" if level == PROVINCE else "thanh_pho"
            return kind
    return None


def short_folded(name: str) -> str:
    """A unit's name without its type, folded: 'Phường 01' -> '1', 'Xã Nhà Bè' -> 'nha be'."""
    folded = fold_text(name)
    for prefix, _ in _PREFIX_TYPES:
        if folded.startswith(prefix + " "):
            folded = folded[len(prefix) + 1 :]
            break
    return " ".join(w.lstrip("0") or "0" if w.isdigit() else w for w in folded.split())


@dataclass(frozen=True)
class Edition:
    """One edition as stored."""

    edition: str
    name: str
    valid_from: str
    valid_to: str | None
    levels: tuple[str, ...]
    wards: int
    """How many commune-level units of this edition are loaded."""


def list_editions(conn: Connection) -> list[Edition]:
    """Every edition, oldest first, with how many commune-level units of each are loaded."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT e.edition, e.name, e.valid_from::text, e.valid_to::text, e.levels,
                   (SELECT count(*) FROM admin_units u
                    WHERE u.edition = e.edition AND u.level = 'ward')
            FROM unit_editions e ORDER BY e.valid_from
            """
        )
        return [
            Edition(row[0], row[1], row[2], row[3], tuple(row[4]), int(row[5]))
            for row in cur.fetchall()
        ]


def current_edition(conn: Connection) -> str:
    """The edition everything reads by default: the newest one in force with units loaded
    (the 2019 edition when no unit is loaded at all)."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT e.edition FROM unit_editions e
            WHERE e.valid_from <= current_date
              AND EXISTS (SELECT 1 FROM admin_units u
                          WHERE u.edition = e.edition AND u.level = 'ward')
            ORDER BY e.valid_from DESC LIMIT 1
            """
        )
        row = cur.fetchone()
    return str(row[0]) if row else EDITION_2019


def check_edition(edition: str) -> str:
    """The edition, or an error naming the ones that exist."""
    value = str(edition).strip()
    if value not in EDITIONS:
        raise InvalidRequestError(
            f"Không có bộ đơn vị hành chính {edition!r}; có {', '.join(EDITIONS)} / "
            f"no unit edition {edition!r}; editions are {', '.join(EDITIONS)}"
        )
    return value


def edition_or_current(conn: Connection, edition: str | None) -> str:
    """The edition asked for, else the current one."""
    return check_edition(edition) if edition else current_edition(conn)
