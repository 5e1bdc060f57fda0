"""The zones' areas of many schools at once, one piece of batch work per school."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import shapely

from gis_service.executor import Executor, configured_executor
from gis_service.routing.distances import area_within
from gis_service.routing.graph import RoadGraph


def _zone_area(
    graph: RoadGraph, job: tuple[np.ndarray, float]
) -> shapely.Polygon | shapely.MultiPolygon:
    node_cost, budget = job
    return area_within(graph, node_cost, budget)


def zone_areas(
    graph: RoadGraph,
    node_costs: Sequence[np.ndarray],
    budgets: Sequence[float],
    executor: Executor | None = None,
) -> list[shapely.Polygon | shapely.MultiPolygon]:
    """`area_within(graph, node_costs[i], budgets[i])` for every i, in order.

    Each school's area is independent of the others': they run as pieces of `executor`
    (default: the Dask cluster of SCHOOLMAP_DASK_SCHEDULER when set, else forked local
    processes; see gis_service.executor), the graph shared by all of them.
    """
    jobs = [
        (np.asarray(cost), float(budget)) for cost, budget in zip(node_costs, budgets, strict=True)
    ]
    if not jobs:
        return []
    runner = executor or configured_executor()
    return list(runner.map_blocks(_zone_area, jobs, shared=graph))
