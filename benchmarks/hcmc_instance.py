"""A grade-1 admissions problem on the real Ho Chi Minh City roads, for benchmarks and tests.

Homes: `applicants` points spread over the 2019 wards in proportion to their population, each
moved to the nearest node of the motorbike network (homes lie on the road network, so children
at the same node share every road distance). Schools: the extract's primary schools (levels as
the importer infers them). Costs: road metres by motorbike, from the distance fields of every
school. Seats: classes of 35 for about 1.05 x the children, half spread evenly over the schools
and half in proportion to how many homes each school is nearest to. Tiers: 4 % priority
categories (tier 0), everyone else tier 1. Data © OpenStreetMap contributors.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import shapely
from scipy.spatial import cKDTree

from allocation.problem import PRIMARY_CLASS_SIZE, Problem
from gis_service.importers.osm import read_extract
from gis_service.importers.report import no_progress
from gis_service.routing.distances import compute_fields
from gis_service.routing.graph import RoadGraph, build_graph
from gis_service.routing.profiles import default_profile
from gis_service.routing.snap import Snapper
from gis_service.school_levels import infer_levels

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
PBF = SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"
WARDS = SHARED / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp"
SEAT_RATIO = 1.05
PRIORITY_SHARE = 0.04


@dataclass(frozen=True)
class HcmcInstance:
    """The problem and where it came from (home nodes, school OSM ids)."""

    problem: Problem
    home_node: np.ndarray  # int64 [n], motorbike graph node of each home
    school_osm: np.ndarray  # int64 [m]
    graph_nodes: int


def motorbike_graph() -> RoadGraph:
    """The motorbike network of the 2018 extract (largest strongly connected part)."""
    extract = read_extract(PBF, no_progress)
    graph = build_graph(
        extract.way_ids,
        extract.way_tags,
        extract.way_nodes,
        extract.way_coords,
        default_profile("motorbike"),
    )
    primary = [
        (record.osm_id, record.lon, record.lat)
        for record in extract.schools.values()
        if "tieu_hoc" in infer_levels(record.tags).levels
    ]
    primary.sort()
    _primary_cache[id(graph)] = np.asarray(primary, dtype=np.float64).reshape(-1, 3)
    return graph


_primary_cache: dict[int, np.ndarray] = {}


def ward_homes(graph: RoadGraph, count: int, seed: int) -> np.ndarray:
    """Graph node of `count` homes placed by 2019 ward population (uniform inside each ward)."""
    wards = gpd.read_file(WARDS).to_crs(32648)
    rng = np.random.default_rng(seed)
    share = wards["Pop_2019"].to_numpy(float)
    per_ward = rng.multinomial(count, share / share.sum())
    xs, ys = [], []
    for geom, need in zip(wards.geometry, per_ward.tolist(), strict=True):
        minx, miny, maxx, maxy = geom.bounds
        while need > 0:
            cx = rng.uniform(minx, maxx, need * 3 + 8)
            cy = rng.uniform(miny, maxy, need * 3 + 8)
            inside = np.flatnonzero(shapely.contains_xy(geom, cx, cy))[:need]
            xs.append(cx[inside])
            ys.append(cy[inside])
            need -= len(inside)
    tree = cKDTree(np.column_stack([graph.node_x, graph.node_y]))
    _, node = tree.query(np.column_stack([np.concatenate(xs), np.concatenate(ys)]))
    return np.asarray(node, dtype=np.int64)


def hcmc_problem(applicants: int, *, seed: int = 2019, cache: Path | None = None) -> HcmcInstance:
    """The instance of `applicants` children (cached as .npz in `cache` when given)."""
    path = None
    if cache is not None:
        tag = hashlib.sha256(f"{PBF.stat().st_size}:{applicants}:{seed}:v1".encode()).hexdigest()
        path = cache / f"hcmc-{applicants}-{seed}-{tag[:12]}.npz"
        if path.exists():
            with np.load(path) as data:
                return _instance(
                    data["cost"], data["home_node"], data["school_osm"], int(data["nodes"]), seed
                )
    graph = motorbike_graph()
    schools = _primary_cache.pop(id(graph))
    home_node = ward_homes(graph, applicants, seed)
    fields = compute_fields(graph, schools[:, 1], schools[:, 2], schools[:, 0].astype(np.int64))
    nodes, inverse = np.unique(home_node, return_inverse=True)
    snapper = Snapper(graph)
    at_nodes = snapper.snap(graph.node_lon[nodes], graph.node_lat[nodes], 1000.0)
    node_cost = fields.cost_from_points(at_nodes)
    reachable = np.isfinite(node_cost).all(axis=0)
    node_cost = np.rint(node_cost[:, reachable]).astype(np.int32)
    cost = node_cost[inverse]
    school_osm = schools[reachable, 0].astype(np.int64)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(path.name + ".partial.npz")
        np.savez(
            partial, cost=cost, home_node=home_node, school_osm=school_osm, nodes=graph.n_nodes
        )
        os.replace(partial, path)
    return _instance(cost, home_node, school_osm, graph.n_nodes, seed)


def _instance(
    cost: np.ndarray, home_node: np.ndarray, school_osm: np.ndarray, nodes: int, seed: int
) -> HcmcInstance:
    n, m = cost.shape
    rng = np.random.default_rng(seed + 1)
    nearest = np.bincount(np.argmin(cost, axis=1), minlength=m)
    total_classes = int(np.ceil(SEAT_RATIO * n / PRIMARY_CLASS_SIZE))
    weight = 0.5 / m + 0.5 * nearest / max(n, 1)
    classes = np.maximum(1, np.floor(weight * total_classes)).astype(np.int64)
    short = total_classes - int(classes.sum())
    if short > 0:
        classes[np.argsort(-(weight * total_classes - classes), kind="stable")[:short]] += 1
    tier = (rng.random(n) >= PRIORITY_SHARE).astype(np.int64)
    problem = Problem(
        applicant_ids=tuple(f"HS{i:06d}" for i in range(n)),
        school_ids=tuple(f"osm{int(s)}" for s in school_osm),
        cost=cost,
        classes=classes,
        class_size=np.full(m, PRIMARY_CLASS_SIZE, dtype=np.int64),
        tier=tier,
        seed=seed,
    )
    return HcmcInstance(problem, np.asarray(home_node, np.int64), school_osm, nodes)


SIBLING_SHARE = 0.03
"""Share of children in a sibling pair (two children of the same home)."""


def with_siblings(instance: HcmcInstance) -> Problem:
    """The problem with sibling pairs: two children of the same home, about SIBLING_SHARE."""
    problem = instance.problem
    rng = np.random.default_rng(problem.seed + 2)
    order = np.argsort(instance.home_node, kind="stable")
    node = instance.home_node[order]
    same_as_next = np.flatnonzero(node[:-1] == node[1:])
    wanted = int(problem.n * SIBLING_SHARE / 2)
    picked = rng.permutation(same_as_next)
    groups: list[str | None] = [None] * problem.n
    taken = np.zeros(problem.n, dtype=bool)
    pairs = 0
    for k in picked.tolist():
        if pairs >= wanted:
            break
        a, b = int(order[k]), int(order[k + 1])
        if taken[a] or taken[b]:
            continue
        taken[a] = taken[b] = True
        groups[a] = groups[b] = f"family-{pairs}"
        pairs += 1
    return dataclasses.replace(problem, sibling_group=tuple(groups))
