"""Read what a forecast needs from PostGIS: the units of an edition, their population series,
census age groups, census coverage and the child counts units report themselves.

The 2019 edition is read as the census gives it: districts with their age groups and yearly
series, wards with their counts. A unit of a later edition (2025: province > commune/ward, no
district) is read as a group of its own, a district holding one ward: its age groups and its
census counts are the figures carried to it from the census units, its pace the series of the
districts its people came from, so the forecast arithmetic runs on it unchanged and no share
of a larger unit is needed (see `UNIT_METHOD_TEXT`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.units.coverage import census_coverage
from gis_service.units.crosswalk import coverage_class
from gis_service.units.editions import (
    EDITION_2019,
    UNIT_TYPES_VI,
    edition_or_current,
    unit_type_of,
)


@dataclass
class WardInput:
    """One ward: identity, district and its population by year."""

    id: int
    code: str
    name: str
    district_id: int
    population: dict[int, float] = field(default_factory=dict)
    area_m2: float | None = None
    """The ward's land area; where its district's growth settles (see method.district_trends)."""


@dataclass
class DistrictInput:
    """One district: yearly population series and census age groups by year."""

    id: int
    code: str
    name: str
    series: dict[int, float] = field(default_factory=dict)
    age_groups: dict[int, list[tuple[int, int | None, float]]] = field(default_factory=dict)
    series_from_wards: list[int] = field(default_factory=list)


@dataclass(frozen=True)
class UnitInfo:
    """A commune-level unit as a person reads it, and what figures stand behind it."""

    id: int
    code: str
    name: str
    unit_type: str | None
    parent_code: str | None
    """The district (2019 edition) or the province (later editions) above the unit."""
    parent_name: str | None
    coverage: float
    """Share of the unit's area covered by census units with figures (0..1)."""
    reported: dict[int, int] = field(default_factory=dict)
    """Children by birth year the unit reports itself."""

    @property
    def type_name(self) -> str | None:
        """The unit type's Vietnamese word: 'Phường', 'Xã', 'Đặc khu'."""
        return UNIT_TYPES_VI.get(self.unit_type or "")

    @property
    def label(self) -> str:
        """The name a person reads, with its type: 'Phường Sài Gòn'."""
        kind = self.type_name
        if kind and unit_type_of(self.name, "ward") is None:
            return f"{kind} {self.name}"
        return self.name

    @property
    def fully_covered(self) -> bool:
        """Covered but for the differences of two maps along shared borders."""
        return coverage_class(self.coverage) == "full"

    @property
    def covered(self) -> bool:
        """Whether census figures stand for (some of) the unit: below the crosswalk's floor
        the census units only touch it in slivers along a border two maps draw differently."""
        return coverage_class(self.coverage) != "none"


@dataclass
class ForecastInputs:
    """Everything a forecast or a backtest reads, per district and ward.

    In the 2019 edition `districts` are the census districts and `wards` their wards; in a
    later edition every unit is a district of its own holding one ward, the unit itself.
    `units` names every commune-level unit read (with or without figures); `keep`, when set,
    is the units a forecast reports (the others only serve as the rest of their district).
    """

    districts: dict[int, DistrictInput]
    wards: list[WardInput]
    edition: str = EDITION_2019
    units: dict[int, UnitInfo] = field(default_factory=dict)
    keep: set[int] | None = None

    def census_years(self) -> list[int]:
        return sorted({y for d in self.districts.values() for y in d.age_groups})

    def series_years(self) -> list[int]:
        return sorted({y for d in self.districts.values() for y in d.series})

    def ward_years(self) -> list[int]:
        return sorted({y for w in self.wards for y in w.population})

    @property
    def grouped_by_district(self) -> bool:
        """True for the census edition, where wards share their district's age groups."""
        return self.edition == EDITION_2019


def load_inputs(
    conn: Connection,
    district_codes: list[str] | None = None,
    edition: str | None = None,
    unit_codes: list[str] | None = None,
) -> ForecastInputs:
    """The units of an edition (the current one by default) with what a forecast reads.

    `district_codes` choose 2019 districts; `unit_codes` choose commune-level units of the
    edition (in 2019 their whole districts are read, so ward shares stay those of the district).
    """
    chosen = edition_or_current(conn, edition)
    if district_codes and unit_codes:
        raise InvalidRequestError(
            "chọn theo quận/huyện hoặc theo đơn vị, không cả hai / give district codes or unit "
            "codes, not both"
        )
    if chosen == EDITION_2019:
        return _load_census_edition(conn, district_codes, unit_codes)
    if district_codes:
        raise InvalidRequestError(
            f"Bộ đơn vị {chosen} không có cấp huyện: chọn theo mã phường/xã / the {chosen} "
            "edition has no districts: choose units by their commune or ward codes"
        )
    return _load_unit_edition(conn, chosen, unit_codes)


def _missing(asked: list[str], found: set[str], what_vi: str, what_en: str) -> None:
    missing = ", ".join(sorted(set(asked) - found))
    if missing:
        raise InvalidRequestError(
            f"không có {what_vi} mã {missing} / no {what_en} with code {missing}"
        )


def _load_census_edition(
    conn: Connection, district_codes: list[str] | None, unit_codes: list[str] | None
) -> ForecastInputs:
    """Wards with a district, their populations, the districts' series and age groups.

    A year a district has no figure for but all its wards do is filled with their sum.
    """
    keep: set[int] | None = None
    with conn.cursor() as cur:
        if unit_codes:
            cur.execute(
                "SELECT w.id, w.code, d.code FROM admin_units w "
                "JOIN admin_units d ON d.id = w.parent_id AND d.level = 'district' "
                "WHERE w.edition = %s AND w.level = 'ward' AND w.code = ANY(%s)",
                (EDITION_2019, list(unit_codes)),
            )
            rows = cur.fetchall()
            _missing(unit_codes, {r[1] for r in rows}, "phường/xã", "2019 ward")
            keep = {r[0] for r in rows}
            district_codes = sorted({r[2] for r in rows})
        cur.execute(
            """
            SELECT d.id, d.code, d.name FROM admin_units d
            WHERE d.edition = %(edition)s AND d.level = 'district'
              AND (%(codes)s::text[] IS NULL OR d.code = ANY(%(codes)s))
              AND EXISTS (SELECT 1 FROM admin_units w WHERE w.parent_id = d.id)
            ORDER BY d.code
            """,
            {"codes": district_codes, "edition": EDITION_2019},
        )
        districts = {r[0]: DistrictInput(r[0], r[1], r[2]) for r in cur.fetchall()}
        if district_codes and len(districts) < len(set(district_codes)):
            _missing(district_codes, {d.code for d in districts.values()}, "quận/huyện", "district")
        ids = list(districts)
        cur.execute(
            "SELECT id, code, name, parent_id, unit_type, ST_Area(geom::geography) "
            "FROM admin_units WHERE level = 'ward' AND parent_id = ANY(%s) ORDER BY code",
            (ids,),
        )
        ward_rows = cur.fetchall()
        wards = [
            WardInput(r[0], r[1], r[2], r[3], area_m2=None if r[5] is None else float(r[5]))
            for r in ward_rows
        ]
        by_id = {w.id: w for w in wards}
        cur.execute(
            "SELECT admin_unit_id, year, population FROM admin_population "
            "WHERE admin_unit_id = ANY(%s)",
            (ids + list(by_id),),
        )
        for unit, year, population in cur.fetchall():
            if unit in districts:
                districts[unit].series[year] = float(population)
            else:
                by_id[unit].population[year] = float(population)
        cur.execute(
            "SELECT admin_unit_id, year, age_min, age_max, population "
            "FROM admin_population_by_age WHERE admin_unit_id = ANY(%s) ORDER BY age_min",
            (ids,),
        )
        for unit, year, age_min, age_max, population in cur.fetchall():
            districts[unit].age_groups.setdefault(year, []).append(
                (age_min, age_max, float(population))
            )
        reported = _reported(cur, list(by_id))
    for district in districts.values():
        members = [w for w in wards if w.district_id == district.id]
        years = set.intersection(*(set(w.population) for w in members)) if members else set()
        for year in sorted(years - set(district.series)):
            district.series[year] = sum(w.population[year] for w in members)
            district.series_from_wards.append(year)
    units = {
        r[0]: UnitInfo(
            r[0],
            r[1],
            r[2],
            r[4],
            districts[r[3]].code,
            districts[r[3]].name,
            1.0 if by_id[r[0]].population else 0.0,
            reported.get(r[0], {}),
        )
        for r in ward_rows
    }
    return ForecastInputs(districts, wards, EDITION_2019, units, keep)


def _load_unit_edition(
    conn: Connection, edition: str, unit_codes: list[str] | None
) -> ForecastInputs:
    """Every commune-level unit of the edition as a group of its own, with the figures carried
    to it (its yearly series and census age groups), its census coverage and reports.

    The unit's carried figures of the years the census wards were counted in are its counts
    (the ward of the group). Its pace (the district of the group) is the yearly series of the
    census districts its people lived in, each weighted by the people the unit took from it
    at the last ward count (`carried_pace`): the carried figures of the other years share a
    district's series out by the wards' count of the nearest census, which puts a step into a
    unit's series where that census changes. A unit with no crosswalk pieces (figures of its
    own) takes all its years for both.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT DISTINCT p.year FROM admin_population p "
            "JOIN admin_units w ON w.id = p.admin_unit_id "
            "WHERE w.edition = %s AND w.level = 'ward'",
            (EDITION_2019,),
        )
        count_years = {int(r[0]) for r in cur.fetchall()}
        cur.execute(
            """
            SELECT w.id, w.code, w.name, w.unit_type, p.code, p.name
            FROM admin_units w LEFT JOIN admin_units p ON p.id = w.parent_id
            WHERE w.edition = %(edition)s AND w.level = 'ward'
              AND (%(codes)s::text[] IS NULL OR w.code = ANY(%(codes)s))
            ORDER BY w.code
            """,
            {"edition": edition, "codes": unit_codes or None},
        )
        rows = cur.fetchall()
        if unit_codes:
            _missing(unit_codes, {r[1] for r in rows}, "phường/xã", f"{edition} unit")
        ids = [r[0] for r in rows]
        pace = carried_pace(cur, edition, ids, max(count_years, default=0))
        districts = {r[0]: DistrictInput(r[0], r[1], r[2]) for r in rows}
        wards = {r[0]: WardInput(r[0], r[1], r[2], r[0]) for r in rows}
        cur.execute(
            "SELECT admin_unit_id, year, population FROM admin_population "
            "WHERE admin_unit_id = ANY(%s)",
            (ids,),
        )
        carried: dict[int, dict[int, float]] = {}
        for unit, year, population in cur.fetchall():
            carried.setdefault(unit, {})[int(year)] = float(population)
        for unit, figures in carried.items():
            counts = {y: v for y, v in figures.items() if y in count_years}
            wards[unit].population = counts or dict(figures)
            districts[unit].series = pace.get(unit) or dict(figures)
        cur.execute(
            "SELECT admin_unit_id, year, age_min, age_max, population "
            "FROM admin_population_by_age WHERE admin_unit_id = ANY(%s) ORDER BY age_min",
            (ids,),
        )
        for unit, year, age_min, age_max, population in cur.fetchall():
            districts[unit].age_groups.setdefault(year, []).append(
                (age_min, age_max, float(population))
            )
        reported = _reported(cur, ids)
    coverage = census_coverage(conn, edition)
    units = {}
    for unit_id, code, name, unit_type, parent_code, parent_name in rows:
        # Figures without a crosswalk to the unit are its own (a census taken on its units).
        own = 1.0 if districts[unit_id].age_groups else 0.0
        units[unit_id] = UnitInfo(
            unit_id,
            code,
            name,
            unit_type,
            parent_code,
            parent_name,
            coverage.get(unit_id, own),
            reported.get(unit_id, {}),
        )
    return ForecastInputs(districts, list(wards.values()), edition, units)


def carried_pace(
    cur: Any, edition: str, unit_ids: list[int], share_year: int
) -> dict[int, dict[int, float]]:
    """Each unit's pace series: the census districts' yearly series, each weighted by the
    people the unit took from it (its crosswalk pieces of the district's wards, each ward
    holding its share of the district's ward counts of `share_year`)."""
    cur.execute(
        """
        WITH ward_pop AS (
            SELECT w.id, w.parent_id, p.population::float8 AS pop
            FROM admin_units w
            JOIN admin_population p ON p.admin_unit_id = w.id AND p.year = %(year)s
            WHERE w.edition = %(census)s AND w.level = 'ward'
        ), district_pop AS (
            SELECT parent_id, sum(pop) AS pop FROM ward_pop GROUP BY parent_id
        )
        SELECT pc.to_unit_id, s.year, sum(pc.weight * wp.pop / dp.pop * s.population)
        FROM unit_crosswalk_pieces pc
        JOIN unit_crosswalks x ON x.id = pc.crosswalk_id
            AND x.from_edition = %(census)s AND x.to_edition = %(edition)s
        JOIN ward_pop wp ON wp.id = pc.from_unit_id
        JOIN district_pop dp ON dp.parent_id = wp.parent_id AND dp.pop > 0
        JOIN admin_population s ON s.admin_unit_id = wp.parent_id
        WHERE pc.to_unit_id = ANY(%(ids)s)
        GROUP BY pc.to_unit_id, s.year
        """,
        {"census": EDITION_2019, "edition": edition, "year": share_year, "ids": unit_ids},
    )
    pace: dict[int, dict[int, float]] = {}
    for unit, year, value in cur.fetchall():
        if value and value > 0:
            pace.setdefault(int(unit), {})[int(year)] = float(value)
    return {unit: series for unit, series in pace.items() if len(series) >= 2}


def _reported(cur: Any, unit_ids: list[int]) -> dict[int, dict[int, int]]:
    """Children by birth year each unit reports."""
    found: dict[int, dict[int, int]] = {}
    cur.execute(
        "SELECT admin_unit_id, birth_year, children FROM unit_reported_children "
        "WHERE admin_unit_id = ANY(%s)",
        (unit_ids,),
    )
    for unit, born, children in cur.fetchall():
        found.setdefault(int(unit), {})[int(born)] = int(children)
    return found
