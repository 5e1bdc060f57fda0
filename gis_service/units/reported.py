"""Import the child counts units report themselves (children by birth year) and read them back."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from psycopg2.extras import execute_values

from gis_service.db.connection import Connection, savepoint
from gis_service.errors import ImportFileError
from gis_service.importers.csvfile import iter_csv_rows, scan_csv
from gis_service.importers.report import ImportReport, ProgressCallback, print_progress
from gis_service.units.editions import edition_or_current, short_folded, unit_type_of

COLUMNS = {
    "unit_code": ("unit_code", "ma_don_vi"),
    "unit_name": ("unit_name", "ten_don_vi"),
    "birth_year": ("birth_year", "nam_sinh"),
    "children": ("children", "so_tre"),
}
"""Each column the file may have, with the names it may go by (English or Vietnamese)."""

FIRST_BIRTH_YEAR = 1990
MAX_CHILDREN = 100_000
"""More children of one birth year than this in one unit is a typing slip (the largest wards
have a few thousand)."""
MAX_LISTED = 200
"""Bad lines named one by one in an error; more are counted."""


_Problem = tuple[str, str]
"""What is wrong with a line: in Vietnamese, in English."""


@dataclass(frozen=True)
class ReportedChildren:
    """Children of one birth year a unit reported."""

    unit_id: int
    edition: str
    code: str
    name: str
    birth_year: int
    children: int
    source: str | None


@dataclass(frozen=True)
class _Unit:
    id: int
    code: str
    name: str
    short: str
    unit_type: str | None
    district: str | None
    """The folded short name of the district above it (2019 edition)."""


def _columns(path: Path, header: list[str]) -> dict[str, str]:
    """The file's column for each of COLUMNS that it has; raises when one it needs is missing."""
    cleaned = {h.strip().lower(): h for h in header}
    found = {}
    for key, names in COLUMNS.items():
        for name in names:
            if name in cleaned:
                found[key] = cleaned[name]
                break
    missing = [k for k in ("birth_year", "children") if k not in found]
    if "unit_code" not in found and "unit_name" not in found:
        missing.insert(0, "unit_code (or unit_name)")
    if missing:
        raise ImportFileError(
            path,
            f"thiếu cột {', '.join(missing)} / missing column(s) {', '.join(missing)}; "
            f"the file has: {', '.join(header[:15])}",
        )
    return found


def _units(conn: Connection, edition: str) -> list[_Unit]:
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT w.id, w.code, w.name, w.short_folded, w.unit_type,
                   CASE WHEN d.level = 'district' THEN d.short_folded END
            FROM admin_units w LEFT JOIN admin_units d ON d.id = w.parent_id
            WHERE w.edition = %s AND w.level = 'ward'
            """,
            (edition,),
        )
        return [_Unit(int(r[0]), r[1], r[2], r[3], r[4], r[5]) for r in cur.fetchall()]


class _Matcher:
    """Finds the unit a line names, by code or by name, among one edition's units."""

    def __init__(self, units: list[_Unit], edition: str) -> None:
        self.edition = edition
        self.by_code = {u.code: u for u in units}
        self.by_short: dict[str, list[_Unit]] = defaultdict(list)
        for u in units:
            self.by_short[u.short].append(u)

    def by_name(self, written: str) -> list[_Unit]:
        """Units a written name may mean: 'Phường Sài Gòn', 'sai gon', 'Phường 1, Quận 3'."""
        head, _, rest = written.partition(",")
        found = self.by_short.get(short_folded(head), [])
        kind = unit_type_of(head.strip(), "ward")
        if kind:
            found = [u for u in found if u.unit_type in (kind, None)]
        district = short_folded(rest.split(",")[0]) if rest.strip() else None
        if district:
            found = [u for u in found if u.district in (district, None)]
        return found

    def find(self, code: str, name: str) -> _Unit | _Problem:
        """The unit, or what is wrong."""
        if code:
            unit = self.by_code.get(code)
            if unit is None and code.isdigit():
                unit = self.by_code.get(code.zfill(5))
            if unit is None:
                return (
                    f"không có đơn vị mã {code} trong bộ {self.edition}",
                    f"no unit has code {code} in the {self.edition} edition",
                )
            if name and unit not in self.by_name(name):
                return (
                    f"mã {code} là {unit.name}, không phải {name!r}",
                    f"code {code} is {unit.name}, not {name!r}",
                )
            return unit
        if not name:
            return ("thiếu mã và tên đơn vị", "unit_code and unit_name are both empty")
        found = self.by_name(name)
        if not found:
            return (
                f"không có đơn vị tên {name!r} trong bộ {self.edition}",
                f"no unit is called {name!r} in the {self.edition} edition",
            )
        if len(found) > 1:
            listed = ", ".join(f"{u.name} ({u.code})" for u in found[:5])
            return (
                f"tên {name!r} chỉ {len(found)} đơn vị ({listed}); hãy ghi mã đơn vị",
                f"{len(found)} units are called {name!r} ({listed}); give unit_code",
            )
        return found[0]


def _whole_number(text: str, column: str, low: int, high: int) -> int | _Problem:
    """An integer in [low, high] written plainly ('12', '12.0'), or what is wrong."""
    cleaned = text.strip()
    try:
        number = float(cleaned)
    except ValueError:
        number = float("nan")
    if not number.is_integer():
        return (
            f"{column} là {text!r}, không phải số nguyên",
            f"{column} is {text!r}, not a whole number",
        )
    value = int(number)
    if not low <= value <= high:
        return (
            f"{column} là {value}, ngoài khoảng {low}–{high}",
            f"{column} is {value}, outside {low}–{high}",
        )
    return value


def import_reported_children(
    conn: Connection,
    path: Path,
    edition: str | None = None,
    progress: ProgressCallback = print_progress,
) -> ImportReport:
    """Upsert the children by birth year that units report, from a CSV with columns
    unit_code (or unit_name), birth_year and children; units are matched among the commune-
    level units of `edition` (default: the current one). All or nothing: every bad line is
    named in the error."""
    report = ImportReport("reported children", str(path))
    edition = edition_or_current(conn, edition)
    header: list[str] = []

    def keep_header(found: list[str]) -> None:
        header.extend(found)
        _columns(path, found)

    progress(f"reading {path}")
    scan_csv(path, keep_header)
    columns = _columns(path, header)
    units = _units(conn, edition)
    if not units:
        raise ImportFileError(
            path,
            f"chưa nạp đơn vị cấp xã nào của bộ {edition} / no commune-level units of the "
            f"{edition} edition are loaded; import them first (schoolmap import wards … "
            f"--edition {edition})",
        )
    matcher = _Matcher(units, edition)
    last_year = dt.date.today().year
    errors: list[str] = []
    rows: dict[tuple[int, int], tuple[int, int]] = {}
    for line, row in iter_csv_rows(path):
        code = row.get(columns.get("unit_code", ""), "").strip()
        name = row.get(columns.get("unit_name", ""), "").strip()
        problems: list[_Problem] = []
        unit = matcher.find(code, name)
        if isinstance(unit, tuple):
            problems.append(unit)
        year = _whole_number(row[columns["birth_year"]], "birth_year", FIRST_BIRTH_YEAR, last_year)
        if isinstance(year, tuple):
            problems.append(year)
        children = _whole_number(row[columns["children"]], "children", 0, MAX_CHILDREN)
        if isinstance(children, tuple):
            problems.append(children)
        if not problems and isinstance(unit, _Unit) and isinstance(year, int):
            earlier = rows.get((unit.id, year))
            if earlier is not None:
                problems.append(
                    (
                        f"{unit.name}, năm sinh {year} đã có ở dòng {earlier[0]}",
                        f"{unit.name}, birth year {year} is already on line {earlier[0]}",
                    )
                )
            elif isinstance(children, int):
                rows[(unit.id, year)] = (line, children)
        errors += [f"dòng {line}: {vi} / line {line}: {en}" for vi, en in problems]
    if errors:
        shown = errors[:MAX_LISTED]
        if len(errors) > MAX_LISTED:
            shown.append(
                f"… và {len(errors) - MAX_LISTED} lỗi khác / and {len(errors) - MAX_LISTED} more"
            )
        raise ImportFileError(
            path,
            f"{len(errors)} lỗi, chưa nạp dòng nào / {len(errors)} problem(s), nothing was "
            "imported:\n  " + "\n  ".join(shown),
        )
    with savepoint(conn), conn.cursor() as cur:
        result = execute_values(
            cur,
            """
            INSERT INTO unit_reported_children (admin_unit_id, birth_year, children, source)
            VALUES %s
            ON CONFLICT (admin_unit_id, birth_year) DO UPDATE
                SET children = EXCLUDED.children, source = EXCLUDED.source, updated_at = now()
            RETURNING (xmax = 0)
            """,
            [(u, y, n, path.name) for (u, y), (_, n) in sorted(rows.items())],
            template="(%s, %s::smallint, %s, %s)",
            fetch=True,
        )
    added = sum(1 for (inserted,) in result if inserted)
    report.counts = {
        "lines": len(rows),
        "units": len({u for u, _ in rows}),
        "figures added": added,
        "figures updated": len(rows) - added,
        "children": sum(n for _, n in rows.values()),
    }
    report.notes.append(f"edition {edition}")
    return report.finish()


def reported_children(
    conn: Connection, edition: str | None = None, unit_ids: Sequence[int] | None = None
) -> list[ReportedChildren]:
    """The children units of an edition (default: the current one) reported, by unit code and
    birth year; only those of `unit_ids` when given."""
    edition = edition_or_current(conn, edition)
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT u.id, u.edition, u.code, u.name, r.birth_year, r.children, r.source
            FROM unit_reported_children r JOIN admin_units u ON u.id = r.admin_unit_id
            WHERE u.edition = %(edition)s
              AND (%(ids)s::integer[] IS NULL OR u.id = ANY(%(ids)s::integer[]))
            ORDER BY u.code, u.id, r.birth_year
            """,
            {"edition": edition, "ids": None if unit_ids is None else list(unit_ids)},
        )
        return [
            ReportedChildren(int(i), e, c, n, int(y), int(k), s)
            for i, e, c, n, y, k, s in cur.fetchall()
        ]
