"""Planning scenarios: saved sets of added classes, new sites and limits, compared side by side.

A scenario keeps the edition of units its demand is counted by (kept with its limits, under
`edition`); one saved before units came in editions was counted by the 2019 units."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from gis_service import audit
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, NotFoundError
from gis_service.planning.forecast import check_years
from gis_service.planning.gap import GapSettings, NewSite, compute_gap
from gis_service.planning.inputs import load_inputs
from gis_service.routing.service import RoutingService
from gis_service.units.editions import EDITION_2019, check_edition, edition_or_current

LIMIT_KEYS = ("class_size", "norm_m", "mode", "assume_classes")
# What the comparison shows, in order: (metric key, Vietnamese / English label).
COMPARED = (
    ("children", "Số trẻ / children"),
    ("classes_available", "Lớp hiện có / classes available"),
    ("classes_needed", "Lớp cần / classes needed"),
    ("classes_short", "Lớp thiếu / classes short"),
    ("classes_over_size", "Lớp vượt sĩ số / classes over the legal size"),
    ("children_over_size", "Trẻ vượt sĩ số / children over the legal size"),
    ("children_beyond_norm", "Trẻ ngoài định mức cự ly / children beyond the norm"),
    ("mean_m", "Quãng đường TB (m) / mean distance (m)"),
    ("p90_m", "Quãng đường P90 (m) / p90 distance (m)"),
)


@dataclass
class Scenario:
    """A planner's scenario: the year and grade, and what it changes."""

    name: str
    grade: int
    school_year: int
    district_codes: list[str] = field(default_factory=list)
    added_classes: dict[int, int] = field(default_factory=dict)
    new_sites: list[NewSite] = field(default_factory=list)
    limits: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    edition: str | None = None
    """The edition of units demand is counted by; None until saved (then the current one)."""

    def check(self) -> None:
        if not self.name.strip():
            raise InvalidRequestError("kịch bản cần tên / a scenario needs a name")
        if self.grade not in (1, 6):
            raise InvalidRequestError("lớp phải là 1 hoặc 6 / grade must be 1 or 6")
        unknown = set(self.limits) - set(LIMIT_KEYS)
        if unknown:
            raise InvalidRequestError(
                f"unknown limits {sorted(unknown)}; use {', '.join(LIMIT_KEYS)}"
            )
        for school, added in self.added_classes.items():
            if added < 0:
                raise InvalidRequestError(f"added classes at school {school} must be >= 0")
        for site in self.new_sites:
            if site.classes <= 0:
                raise InvalidRequestError(f"site {site.name!r} needs at least one class")
        if self.edition is not None:
            check_edition(self.edition)
            if self.district_codes and self.edition != EDITION_2019:
                raise InvalidRequestError(
                    f"Bộ đơn vị {self.edition} không có cấp huyện / the {self.edition} edition "
                    "has no districts: leave the district codes out"
                )

    def gap_settings(self) -> GapSettings:
        limits = self.limits
        return GapSettings(
            grade=self.grade,
            school_year=self.school_year,
            mode=str(limits.get("mode", "motorbike")),
            norm_m=float(limits["norm_m"]) if "norm_m" in limits else None,
            class_size=int(limits["class_size"]) if "class_size" in limits else None,
            assume_classes=int(limits["assume_classes"]) if "assume_classes" in limits else None,
            district_codes=self.district_codes or None,
            added_classes=dict(self.added_classes),
            new_sites=list(self.new_sites),
            edition=self.edition,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "grade": self.grade,
            "school_year": self.school_year,
            "district_codes": self.district_codes,
            "added_classes": {str(k): v for k, v in self.added_classes.items()},
            "new_sites": [asdict(s) for s in self.new_sites],
            "limits": self.limits,
            "edition": self.edition,
        }


def save_scenario(
    conn: Connection, scenario: Scenario, actor: str, remote_addr: str | None = None
) -> int:
    """Store a scenario (in the caller's transaction) and log it; return its id."""
    if scenario.edition is None:
        scenario.edition = edition_or_current(conn, None)
    scenario.check()
    # A scenario is only as good as the forecast it is compared on: its year must be one.
    check_years(load_inputs(conn, None, scenario.edition), [scenario.school_year])
    with conn.cursor() as cur:
        cur.execute(
            """
            INSERT INTO planning_scenarios
                (name, grade, school_year, district_codes, added_classes, new_sites, limits,
                 created_by)
            VALUES (%s, %s, %s, %s, %s, %s, %s, %s) RETURNING id
            """,
            (
                scenario.name,
                scenario.grade,
                scenario.school_year,
                scenario.district_codes,
                json.dumps({str(k): v for k, v in scenario.added_classes.items()}),
                json.dumps([asdict(s) for s in scenario.new_sites]),
                json.dumps({**scenario.limits, "edition": scenario.edition}),
                actor,
            ),
        )
        (new_id,) = cur.fetchone() or (None,)
        scenario.id = int(new_id)
    audit.record(
        conn,
        actor=actor,
        action="scenario.save",
        target=f"scenario:{scenario.id}",
        detail=scenario.as_dict(),
        remote_addr=remote_addr,
    )
    return scenario.id


def _from_row(row: tuple[Any, ...]) -> Scenario:
    limits = dict(row[7])
    edition = str(limits.pop("edition", EDITION_2019))
    return Scenario(
        id=row[0],
        name=row[1],
        grade=row[2],
        school_year=row[3],
        district_codes=list(row[4]),
        added_classes={int(k): int(v) for k, v in row[5].items()},
        new_sites=[NewSite(**s) for s in row[6]],
        limits=limits,
        edition=edition,
    )


_COLUMNS = "id, name, grade, school_year, district_codes, added_classes, new_sites, limits"


def load_scenario(conn: Connection, scenario_id: int) -> Scenario:
    with conn.cursor() as cur:
        cur.execute(f"SELECT {_COLUMNS} FROM planning_scenarios WHERE id = %s", (scenario_id,))
        row = cur.fetchone()
    if row is None:
        raise NotFoundError(f"không có kịch bản {scenario_id} / no scenario {scenario_id}")
    return _from_row(row)


def list_scenarios(conn: Connection) -> list[dict[str, Any]]:
    with conn.cursor() as cur:
        cur.execute(
            f"SELECT {_COLUMNS}, created_by, created_at, result FROM planning_scenarios ORDER BY id"
        )
        rows = cur.fetchall()
    listed = []
    for row in rows:
        item = _from_row(row[:8]).as_dict()
        item.update(created_by=row[8], created_at=row[9].isoformat(), metrics=row[10])
        listed.append(item)
    return listed


def evaluate_scenario(
    conn: Connection, routing: RoutingService, scenario_id: int
) -> dict[str, Any]:
    """Run the scenario's capacity gap; keep its metrics with the scenario; return them."""
    scenario = load_scenario(conn, scenario_id)
    result = compute_gap(conn, routing, scenario.gap_settings())
    with conn.cursor() as cur:
        cur.execute(
            "UPDATE planning_scenarios SET result = %s, computed_at = now() WHERE id = %s",
            (json.dumps(result.metrics), scenario_id),
        )
    return {"scenario": scenario.as_dict(), "metrics": result.metrics, "wards": result.wards}


def compare_scenarios(
    conn: Connection, routing: RoutingService, scenario_ids: list[int]
) -> dict[str, Any]:
    """Every scenario's metrics side by side, computed afresh from today's data."""
    if not scenario_ids:
        raise InvalidRequestError("name at least one scenario to compare")
    evaluated = [evaluate_scenario(conn, routing, i) for i in scenario_ids]
    return {
        "scenarios": [e["scenario"] for e in evaluated],
        "rows": [
            {"metric": key, "label": label, "values": [e["metrics"][key] for e in evaluated]}
            for key, label in COMPARED
        ],
    }
