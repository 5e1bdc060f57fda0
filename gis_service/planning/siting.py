"""New-school siting on the road network: candidates (unit centres, a file, a grid, existing
schools gaining classes), their travel times to the forecast children of the units of an
edition (the current one by default), and the k best."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from gis_service.db.connection import Connection
from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.planning.forecast import run_forecast
from gis_service.planning.gap import (
    LEVEL_OF_GRADE,
    SCHOOL_UNITS,
    GapSettings,
    demand_parts,
    load_facilities,
    sample_demand_points,
)
from gis_service.planning.inputs import load_inputs
from gis_service.planning.siting_model import choose_sites
from gis_service.routing.distances import compute_fields
from gis_service.routing.graph import to_lonlat
from gis_service.routing.service import MAX_SNAP_M, RoutingService

CANDIDATE_KINDS = ("wards", "grid", "file", "schools")


@dataclass(frozen=True)
class Candidates:
    """Candidate sites: names, places and, for existing schools, their ids."""

    name: list[str]
    lon: np.ndarray
    lat: np.ndarray
    school_id: list[int | None]


def ward_centre_candidates(conn: Connection, ward_ids: list[int]) -> Candidates:
    """One point inside each ward (PostGIS point on surface)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT name, ST_X(ST_PointOnSurface(geom)), ST_Y(ST_PointOnSurface(geom)) "
            "FROM admin_units WHERE id = ANY(%s) AND geom IS NOT NULL ORDER BY code",
            (ward_ids,),
        )
        rows = cur.fetchall()
    return Candidates(
        [f"Trung tâm {r[0]}" for r in rows],
        np.array([r[1] for r in rows]),
        np.array([r[2] for r in rows]),
        [None] * len(rows),
    )


def grid_candidates(conn: Connection, ward_ids: list[int], spacing_m: float) -> Candidates:
    """Points of a square grid (UTM metres) that fall inside the wards."""
    if spacing_m < 100:
        raise InvalidRequestError("grid spacing must be at least 100 m")
    with conn.cursor() as cur:
        cur.execute(
            "SELECT ST_XMin(e), ST_YMin(e), ST_XMax(e), ST_YMax(e) FROM (SELECT "
            "ST_Extent(ST_Transform(geom, 32648))::geometry AS e FROM admin_units "
            "WHERE id = ANY(%s)) b",
            (ward_ids,),
        )
        extent = cur.fetchone()
        if extent is None or extent[0] is None:
            raise InvalidRequestError("the wards have no polygons to lay a grid over")
        x0, y0, x1, y1 = extent
        xs, ys = np.meshgrid(
            np.arange(x0 + spacing_m / 2, x1, spacing_m),
            np.arange(y0 + spacing_m / 2, y1, spacing_m),
        )
        if xs.size > 5000:
            raise InvalidRequestError(
                f"a {spacing_m:.0f} m grid gives {xs.size} points; use a wider spacing"
            )
        lon, lat = to_lonlat(xs.ravel(), ys.ravel())
        cur.execute(
            "SELECT p.i FROM unnest(%s::float8[], %s::float8[]) WITH ORDINALITY AS p(x, y, i) "
            "WHERE EXISTS (SELECT 1 FROM admin_units w WHERE w.id = ANY(%s) AND "
            "ST_Contains(w.geom, ST_SetSRID(ST_MakePoint(p.x, p.y), 4326))) ORDER BY p.i",
            (lon.tolist(), lat.tolist(), ward_ids),
        )
        keep = np.array([r[0] - 1 for r in cur.fetchall()], np.int64)
    return Candidates(
        [f"Ô lưới {i + 1}" for i in range(len(keep))], lon[keep], lat[keep], [None] * len(keep)
    )


def file_candidates(path: Path) -> Candidates:
    """Listed vacant parcels: a CSV with lon, lat (and name) or GeoJSON points."""
    if not path.is_file():
        raise ImportFileError(path, "no such file")
    if path.suffix.lower() == ".csv":
        frame = pd.read_csv(path)
        if not {"lon", "lat"} <= set(frame.columns):
            raise ImportFileError(path, "the CSV needs columns lon and lat (and may have name)")
        names: list[str | None] = (
            [str(n) for n in frame["name"]] if "name" in frame else [None] * len(frame)
        )
        lon, lat = frame["lon"].to_numpy(float), frame["lat"].to_numpy(float)
    else:
        try:
            features = json.loads(path.read_text())["features"]
            coords = [f["geometry"]["coordinates"] for f in features]
        except (ValueError, KeyError, TypeError) as exc:
            raise ImportFileError(
                path, f"not a GeoJSON FeatureCollection of points ({exc})"
            ) from exc
        names = [str((f.get("properties") or {}).get("name", "")) or None for f in features]
        lon = np.array([c[0] for c in coords], float)
        lat = np.array([c[1] for c in coords], float)
    if len(lon) == 0:
        raise ImportFileError(path, "no parcels listed")
    labels = [n or f"Lô {i + 1}" for i, n in enumerate(names)]
    return Candidates(labels, lon, lat, [None] * len(lon))


def school_candidates(
    conn: Connection, grade: int, ward_ids: list[int], edition: str
) -> Candidates:
    """Existing schools of the grade's level in the units (of the edition), as places to add
    classes."""
    with conn.cursor() as cur:
        cur.execute(
            f"""
            WITH placed AS ({SCHOOL_UNITS})
            SELECT s.id, s.name, ST_X(s.geom), ST_Y(s.geom)
            FROM schools s JOIN placed p ON p.school_id = s.id
            WHERE p.unit_id = ANY(%(units)s) ORDER BY s.id
            """,
            {"level": LEVEL_OF_GRADE[grade], "edition": edition, "units": ward_ids},
        )
        rows = cur.fetchall()
    return Candidates(
        [r[1] for r in rows],
        np.array([r[2] for r in rows]),
        np.array([r[3] for r in rows]),
        [r[0] for r in rows],
    )


def site_schools(
    conn: Connection,
    routing: RoutingService,
    settings: GapSettings,
    *,
    kind: str = "wards",
    k: int = 1,
    classes: int = 5,
    minutes: float = 15.0,
    objective: str = "coverage",
    spacing_m: float = 1500.0,
    parcels: Path | None = None,
    time_limit_s: float = 60.0,
) -> dict[str, Any]:
    """Choose k candidates (new schools of `classes` classes of the grade, or existing schools
    gaining `classes`) serving the most forecast children within `minutes` (or least travel)."""
    if kind not in CANDIDATE_KINDS:
        raise InvalidRequestError(f"unknown candidates {kind!r}; use {', '.join(CANDIDATE_KINDS)}")
    inputs = load_inputs(conn, settings.district_codes, settings.edition, settings.unit_codes)
    forecast = run_forecast(inputs, [settings.school_year], [settings.grade])
    children = forecast.ward_children(settings.grade, settings.school_year)
    ward_ids = sorted(children)
    if kind == "wards":
        candidates = ward_centre_candidates(conn, ward_ids)
    elif kind == "grid":
        candidates = grid_candidates(conn, ward_ids, spacing_m)
    elif kind == "schools":
        candidates = school_candidates(conn, settings.grade, ward_ids, forecast.edition)
    else:
        if parcels is None:
            raise InvalidRequestError("candidates from a file need the parcels file")
        candidates = file_candidates(parcels)
    if len(candidates.name) == 0:
        raise InvalidRequestError("không có địa điểm ứng viên / no candidate sites found")
    net = routing.network(conn, settings.mode)
    parts = demand_parts(conn, forecast, settings.grade, settings.school_year)
    points = sample_demand_points(conn, net, children, settings.per_ward, settings.seed, parts)
    snapped = net.snapper.snap(points.lon, points.lat, MAX_SNAP_M)
    facilities = load_facilities(conn, settings, forecast.edition)
    size = settings.size
    limit_s = minutes * 60.0
    if len(facilities.key):
        fields = routing.fields(conn, net, LEVEL_OF_GRADE[settings.grade], "time")
        by_key = {int(key): i for i, key in enumerate(fields.source_keys)}
        rows = np.array([by_key[int(key)] for key in facilities.key], np.int64)
        existing_cost = fields.cost_from_points(snapped, rows)
    else:
        existing_cost = np.zeros((len(points.lon), 0))
    site_fields = compute_fields(
        net.graph,
        candidates.lon,
        candidates.lat,
        np.arange(len(candidates.name)),
        "time",
        3 * limit_s,
        MAX_SNAP_M,
        snapper=net.snapper,
    )
    candidate_cost = site_fields.cost_from_points(snapped)
    seats = facilities.classes * size
    candidate_seats = np.full(len(candidates.name), classes * size)
    before = choose_sites(
        points.children,
        seats,
        existing_cost,
        candidate_seats[:0],
        candidate_cost[:, :0],
        0,
        limit_s,
        objective,
        time_limit_s,
    )
    after = choose_sites(
        points.children,
        seats,
        existing_cost,
        candidate_seats,
        candidate_cost,
        k,
        limit_s,
        objective,
        time_limit_s,
    )
    row_of = {r.ward_id: r for r in forecast.unit_rows(settings.grade, settings.school_year)}

    def unit(ward_id: int) -> dict[str, Any]:
        row = row_of[ward_id]
        return {
            "ward_code": row.ward_code,
            "ward_name": row.ward_name,
            "unit_label": row.unit_label or row.ward_name,
            "figures": row.figures,
        }

    n_existing = len(seats)
    sites = []
    for j in after.chosen:
        mine = after.facility == n_existing + j
        by_ward: dict[int, int] = {}
        for p, count in zip(after.point[mine], after.children[mine], strict=True):
            ward_id = int(points.ward_id[p])
            by_ward[ward_id] = by_ward.get(ward_id, 0) + int(count)
        served = int(after.children[mine].sum())
        sites.append(
            {
                "name": candidates.name[j],
                "school_id": candidates.school_id[j],
                "lon": float(candidates.lon[j]),
                "lat": float(candidates.lat[j]),
                "classes": classes,
                "seats": int(candidate_seats[j]),
                "children_served": served,
                "mean_min": round(
                    float(np.average(after.cost[mine], weights=after.children[mine])) / 60, 1
                )
                if served
                else None,
                "wards": [
                    {**unit(w), "children": n}
                    for w, n in sorted(by_ward.items(), key=lambda item: -item[1])
                ],
            }
        )
    total = int(points.children.sum())
    gap_left: dict[int, int] = {w: 0 for w in ward_ids}
    served_by_point = np.bincount(
        after.point, weights=after.children * (after.cost <= limit_s), minlength=len(points.lon)
    )
    for p, ward_id in enumerate(points.ward_id):
        gap_left[int(ward_id)] += int(points.children[p] - round(served_by_point[p]))
    return {
        "grade": settings.grade,
        "school_year": f"{settings.school_year}-{settings.school_year + 1}",
        "candidates": kind,
        "candidate_count": len(candidates.name),
        "k": k,
        "objective": objective,
        "minutes": minutes,
        "mode": settings.mode,
        "class_size": size,
        "children": total,
        "served_within_before": before.served_within,
        "served_within_after": after.served_within,
        "optimal": after.optimal,
        "sites": sites,
        "gap_left": [
            {**unit(w), "children_not_served": n}
            for w, n in sorted(gap_left.items(), key=lambda item: -item[1])
            if n > 0
        ],
        "edition": forecast.edition,
        "units_without_figures": [
            {"unit_label": r.unit_label or r.ward_name, "note": r.note}
            for r in forecast.without_figures(settings.grade, settings.school_year)
        ],
        "method": (
            f"Forecast children at up to {settings.per_ward} road nodes per ward; travel times "
            f"on the {settings.mode} network; OR-Tools CP-SAT opens {k} of "
            f"{len(candidates.name)} candidates ({classes} classes x {size} seats each) and "
            f"places children in existing seats and open sites, "
            + (
                f"maximising children within {minutes:g} min (ties: least travel)."
                if objective == "coverage"
                else f"placing every child within {3 * minutes:g} min at least total travel."
            )
        ),
        "forecast": forecast.statement(),
    }
