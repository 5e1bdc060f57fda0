"""Read what a forecast needs from PostGIS: wards, population series and census age groups."""

from __future__ import annotations

from dataclasses import dataclass, field

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError


@dataclass
class WardInput:
    """One ward: identity, district and its population by year."""

    id: int
    code: str
    name: str
    district_id: int
    population: dict[int, float] = field(default_factory=dict)


@dataclass
class DistrictInput:
    """One district: yearly population series and census age groups by year."""

    id: int
    code: str
    name: str
    series: dict[int, float] = field(default_factory=dict)
    age_groups: dict[int, list[tuple[int, int | None, float]]] = field(default_factory=dict)
    series_from_wards: list[int] = field(default_factory=list)


@dataclass
class ForecastInputs:
    """Everything a forecast or a backtest reads, per district and ward."""

    districts: dict[int, DistrictInput]
    wards: list[WardInput]

    def census_years(self) -> list[int]:
        return sorted({y for d in self.districts.values() for y in d.age_groups})

    def series_years(self) -> list[int]:
        return sorted({y for d in self.districts.values() for y in d.series})

    def ward_years(self) -> list[int]:
        return sorted({y for w in self.wards for y in w.population})


def load_inputs(conn: Connection, district_codes: list[str] | None = None) -> ForecastInputs:
    """Wards with a district, their populations, the districts' series and age groups.

    A year a district has no figure for but all its wards do is filled with their sum.
    """
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT d.id, d.code, d.name FROM admin_units d
            WHERE d.level = 'district' AND (%(codes)s::text[] IS NULL OR d.code = ANY(%(codes)s))
              AND EXISTS (SELECT 1 FROM admin_units w WHERE w.parent_id = d.id)
            ORDER BY d.code
            """,
            {"codes": district_codes},
        )
        districts = {r[0]: DistrictInput(r[0], r[1], r[2]) for r in cur.fetchall()}
        if district_codes and len(districts) < len(set(district_codes)):
            found = {d.code for d in districts.values()}
            missing = ", ".join(sorted(set(district_codes) - found))
            raise InvalidRequestError(
                f"không có quận/huyện mã {missing} / no district with code {missing}"
            )
        ids = list(districts)
        cur.execute(
            "SELECT id, code, name, parent_id FROM admin_units "
            "WHERE level = 'ward' AND parent_id = ANY(%s) ORDER BY code",
            (ids,),
        )
        wards = [WardInput(r[0], r[1], r[2], r[3]) for r in cur.fetchall()]
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
    for district in districts.values():
        members = [w for w in wards if w.district_id == district.id]
        years = set.intersection(*(set(w.population) for w in members)) if members else set()
        for year in sorted(years - set(district.series)):
            district.series[year] = sum(w.population[year] for w in members)
            district.series_from_wards.append(year)
    return ForecastInputs(districts, wards)
