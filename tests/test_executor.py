"""Batch work through one executor: a Dask cluster gives the same distance fields as local
processes, survives a worker killed mid-job, and an unreachable scheduler is a clear error."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely

from gis_service.config import ClusterSettings
from gis_service.errors import ClusterError, ClusterUnavailableError
from gis_service.executor import DaskCluster, LocalProcesses, configured_executor
from gis_service.planning.zone_areas import zone_areas
from gis_service.routing import distances
from gis_service.routing.distances import compute_fields
from gis_service.routing.graph import RoadGraph
from tests.conftest import ROOT
from tests.dask_cluster import KillingAlways, KillingOnce, RunningCluster, local_cluster
from tests.test_routing_graph import d1_graph

N_SOURCES = 200  # 7 blocks of FIELD_CHUNK sources: more tasks than workers


@pytest.fixture(scope="module")
def graph() -> RoadGraph:
    return d1_graph("quan1_osmnx_drive_2023.osm.bz2", "car")


@pytest.fixture(scope="module")
def sources(graph: RoadGraph) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(5)
    pick = rng.integers(0, graph.n_nodes, N_SOURCES)
    lon = graph.node_lon[pick] + rng.normal(0, 0.0005, N_SOURCES)
    lat = graph.node_lat[pick] + rng.normal(0, 0.0005, N_SOURCES)
    return lon, lat, pick.astype(np.int64)


@pytest.fixture(scope="module")
def local_fields(graph: RoadGraph, sources: tuple[np.ndarray, ...]) -> np.ndarray:
    lon, lat, keys = sources
    return np.asarray(compute_fields(graph, lon, lat, keys, "time", 900.0, workers=1).dense())


@pytest.fixture(scope="module")
def cluster() -> Iterator[RunningCluster]:
    with local_cluster(ROOT) as running:
        yield running


def test_fields_through_dask_equal_the_local_ones(
    graph: RoadGraph,
    sources: tuple[np.ndarray, ...],
    local_fields: np.ndarray,
    cluster: RunningCluster,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    lon, lat, keys = sources
    messages: list[str] = []
    direct = compute_fields(
        graph,
        lon,
        lat,
        keys,
        "time",
        900.0,
        progress=messages.append,
        executor=DaskCluster(cluster.address),
    )
    assert np.array_equal(direct.dense(), local_fields)
    assert direct.dense().tobytes() == local_fields.tobytes()
    assert messages[0] == f"distance fields: 0/{N_SOURCES}"
    assert messages[-1] == f"distance fields: {N_SOURCES}/{N_SOURCES}"
    # The setting alone sends the default computation (the CLI's and the service's) there.
    connects: list[str] = []
    connect = DaskCluster._connect

    def counted(self: DaskCluster) -> Any:
        connects.append(self.address)
        return connect(self)

    monkeypatch.setattr(DaskCluster, "_connect", counted)
    monkeypatch.setenv("SCHOOLMAP_DASK_SCHEDULER", cluster.address)
    configured = compute_fields(graph, lon, lat, keys, "time", 900.0)
    assert connects == [cluster.address]
    assert configured.dense().tobytes() == local_fields.tobytes()
    # A caller naming its local workers keeps them.
    compute_fields(graph, lon[:5], lat[:5], keys[:5], "time", 900.0, workers=1)
    assert connects == [cluster.address]


def test_school_zones_through_dask_equal_the_local_ones(
    graph: RoadGraph, sources: tuple[np.ndarray, ...], cluster: RunningCluster
) -> None:
    lon, lat, keys = sources
    fields = compute_fields(graph, lon[:12], lat[:12], keys[:12], "length", workers=1)
    rows = [fields.source_row(i) for i in range(12)]
    budgets = [300.0 + 150.0 * i for i in range(12)]
    here = zone_areas(graph, rows, budgets, LocalProcesses(workers=1))
    there = zone_areas(graph, rows, budgets, DaskCluster(cluster.address))
    assert [shapely.to_wkb(a) for a in there] == [shapely.to_wkb(a) for a in here]
    assert all(not a.is_empty for a in here)


def test_a_worker_killed_mid_job_changes_nothing(
    graph: RoadGraph,
    sources: tuple[np.ndarray, ...],
    local_fields: np.ndarray,
    cluster: RunningCluster,
    tmp_path: Path,
) -> None:
    lon, lat, keys = sources
    marker = tmp_path / "killed"
    fields = compute_fields(
        graph, lon, lat, keys, "time", 900.0, executor=KillingOnce(cluster.address, marker)
    )
    assert int(marker.read_text()) in cluster.worker_pids, (
        "a worker process of the cluster was killed"
    )
    assert fields.dense().tobytes() == local_fields.tobytes()


def test_a_piece_that_keeps_killing_workers_fails_the_job_clearly(
    graph: RoadGraph, sources: tuple[np.ndarray, ...], cluster: RunningCluster
) -> None:
    lon, lat, keys = sources
    with pytest.raises(ClusterError) as raised:
        compute_fields(
            graph, lon[:10], lat[:10], keys[:10], executor=KillingAlways(cluster.address)
        )
    assert f"(the Dask cluster at {cluster.address}); see the workers' logs" in str(raised.value)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_scheduler_is_a_clear_error_soon(
    graph: RoadGraph, sources: tuple[np.ndarray, ...], monkeypatch: pytest.MonkeyPatch
) -> None:
    lon, lat, keys = sources
    address = f"tcp://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("SCHOOLMAP_DASK_SCHEDULER", address)
    monkeypatch.setenv("SCHOOLMAP_DASK_CONNECT_TIMEOUT_S", "2")
    started = time.monotonic()
    with pytest.raises(ClusterUnavailableError) as raised:
        compute_fields(graph, lon[:40], lat[:40], keys[:40])
    assert time.monotonic() - started < 10
    message = str(raised.value)
    assert message.startswith("Không kết nối được với cụm Dask tại " + address)
    assert "Could not use the Dask cluster at " + address in message
    assert "SCHOOLMAP_DASK_SCHEDULER" in message


def test_importing_the_service_does_not_import_dask() -> None:
    script = (
        "import sys\n"
        "import gis_service.api.app, gis_service.cli, gis_service.routing.service\n"
        "import gis_service.executor\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('dask', 'distributed')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert done.stdout.strip() == "[]"


def test_a_scheduler_without_workers_is_a_clear_error_soon(
    graph: RoadGraph, sources: tuple[np.ndarray, ...]
) -> None:
    lon, lat, keys = sources
    with local_cluster(ROOT, workers=0) as idle:
        started = time.monotonic()
        with pytest.raises(ClusterUnavailableError) as raised:
            compute_fields(graph, lon, lat, keys, executor=DaskCluster(idle.address, 2.0))
        assert time.monotonic() - started < 10
    assert "(không có worker / no workers)" in str(raised.value)
    assert idle.address in str(raised.value)


def test_no_scheduler_set_means_local_processes_that_fork_as_before(
    graph: RoadGraph,
    sources: tuple[np.ndarray, ...],
    local_fields: np.ndarray,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Last here: the Dask jobs above left no thread behind that would stop this forking."""
    assert isinstance(configured_executor(ClusterSettings(scheduler=None)), LocalProcesses)
    assert isinstance(configured_executor(ClusterSettings(scheduler="  ")), LocalProcesses)
    assert isinstance(
        configured_executor(ClusterSettings(scheduler="tcp://10.0.0.5:8786")), DaskCluster
    )
    pools: list[int] = []

    class CountedPool(distances.ProcessPoolExecutor):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            pools.append(kwargs["max_workers"])
            super().__init__(*args, **kwargs)

    monkeypatch.delenv("SCHOOLMAP_DASK_SCHEDULER", raising=False)
    monkeypatch.setattr(distances, "ProcessPoolExecutor", CountedPool)
    lon, lat, keys = sources
    fields = compute_fields(graph, lon, lat, keys, "time", 900.0, workers=2)
    assert threading.active_count() == 1, threading.enumerate()
    assert pools == [2]
    assert fields.dense().tobytes() == local_fields.tobytes()
