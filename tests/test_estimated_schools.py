"""A school farther than 1 km from every mapped road still takes children: its stretch to the
nearest road is counted at the declared detour, and the run, the officer's list and each
child's explanation say the distance is estimated."""

from __future__ import annotations

from pathlib import Path

import pytest

from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.estimated import estimated_schools
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.rounds import create_round
from gis_service.admissions.run_store import EXPLANATION_COLUMNS, stored_explanation
from gis_service.admissions.runs import run_round
from gis_service.db.connection import Connection
from gis_service.importers.report import no_progress
from gis_service.routing.service import ESTIMATED_DETOUR, MAX_SNAP_M, RoutingService
from tests.round_helpers import every, one
from tests.test_export_safety import households_in

CHILDREN = 30


def test_children_are_placed_at_a_school_off_the_mapped_roads(
    demo_db: Connection, demo_home: Path, tmp_path: Path
) -> None:
    path = tmp_path / "households.csv"
    path.write_text(households_in(demo_db, demo_home, "901", CHILDREN), encoding="utf-8")
    made = create_round(
        demo_db, name="Lớp 1 Quận 901", grade=1, school_year="2025-2026", districts=["901"]
    )
    import_applicants(demo_db, made.round_id, path, b"k", no_progress)
    far = one(
        demo_db,
        "SELECT min(s.id) FROM schools s JOIN school_grades g ON g.school_id = s.id "
        "WHERE g.grade = 1 AND 'tieu_hoc' = ANY(s.levels)",
    )
    with demo_db.cursor() as cur:
        # The only school with seats, moved 4 km east of the last mapped road.
        cur.execute(
            "UPDATE school_grades SET classes = CASE WHEN school_id = %s THEN 1 ELSE 0 END, "
            "class_size = %s WHERE grade = 1",
            (far, CHILDREN),
        )
        cur.execute(
            "UPDATE schools SET geom = ST_SetSRID(ST_MakePoint("
            "(SELECT ST_XMax(ST_Extent(geom)) FROM road_ways) + 0.037, ST_Y(geom)), 4326) "
            "WHERE id = %s",
            (far,),
        )
        cur.execute("UPDATE rounds SET status = 'closed' WHERE id = %s", (made.round_id,))
    run = run_round(demo_db, RoutingService(tmp_path / "home"), made.round_id, "da", seed=1)
    eligible = one(
        demo_db,
        "SELECT count(*) FROM applications WHERE round_id = %s AND status = 'eligible'",
        made.round_id,
    )
    assert eligible > 0
    assert run.metrics["placed"] == eligible and run.metrics["unassigned"] == 0
    assert run.metrics["estimated_schools"] == 1
    [listed] = estimated_schools(demo_db, run.run_id)
    assert listed["school_id"] == far and listed["placed"] == eligible
    assert listed["road_offset_m"] > MAX_SNAP_M
    rows = every(
        demo_db,
        f"SELECT x.school_id, x.cost, {EXPLANATION_COLUMNS} FROM assignments x WHERE x.run_id = %s",
        run.run_id,
    )
    for school_id, cost, *columns in rows:
        assert school_id == far
        # The stretch off the map alone, at the detour, is part of every child's distance.
        assert cost > listed["road_offset_m"] * ESTIMATED_DETOUR
        explanation = stored_explanation(columns, school_id, cost, [])
        told = explain_vi(explanation, "da", {far: "Trường Xa"})
        assert "Trường cách con đường gần nhất có trên bản đồ" in told["summary"]
        assert "nhân 1,4" in told["summary"]
        assert "The school is " in told["summary_en"] and "times 1.4" in told["summary_en"]


@pytest.mark.parametrize("offset", [0.0, 999.0])
def test_a_school_near_a_road_is_not_estimated(offset: float) -> None:
    """Only a school beyond MAX_SNAP_M is counted at the detour (the rule homes follow)."""
    import numpy as np

    from gis_service.routing.service import with_estimated_access
    from gis_service.routing.snap import Snapped

    one_point = np.array([offset])
    snapped = Snapped(
        edge=np.array([0]),
        fraction=np.array([0.5]),
        offset_m=one_point,
        to_from_m=np.array([10.0]),
        to_to_m=np.array([10.0]),
        x=np.array([0.0]),
        y=np.array([0.0]),
    )
    joined, far = with_estimated_access(snapped)
    assert not far[0] and float(joined.offset_m[0]) == offset
