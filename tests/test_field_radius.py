"""Distance fields cut off at a radius per level: no run changes while the radius exceeds the
farthest placement, a home beyond every school's radius is given estimated distances (never
left without a school), and travel-time fields reach every node the length radius does."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from allocation import INELIGIBLE, Problem, solve
from gis_service.admissions.estimated import estimated_homes
from gis_service.admissions.explain_vi import explain_vi
from gis_service.admissions.run_store import EXPLANATION_COLUMNS, stored_explanation
from gis_service.admissions.runs import RunSummary, run_round
from gis_service.routing import service
from gis_service.routing.distances import compute_fields
from gis_service.routing.service import ESTIMATED_DETOUR, RoutingService, field_cutoff
from tests.round_helpers import DemoRound as Loaded
from tests.test_allocation_properties import FAST, problems
from tests.test_routing_graph import d1_graph

MECHANISMS = ("da", "nearest")


@pytest.fixture
def radius(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, float]]:
    """The radii the service cuts fields at, set by each test."""
    radii: dict[str, float] = {}
    monkeypatch.setattr(service, "FIELD_RADIUS_M", radii)
    yield radii


def runs(closed_round: Loaded, home: Path) -> dict[str, RunSummary]:
    """A DA and a nearest run of the round with fields made afresh in `home`."""
    return {
        mechanism: run_round(
            closed_round.conn,
            RoutingService(home),
            closed_round.round_id,
            mechanism,
            seed=7,
        )
        for mechanism in MECHANISMS
    }


def farthest_placement(closed_round: Loaded, run_id: int) -> int:
    with closed_round.conn.cursor() as cur:
        cur.execute("SELECT max(cost) FROM assignments WHERE run_id = %s", (run_id,))
        return int(cur.fetchone()[0])  # type: ignore[index]


def test_a_radius_beyond_the_farthest_placement_changes_no_run(
    closed_round: Loaded, radius: dict[str, float], tmp_path: Path
) -> None:
    uncut = runs(closed_round, tmp_path / "uncut")
    farthest = max(farthest_placement(closed_round, run.run_id) for run in uncut.values())
    radius["tieu_hoc"] = farthest + 1.0
    cut = runs(closed_round, tmp_path / "cut")
    for mechanism in MECHANISMS:
        # The problem has fewer eligible pairs (those beyond the radius), the same outcome.
        assert cut[mechanism].input_hash != uncut[mechanism].input_hash, mechanism
        assert cut[mechanism].output_hash == uncut[mechanism].output_hash, mechanism
        assert cut[mechanism].metrics["beyond_radius_homes"] == 0
    # The fields were cut: nodes beyond the radius from a school are out of its field.
    cut_routing, whole_routing = (
        RoutingService(tmp_path / "cut"),
        RoutingService(tmp_path / "uncut"),
    )
    net = cut_routing.network(closed_round.conn, "motorbike")
    fields = cut_routing.fields(closed_round.conn, net, "tieu_hoc", "length")
    radius.clear()
    net = whole_routing.network(closed_round.conn, "motorbike")
    whole = whole_routing.fields(closed_round.conn, net, "tieu_hoc", "length")
    assert fields.cutoff == farthest + 1.0 and whole.cutoff is None
    assert np.isinf(fields.dense()).sum() > np.isinf(whole.dense()).sum()
    within = np.isfinite(fields.dense())
    assert np.array_equal(fields.dense()[within], whole.dense()[within])


@pytest.mark.parametrize("cut_at", ["150 m", "the median placement"])
def test_homes_beyond_the_radius_are_placed_at_estimated_distances(
    closed_round: Loaded, radius: dict[str, float], tmp_path: Path, cut_at: str
) -> None:
    """Cut well inside the city (every school beyond 150 m of most homes; or the near schools
    of half the children), no child is left without a school for it: as many are placed as with
    whole fields, the distances beyond the radius estimated, marked and explained."""
    uncut = runs(closed_round, tmp_path / "uncut")
    with closed_round.conn.cursor() as cur:
        cur.execute(
            "SELECT percentile_disc(0.5) WITHIN GROUP (ORDER BY cost) FROM assignments "
            "WHERE run_id = %s",
            (uncut["da"].run_id,),
        )
        median = float(cur.fetchone()[0])  # type: ignore[index]
    cut = 150.0 if cut_at == "150 m" else median
    radius["tieu_hoc"] = cut
    run = run_round(
        closed_round.conn,
        RoutingService(tmp_path / "cut"),
        closed_round.round_id,
        "da",
        seed=7,
    )
    beyond = run.metrics["beyond_radius_homes"]
    assert beyond > 100
    assert run.metrics["estimated_homes"] >= beyond
    assert run.metrics["unassigned"] == uncut["da"].metrics["unassigned"]
    listed = [c for c in estimated_homes(closed_round.conn, run.run_id) if c["beyond_radius_m"]]
    assert len(listed) == beyond and all(c["beyond_radius_m"] == cut for c in listed)
    placed = next(c for c in listed if c["school_name"])
    with closed_round.conn.cursor() as cur:
        cur.execute(
            f"SELECT x.school_id, x.cost, r.passed_kinds, {EXPLANATION_COLUMNS}, "
            "ST_X(a.home), ST_Y(a.home), ST_X(s.geom), ST_Y(s.geom) "
            "FROM assignments x JOIN allocation_runs r ON r.id = x.run_id "
            "JOIN applications a ON a.round_id = r.round_id "
            "AND a.applicant_id = x.applicant_id JOIN schools s ON s.id = x.school_id "
            "WHERE x.run_id = %s AND a.id = %s",
            (run.run_id, placed["application_id"]),
        )
        school_id, cost, kinds, *columns, hx, hy, sx, sy = cur.fetchone()  # type: ignore[misc]
    # The estimate: the straight line times the detour, at least just over the radius.
    straight = service.straight_metres(hx, hy, np.array([sx]), np.array([sy]))[0]
    assert cost > cut
    assert cost == pytest.approx(max(straight * ESTIMATED_DETOUR, cut + 1.0), abs=1.0)
    told = explain_vi(stored_explanation(columns, school_id, cost, kinds), "da", {}, ())
    shown = f"{round(cut):,}".replace(",", ".")
    assert f"Trường được xếp cách nhà hơn {shown} m theo đường đi" in told["summary"]
    assert "so the distance to it is estimated" in told["summary_en"]


def test_time_fields_reach_every_node_the_length_radius_does(radius: dict[str, float]) -> None:
    graph = d1_graph("quan1_osmnx_drive_2023.osm.bz2", "car")
    pick = np.arange(0, graph.n_nodes, max(1, graph.n_nodes // 6))[:6]
    lon, lat, keys = graph.node_lon[pick], graph.node_lat[pick], pick.astype(np.int64)
    radius["tieu_hoc"] = 700.0
    by_length = compute_fields(
        graph, lon, lat, keys, "length", field_cutoff(graph, "tieu_hoc", "length"), workers=1
    )
    by_time = compute_fields(
        graph, lon, lat, keys, "time", field_cutoff(graph, "tieu_hoc", "time"), workers=1
    )
    reached = np.isfinite(by_length.dense())
    assert 0 < reached.mean() < 1, "the radius cuts this district's fields"
    assert np.isfinite(by_time.dense()[reached]).all()
    assert field_cutoff(graph, None, "length") is None


@FAST
@given(problems(max_n=7, max_m=3, all_eligible=True, one_tier=True), st.integers(0, 6))
def test_cutting_pairs_beyond_the_farthest_placement_changes_no_da_placement(
    problem: Problem, extra: int
) -> None:
    """Deferred acceptance by distance: a child proposes to schools nearest first, so a child
    placed within R never proposed beyond it; with every child placed, removing the pairs
    beyond R (what a field radius does) leaves every proposal, and so every placement."""
    whole = solve(problem, "da")
    placed = whole.assignment >= 0
    if problem.cost.size == 0 or not placed.all():
        return
    farthest = int(problem.cost[np.arange(len(placed)), whole.assignment].max())
    cut_at = farthest + extra
    cost = np.where(problem.cost > cut_at, INELIGIBLE, problem.cost)
    cut = solve(dataclasses.replace(problem, cost=cost), "da")
    assert cut.status == whole.status
    assert np.array_equal(cut.assignment, whole.assignment)
