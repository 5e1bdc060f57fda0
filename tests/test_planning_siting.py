"""Siting where the optimum is known: clusters, capacities, thresholds, the travel objective."""

from __future__ import annotations

import numpy as np
import pytest

from gis_service.errors import InvalidRequestError
from gis_service.planning.siting_model import choose_sites

INF = np.inf
# Three clusters of 100, 60 and 30 children; a candidate in each (cost 50-70 s inside its
# own cluster, 900 s to the others); one existing school of 30 seats beside cluster C.
DEMAND = np.array([100, 60, 30])
EXISTING_COST = np.array([[INF], [INF], [100.0]])
EXISTING_SEATS = np.array([30])
CANDIDATE_COST = np.array([[50.0, 900, 900], [900, 60.0, 900], [900, 900, 70.0]])


def test_one_site_goes_to_the_largest_cluster() -> None:
    choice = choose_sites(
        DEMAND, EXISTING_SEATS, EXISTING_COST, np.array([200] * 3), CANDIDATE_COST, 1, 300.0
    )
    assert choice.chosen == [0]
    assert choice.served_within == 130  # cluster A, plus C at its own school
    assert choice.optimal


def test_two_sites_cover_everyone_the_existing_school_does_not() -> None:
    choice = choose_sites(
        DEMAND, EXISTING_SEATS, EXISTING_COST, np.array([200] * 3), CANDIDATE_COST, 2, 300.0
    )
    assert sorted(choice.chosen) == [0, 1]
    assert choice.served_within == 190


def test_capacity_can_move_the_choice() -> None:
    # A site can take only 50: cluster A's site serves 50, B's 50 too; C needs no site.
    # With seats so short, the tie goes to the cheaper travel: A (50 s) beats B (60 s).
    choice = choose_sites(
        DEMAND, EXISTING_SEATS, EXISTING_COST, np.array([50] * 3), CANDIDATE_COST, 1, 300.0
    )
    assert choice.chosen == [0]
    assert choice.served_within == 80


def test_a_threshold_below_every_trip_serves_no_one() -> None:
    choice = choose_sites(
        DEMAND, EXISTING_SEATS, EXISTING_COST, np.array([200] * 3), CANDIDATE_COST, 1, 10.0
    )
    assert choice.served_within == 0


def test_the_travel_objective_places_everyone_reachable_at_least_travel() -> None:
    # Within 3 x 300 s everyone reaches any candidate; one site of 200 takes A and B.
    choice = choose_sites(
        DEMAND,
        EXISTING_SEATS,
        EXISTING_COST,
        np.array([200] * 3),
        CANDIDATE_COST,
        1,
        300.0,
        objective="travel",
    )
    assert int(choice.children.sum()) == 190
    assert choice.chosen == [0]
    assert choice.total_cost == pytest.approx(100 * 50 + 60 * 900 + 30 * 100)


def test_k_beyond_the_candidates_is_refused() -> None:
    with pytest.raises(InvalidRequestError, match="between 0 and the 3 candidates"):
        choose_sites(DEMAND, EXISTING_SEATS, EXISTING_COST, np.array([1] * 3), CANDIDATE_COST, 4, 1)
