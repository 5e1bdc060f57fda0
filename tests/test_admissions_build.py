"""A round of the demo city as an allocation problem, with road costs from the fields."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from allocation.problem import INELIGIBLE
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.build import build_round_problem
from gis_service.admissions.rounds import create_round
from gis_service.db.connection import Connection
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService


def test_round_problem_matches_the_database(
    demo_db: Connection, demo_home: Path, tmp_path: Path
) -> None:
    the_round = create_round(
        demo_db, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901", "902", "903"]
    )
    report = import_applicants(
        demo_db, the_round.round_id, demo_home / "demo" / "households.csv", b"k", no_progress
    )
    routing = RoutingService(tmp_path)
    built = build_round_problem(demo_db, routing, the_round, seed=7)
    problem = built.problem
    problem.validate()
    assert problem.n == report.counts["eligible"] == 3000
    with demo_db.cursor() as cur:
        cur.execute(
            "SELECT count(*), sum(classes * class_size) FROM school_grades g "
            "JOIN schools s ON s.id = g.school_id WHERE g.grade = 1 "
            "AND 'tieu_hoc' = ANY(s.levels) AND g.classes > 0"
        )
        schools, seats = cur.fetchone()
    assert problem.m == schools and int(problem.capacity.sum()) == seats
    assert problem.seed == 7 and set(problem.tier.tolist()) <= {0, 1}
    assert (problem.cost >= 0).mean() > 0.99  # nearly every home reaches every school
    # A cost is the road distance the near-home query gives for the same home and school.
    with demo_db.cursor() as cur:
        cur.execute(
            "SELECT ST_X(home), ST_Y(home) FROM applications WHERE id = %s",
            (int(built.application_ids[0]),),
        )
        lon, lat = cur.fetchone()
    near = routing.near(demo_db, lon, lat, "motorbike", "tieu_hoc", 100)
    by_school = {row["school_id"]: row["distance_m"] for row in near}
    for j, school in enumerate(built.school_ids.tolist()):
        if problem.cost[0, j] != INELIGIBLE:
            assert abs(problem.cost[0, j] - by_school[school]) <= 0.6
    # Nobody ranked schools in the demo file: DA will use distance order.
    assert problem.preferences is None
    assert np.array_equal(np.sort(built.school_ids), built.school_ids)


def test_ranked_choices_come_first_then_every_other_school_by_distance(
    demo_db: Connection, demo_home: Path, tmp_path: Path
) -> None:
    """Regression: a family that ranked two full schools was left with no school under DA,
    while a family that ranked nothing got the nearest free seat."""
    the_round = create_round(
        demo_db, name="Lớp 1", grade=1, school_year="2025-2026", districts=["901"]
    )
    import_applicants(
        demo_db, the_round.round_id, demo_home / "demo" / "households.csv", b"k", no_progress
    )
    routing = RoutingService(tmp_path)
    plain = build_round_problem(demo_db, routing, the_round).problem
    # The first applicant ranks the two schools farthest from home.
    far = [int(j) for j in np.argsort(plain.cost[0])[::-1][:2]]
    school_ids = build_round_problem(demo_db, routing, the_round).school_ids
    ranked = [int(school_ids[j]) for j in far]
    with demo_db.cursor() as cur:
        cur.execute(
            "UPDATE applications SET preferences = %s WHERE round_id = %s AND id = "
            "(SELECT min(id) FROM applications WHERE round_id = %s AND status = 'eligible')",
            (ranked, the_round.round_id, the_round.round_id),
        )
    problem = build_round_problem(demo_db, routing, the_round).problem
    assert problem.preferences is not None

    def by_distance(i: int, leaving: list[int]) -> list[int]:
        others = [j for j in range(problem.m) if problem.cost[i, j] >= 0 and j not in leaving]
        return sorted(others, key=lambda j: (problem.cost[i, j], j))

    assert list(problem.preferences[0]) == far + by_distance(0, far)
    # Everyone else still prefers schools by distance.
    assert list(problem.preferences[1]) == by_distance(1, [])
