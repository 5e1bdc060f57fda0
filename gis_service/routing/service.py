"""Road distances for the API: graphs loaded once per mode, schools snapped once per version."""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from gis_service.db.connection import Connection
from gis_service.errors import (
    FieldsFileError,
    InvalidRequestError,
    NetworkNotBuiltError,
    NotFoundError,
    OutsideNetworkError,
)
from gis_service.routing.distances import (
    DistanceFields,
    Route,
    compute_fields,
    reachable_area,
    route,
)
from gis_service.routing.field_store import TILES_FORMAT
from gis_service.routing.graph import RoadGraph
from gis_service.routing.profiles import MODES
from gis_service.routing.snap import Snapped, Snapper
from gis_service.routing.store import NetworkRecord, load_graph
from gis_service.text import metres

logger = logging.getLogger(__name__)

# A home farther than this from any usable road is outside the network area.
MAX_SNAP_M = 1000.0
ESTIMATED_DETOUR = 1.4
"""For allocation, a home (or school) farther than MAX_SNAP_M from every mapped road is still
joined to the nearest one: that stretch off the map counts as its straight line times this
factor (paths are not straight), and every cost it is part of is marked estimated."""
# Schools farther than this by road are not offered as "near".
NEAR_CUTOFF_M = 30_000.0


ACCESS_RULE = f"access{MAX_SNAP_M:g}x{ESTIMATED_DETOUR:g}"
"""The rule above, as cached fields name it (fields made under another rule are not reused)."""

FIELD_RADIUS_M = {"tieu_hoc": 100_000.0, "thcs": 100_000.0}
"""How far by road each level's distance fields reach: beyond the farthest child a whole Ho Chi
Minh City round places (72.6 km in benchmarks/field_radius_hcmc.py, where every outcome stays
the same with the radius), so within a city nothing changes, while a province's or the
nation's fields stop searching there. A home beyond every school's radius is given the
estimated distance (admissions.build). Fields of all levels together (what
a map shows near a home, any level) are not cut."""


def field_cutoff(graph: RoadGraph, level: str | None, weight: str) -> float | None:
    """Where the fields of a level stop: its radius in metres, or for travel times the time
    the radius takes at the network's slowest road speed, so a node within the radius by road
    is always within the time too. None: not cut."""
    radius = FIELD_RADIUS_M.get(level or "")
    if radius is None:
        return None
    if weight == "length":
        return radius
    moving = graph.edge_time_s > 0
    slowest = float(np.min(graph.edge_length_m[moving] / graph.edge_time_s[moving]))
    return radius / slowest


def radius_rule(level: str | None) -> str:
    """The radius of a level's fields, as cached fields name it."""
    radius = FIELD_RADIUS_M.get(level or "")
    return "r-none" if radius is None else f"r{radius:g}"


def estimated_sources(fields: DistanceFields) -> np.ndarray:
    """Which schools of the fields lie off the mapped roads, reached at an estimated detour
    (bool [n_sources]): their stretch to the road counts over MAX_SNAP_M only when estimated."""
    return np.asarray(fields.source_snap.ok & (fields.source_snap.offset_m > MAX_SNAP_M))


def with_estimated_access(snapped: Snapped) -> tuple[Snapped, np.ndarray]:
    """Points snapped without a distance limit, with the stretch of those farther than
    MAX_SNAP_M from a mapped road counted at ESTIMATED_DETOUR times its straight line; and
    which points those are."""
    far = np.asarray(snapped.ok & (snapped.offset_m > MAX_SNAP_M))
    offset = np.where(far, snapped.offset_m * ESTIMATED_DETOUR, snapped.offset_m)
    return replace(snapped, offset_m=offset), far


@dataclass
class FieldsEntry:
    """Distance fields of one set of schools, valid while their fingerprint holds."""

    fingerprint: str
    fields: DistanceFields


@dataclass
class SchoolPoints:
    """Schools of one level snapped to one network, keyed by a fingerprint of their rows."""

    fingerprint: str
    ids: np.ndarray
    lon: np.ndarray
    lat: np.ndarray
    snapped: Snapped
    data_version: int | None = None
    """The public data version these points were read at, when the caller gave one."""


@dataclass
class ModeNetwork:
    """One travel mode's loaded graph and spatial index."""

    record: NetworkRecord
    graph: RoadGraph
    snapper: Snapper
    schools: dict[str, SchoolPoints]
    fields: dict[tuple[str, str], FieldsEntry] = field(default_factory=dict)
    fields_lock: threading.Lock = field(default_factory=threading.Lock)


def straight_metres(lon: float, lat: float, lons: np.ndarray, lats: np.ndarray) -> np.ndarray:
    """Great-circle distances in metres (haversine) from one point to many."""
    radius = 6_371_008.8
    p1, p2 = np.radians(lat), np.radians(lats)
    dlat = p2 - p1
    dlon = np.radians(lons - lon)
    a = np.sin(dlat / 2) ** 2 + np.cos(p1) * np.cos(p2) * np.sin(dlon / 2) ** 2
    return np.asarray(2 * radius * np.arcsin(np.sqrt(a)))


def fields_path(home: Path, record: NetworkRecord, key: tuple[str, str], schools: str) -> Path:
    """The cache file of one set of fields; its name carries every version it depends on (the
    fields' layout on disk too, routing.field_store.TILES_FORMAT)."""
    digest = hashlib.sha256(schools.encode()).hexdigest()[:12]
    level = None if key[0] == "all" else key[0]
    return (
        home
        / "fields"
        / (
            f"{record.mode}-{record.network_id}-{record.params_hash[:12]}-{key[0]}-{key[1]}-"
            f"{ACCESS_RULE}-{radius_rule(level)}-{TILES_FORMAT}-{digest}.npz"
        )
    )


def check_mode(mode: str) -> str:
    if mode not in MODES:
        raise InvalidRequestError(f"unknown travel mode {mode!r}; use one of {', '.join(MODES)}")
    return mode


class RoutingService:
    """Loads each mode's newest network once and answers near / route / reach questions."""

    def __init__(self, home: Path) -> None:
        self.home = home
        self._networks: dict[str, ModeNetwork] = {}
        self._lock = threading.Lock()

    def network(self, conn: Connection, mode: str) -> ModeNetwork:
        check_mode(mode)
        with self._lock:
            loaded = self._networks.get(mode)
            if loaded is None:
                record, graph = load_graph(conn, mode, self.home)
                loaded = ModeNetwork(record, graph, Snapper(graph), {})
                self._networks[mode] = loaded
            return loaded

    def load_all(self, conn: Connection) -> list[str]:
        """Load every mode that has a built network (at start-up); return the modes loaded."""
        loaded = []
        for mode in MODES:
            try:
                self.network(conn, mode)
            except NetworkNotBuiltError:
                continue
            loaded.append(mode)
        return loaded

    def snap_home(self, net: ModeNetwork, lon: float, lat: float) -> Snapped:
        snapped = net.snapper.snap(np.array([lon]), np.array([lat]), MAX_SNAP_M)
        if not bool(snapped.ok[0]):
            raise OutsideNetworkError(
                f"Điểm ({lat:.6f}, {lon:.6f}) cách mọi con đường trên bản đồ hơn "
                f"{metres(MAX_SNAP_M)}, ngoài vùng có đường của thành phố: hãy đặt ghim vào đúng "
                f"nhà, hoặc tìm theo địa chỉ / the point ({lat:.6f}, {lon:.6f}) is more than "
                f"{MAX_SNAP_M:.0f} m from any road of the {net.record.mode} network: it is "
                "outside the network area; drop the pin on the home, or find it by its address"
            )
        return snapped

    def school_points(
        self,
        conn: Connection,
        net: ModeNetwork,
        level: str | None,
        data_version: int | None = None,
    ) -> SchoolPoints:
        """Schools (of a level) snapped to the network; re-snapped when the schools change.

        Given the public data version the caller read (it moves with any change to schools),
        points read at that version are reused without asking the database again.
        """
        key = level or "*"
        cached = net.schools.get(key)
        if cached is not None and data_version is not None and cached.data_version == data_version:
            return cached
        clause = "WHERE %s = ANY(levels)" if level else ""
        params = (level,) if level else ()
        with conn.cursor() as cur:
            # Any added, removed or moved school changes the count, the id sum or the newest
            # update time, so this one cheap row tells whether the snapped set is still good.
            cur.execute(
                f"SELECT count(*), COALESCE(sum(id), 0), max(updated_at) FROM schools {clause}",
                params,
            )
            fingerprint = repr(cur.fetchone())
            if cached is not None and cached.fingerprint == fingerprint:
                if data_version is not None:
                    cached = replace(cached, data_version=data_version)
                    net.schools[key] = cached
                return cached
            cur.execute(
                f"SELECT id, ST_X(geom), ST_Y(geom) FROM schools {clause} ORDER BY id", params
            )
            rows = cur.fetchall()
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        lon = np.array([r[1] for r in rows], dtype=np.float64)
        lat = np.array([r[2] for r in rows], dtype=np.float64)
        snapped = net.snapper.snap(lon, lat, MAX_SNAP_M)
        points = SchoolPoints(fingerprint, ids, lon, lat, snapped, data_version)
        net.schools[key] = points
        return points

    def fields(
        self,
        conn: Connection,
        net: ModeNetwork,
        level: str | None,
        weight: str,
        progress: Callable[[str], None] | None = None,
        schools: SchoolPoints | None = None,
    ) -> DistanceFields:
        """Fields to every school of a level: from memory, else the cache file, else computed.

        They are keyed by the network version and a fingerprint of the schools, so a new
        network or any added, moved or removed school computes them afresh.
        """
        schools = schools or self.school_points(conn, net, level)
        key = (level or "all", weight)
        with net.fields_lock:
            held = _held_fields(net, key, schools.fingerprint)
            if held is not None:
                return held
            path = fields_path(self.home, net.record, key, schools.fingerprint)
            computed = _cached_fields(path)
            if computed is None:
                computed = compute_fields(
                    net.graph,
                    schools.lon,
                    schools.lat,
                    schools.ids,
                    weight,
                    field_cutoff(net.graph, level, weight),
                    # A school off the mapped roads is joined to the nearest one all the same,
                    # at an estimated detour, as homes are: its children are never left out.
                    np.inf,
                    progress,
                    snapper=net.snapper,
                    access=lambda snapped: with_estimated_access(snapped)[0],
                )
                path.parent.mkdir(parents=True, exist_ok=True)
                computed.save(path)
                # Read back mapped: the copy every worker shares, not one of this worker's own.
                computed = DistanceFields.load(path)
            net.fields[key] = FieldsEntry(schools.fingerprint, computed)
            return computed

    def near(
        self,
        conn: Connection,
        lon: float,
        lat: float,
        mode: str,
        level: str | None,
        limit: int,
        data_version: int | None = None,
    ) -> list[dict[str, Any]]:
        """Schools ordered by road distance from a home, with time and straight distance."""
        net = self.network(conn, mode)
        home = self.snap_home(net, lon, lat)
        schools = self.school_points(conn, net, level, data_version)
        by_length = self.fields(conn, net, level, "length", schools=schools)
        if by_length.n_sources == 0:
            return []
        by_time = self.fields(conn, net, level, "time", schools=schools)
        return _nearest(home, lon, lat, limit, schools, by_length, by_time)

    def near_from_memory(
        self,
        lon: float,
        lat: float,
        mode: str,
        level: str | None,
        limit: int,
        data_version: int,
    ) -> list[dict[str, Any]] | None:
        """`near`'s answer when all it needs is already in memory at this public data version
        (no database, no file, a fraction of a millisecond), else None."""
        net = self._networks.get(mode)
        if net is None:
            return None
        schools = net.schools.get(level or "*")
        if schools is None or schools.data_version != data_version:
            return None
        by_length = _held_fields(net, (level or "all", "length"), schools.fingerprint)
        by_time = _held_fields(net, (level or "all", "time"), schools.fingerprint)
        if by_length is None or by_time is None:
            return None
        home = self.snap_home(net, lon, lat)
        return _nearest(home, lon, lat, limit, schools, by_length, by_time)

    def route_to_school(
        self, conn: Connection, lon: float, lat: float, school_id: int, mode: str, weight: str
    ) -> Route:
        net = self.network(conn, mode)
        home = self.snap_home(net, lon, lat)
        school = self._school_snap(conn, net, school_id)
        return route(net.graph, home, school, weight)

    def reach(self, conn: Connection, school_id: int, mode: str, minutes: float) -> Any:
        """The area reachable from the school within the minutes (a lon/lat polygon)."""
        net = self.network(conn, mode)
        school = self._school_snap(conn, net, school_id)
        return reachable_area(net.graph, school, minutes * 60.0)

    def _school_snap(self, conn: Connection, net: ModeNetwork, school_id: int) -> Snapped:
        with conn.cursor() as cur:
            cur.execute("SELECT ST_X(geom), ST_Y(geom) FROM schools WHERE id = %s", (school_id,))
            row = cur.fetchone()
        if row is None:
            raise NotFoundError(f"no school with id {school_id}")
        snapped = net.snapper.snap(np.array([row[0]]), np.array([row[1]]), MAX_SNAP_M)
        if not bool(snapped.ok[0]):
            raise OutsideNetworkError(
                f"school {school_id} is more than {MAX_SNAP_M:.0f} m from any road of the "
                f"{net.record.mode} network"
            )
        return snapped


def _cached_fields(path: Path) -> DistanceFields | None:
    """The fields of a cache file, or None when there is none or it cannot be read (damaged,
    or of another layout): a cache, recomputed then."""
    if not path.is_file():
        return None
    try:
        return DistanceFields.load(path)
    except FieldsFileError as error:
        logger.warning("%s", error)
        return None


def _held_fields(net: ModeNetwork, key: tuple[str, str], fingerprint: str) -> DistanceFields | None:
    """The fields of `key` the worker holds in memory for these schools, if any."""
    entry = net.fields.get(key)
    return entry.fields if entry is not None and entry.fingerprint == fingerprint else None


def _nearest(
    home: Snapped,
    lon: float,
    lat: float,
    limit: int,
    schools: SchoolPoints,
    by_length: DistanceFields,
    by_time: DistanceFields,
) -> list[dict[str, Any]]:
    """The `limit` schools nearest a snapped home by road, within NEAR_CUTOFF_M."""
    if by_length.n_sources == 0:
        return []  # (the fields of a level with no school)
    metres = by_length.cost_from_points(home)[0]
    order = np.argsort(metres, kind="stable")
    order = order[np.isfinite(metres[order]) & (metres[order] <= NEAR_CUTOFF_M)][:limit]
    seconds = by_time.cost_from_points(home, order)[0]
    keys = by_length.source_keys
    position = np.searchsorted(schools.ids, keys[order])
    straight = straight_metres(lon, lat, schools.lon[position], schools.lat[position])
    far = estimated_sources(by_length)
    return [
        {
            "school_id": int(keys[i]),
            "distance_m": round(float(metres[i]), 1),
            "time_min": round(float(seconds[rank]) / 60.0, 2),
            "straight_m": round(float(straight[rank]), 1),
            # Off the mapped roads: the stretch to the nearest road is estimated.
            **({"estimated": True} if far[i] else {}),
        }
        for rank, i in enumerate(order)
    ]
