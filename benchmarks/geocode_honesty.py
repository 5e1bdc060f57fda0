"""Is the geocoder's circle honest? The 2026 District 1 sample's house addresses, looked up in
the 2018 whole-city map, against where the 2026 map has each home.

Run: .venv/bin/python benchmarks/geocode_honesty.py [--database NAME]
It loads a fresh database (default schoolmap_bench_geocode on the local server) with the 2019
census wards (`schoolmap import wards`) and the 2018 OSM extract of the city (`schoolmap import
osm`), reads every house address of the 2026 sample (nodes, and ways at their outline's
centroid, with addr:housenumber and addr:street), types each as a parent would (number and
street, the ward and district where the tags give them, and once more with the city), and
prints, overall and by the precision of the answer chosen: how many were answered, landed within
100 m of the home, drew a circle containing it, were chosen silently (no confirmation asked),
were confidently wrong (chosen silently and the circle misses the home) and asked for
confirmation. Beside them, the figures the same benchmark measured on the geocoder before its
circles and confirmations were reworked (the `before` column). Addresses © OpenStreetMap
contributors.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import osmium
import shapely
from pyproj import Geod

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.officer_path import fresh_database  # noqa: E402
from gis_service.db.connection import connect  # noqa: E402

SHARED = Path(os.environ.get("SCHOOLMAP_SHARED_DATA", ROOT.parent / "shared" / "data"))
SCHOOLMAP = str(ROOT / ".venv" / "bin" / "schoolmap")
SAMPLE_2026 = SHARED / "hcmc_d1_osm_samples" / "velos_district1_2026.osm.pbf"
CITY_2018 = SHARED / "hcmc_osm_2018" / "hcm_2018.osm.pbf"
CITY_WORDS = "Thành phố Hồ Chí Minh"
NEAR_M = 100.0

_GEOD = Geod(ellps="WGS84")


@dataclass(frozen=True)
class Home:
    """A house address of the sample and where the sample has the house."""

    housenumber: str
    street: str
    ward: str | None
    district: str | None
    lon: float
    lat: float


def _unit_words(value: str | None, kind: str) -> str | None:
    """A unit as a parent writes it: a bare number gets its kind ('1' -> 'Quận 1')."""
    if not value or not value.strip():
        return None
    value = value.strip()
    return f"{kind} {value}" if value.isdigit() else value


def house_addresses(path: Path = SAMPLE_2026) -> list[Home]:
    """Every node and way of an extract with addr:housenumber and addr:street (a way at the
    centroid of its outline), in file order."""
    homes = []
    for obj in osmium.FileProcessor(str(path)).with_locations():
        tags = obj.tags
        if "addr:housenumber" not in tags or "addr:street" not in tags:
            continue
        if isinstance(obj, osmium.osm.Node):
            if not obj.location.valid():
                continue
            lon, lat = obj.location.lon, obj.location.lat
        elif isinstance(obj, osmium.osm.Way):
            coords = [(n.lon, n.lat) for n in obj.nodes if n.location.valid()]
            if not coords:
                continue
            closed = len(coords) >= 4 and coords[0] == coords[-1]
            shape = shapely.Polygon(coords) if closed else shapely.LineString(coords)
            if len(coords) == 1 or (closed and shape.area == 0):
                shape = shapely.MultiPoint(coords)
            centre = shape.centroid
            lon, lat = centre.x, centre.y
        else:
            continue  # a few multipolygon relations: their outline is not at hand here
        ward = tags.get("addr:subdistrict") or tags.get("addr:ward")
        homes.append(
            Home(
                tags["addr:housenumber"].strip(),
                tags["addr:street"].strip(),
                _unit_words(ward, "Phường"),
                _unit_words(tags.get("addr:district"), "Quận"),
                lon,
                lat,
            )
        )
    return homes


def typed(home: Home, with_city: bool) -> str:
    """What a parent types: number and street, the ward and district when known, the city."""
    parts = [f"{home.housenumber} {home.street}", home.ward, home.district]
    if with_city:
        parts.append(CITY_WORDS)
    return ", ".join(p for p in parts if p)


def metres(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Geodesic distance on the WGS84 ellipsoid."""
    return float(_GEOD.inv(lon1, lat1, lon2, lat2)[2])


def needs_confirmation(candidate: dict[str, Any]) -> bool:
    """Whether the answer asks the parent to confirm it (an answer without the field, as the
    geocoder gave before it had one, is chosen silently)."""
    return bool(candidate.get("needs_confirmation", False))


@dataclass
class Tally:
    """The honesty figures of a set of answers."""

    addresses: int = 0
    answered: int = 0
    within_100m: int = 0
    circle_holds: int = 0
    silent: int = 0
    confidently_wrong: int = 0
    confirm: int = 0

    def add(self, best: dict[str, Any] | None, home: Home) -> None:
        self.addresses += 1
        if best is None:
            return
        self.answered += 1
        off = metres(best["lon"], best["lat"], home.lon, home.lat)
        self.within_100m += off <= NEAR_M
        holds = off <= best["uncertainty_m"]
        self.circle_holds += holds
        if needs_confirmation(best):
            self.confirm += 1
        else:
            self.silent += 1
            self.confidently_wrong += not holds

    def shares(self) -> dict[str, float]:
        """Each figure as a share of the answers (answered: of the addresses)."""
        n = self.answered or 1
        return {
            "answered": self.answered / (self.addresses or 1),
            "within_100m": self.within_100m / n,
            "circle_holds": self.circle_holds / n,
            "silent": self.silent / n,
            "confidently_wrong": self.confidently_wrong / n,
            "confirm": self.confirm / n,
        }


def score(
    homes: Iterable[Home],
    answer: Callable[[str], dict[str, Any] | None],
    with_city: tuple[bool, ...] = (False, True),
) -> dict[str, Tally]:
    """Type each home each way and tally the best answers: 'all' and one tally by precision."""
    tallies: dict[str, Tally] = {"all": Tally()}
    for home in homes:
        for city in with_city:
            best = answer(typed(home, city))
            tallies["all"].add(best, home)
            key = best["precision"] if best else "none"
            tallies.setdefault(key, Tally()).add(best, home)
    return tallies


# The same benchmark measured on the geocoder before its circles were reworked (commit b852c67),
# as shares, with the confirmation rule of today applied to its answers (it asked for none: all
# 2,518 answers were then chosen silently, 23.8% of them confidently wrong).
BEFORE: dict[str, float | int] = {
    "addresses": 2526,
    "answered": 0.997,
    "within_100m": 0.688,
    "circle_holds": 0.762,
    "silent": 0.476,
    "confidently_wrong": 0.102,
    "confirm": 0.524,
}

_ROWS = (
    ("addresses", "addresses"),
    ("answered", "answered"),
    ("within_100m", "within 100 m"),
    ("circle_holds", "circle contains the home"),
    ("silent", "chosen silently"),
    ("confidently_wrong", "confidently wrong"),
    ("confirm", "needing confirmation"),
)
_PRECISIONS = ("house", "alley", "interpolated", "street", "ward", "district", "province", "none")


def print_table(tallies: dict[str, Tally]) -> None:
    """Overall figures beside the before column, then the same by precision."""
    overall = tallies["all"]
    shares = overall.shares()
    print(f"\n{'':<28}{'count':>8}{'share':>9}{'before':>9}")
    for key, label in _ROWS:
        count = getattr(overall, key)
        share = "" if key == "addresses" else f"{shares[key]:8.1%}"
        base = BEFORE.get(key)
        shown = "" if base is None else f"{base:8d}" if key == "addresses" else f"{base:8.1%}"
        print(f"{label:<28}{count:>8}{share:>9}{shown:>9}")
    print(
        "\n(answered: share of the addresses; the others: share of the answers; confidently "
        "wrong: chosen silently and the circle misses the home)"
    )
    print(
        f"\n{'precision':<14}{'answers':>8}{'≤100 m':>9}{'circle':>9}{'silent':>9}"
        f"{'wrong':>9}{'confirm':>9}"
    )
    for precision in _PRECISIONS:
        tally = tallies.get(precision)
        if tally is None:
            continue
        s = tally.shares()
        if precision == "none":
            print(f"{'(no answer)':<14}{tally.addresses:>8}")
            continue
        print(
            f"{precision:<14}{tally.answered:>8}{s['within_100m']:9.1%}{s['circle_holds']:9.1%}"
            f"{s['silent']:9.1%}{tally.confidently_wrong:>9}{tally.confirm:>9}"
        )


def run(env: dict[str, str], *args: str) -> None:
    """Run one schoolmap command, stopping the benchmark if it fails."""
    started = time.perf_counter()
    done = subprocess.run([SCHOOLMAP, *args], env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        print(done.stdout[-2000:], done.stderr[-2000:], file=sys.stderr)
        raise SystemExit(f"schoolmap {' '.join(args[:2])} failed")
    print(f"  {' '.join(args[:2])}: {time.perf_counter() - started:.1f} s", file=sys.stderr)


def main() -> None:
    from gis_service.geocoding.search import geocode, load_admin_names

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="schoolmap_bench_geocode")
    args = parser.parse_args()
    url = fresh_database(args.database)
    env = {**os.environ, "DATABASE_URL": url}
    run(env, "db", "upgrade")
    run(
        env,
        "import", "wards", str(SHARED / "hcmc_cityscope_pop2019" / "Population_Ward_Level.shp"),
        "--edition", "2019", "--code-field", "Com_ID", "--name-field", "Com_Name",
        "--type-field", "Level", "--district-field", "Dist_Name",
        "--district-code-field", "Dist_ID", "--province-code", "79",
        "--province-name", CITY_WORDS,
        "--population-field", "Pop_2009", "--population-field", "Pop_2019",
    )  # fmt: skip
    run(env, "import", "osm", str(CITY_2018))
    homes = house_addresses()
    conn = connect(url)
    try:
        names = load_admin_names(conn)
        started = time.perf_counter()

        def answer(query: str) -> dict[str, Any] | None:
            # The best of the five candidates the web page asks for.
            found = geocode(conn, query, 5, names)["candidates"]
            return found[0] if found else None

        tallies = score(homes, answer)
        seconds = time.perf_counter() - started
    finally:
        conn.rollback()
        conn.close()
    queries = tallies["all"].addresses
    print(
        f"{len(homes)} house addresses of {SAMPLE_2026.name} (© OpenStreetMap contributors), "
        f"each typed without and with the city: {queries} queries to the 2018 city map, "
        f"{seconds / queries * 1000:.0f} ms each"
    )
    print_table(tallies)


if __name__ == "__main__":
    main()
