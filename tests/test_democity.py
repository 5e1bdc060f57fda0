"""The synthetic demo city: same bytes per seed, real formats, and a city that holds together."""

from __future__ import annotations

import csv
import json
import re
from collections import Counter
from dataclasses import dataclass, fields
from itertools import combinations, pairwise
from pathlib import Path
from typing import Any

import numpy as np
import osmium
import pytest
import shapely
from pyproj import Transformer
from shapely.geometry import box, shape
from shapely.strtree import STRtree

from data.democity import (
    ABBREVIATED_NAMES,
    LAT_MAX,
    LAT_MIN,
    LON_MAX,
    LON_MIN,
    NEW_SCHOOLS,
    DemoCityFiles,
    generate_demo_city,
    main,
)

YEAR = 2025
AGE_HEADER = (
    "age_0_04,age_05_09,age_10_14,age_15_19,age_20_24,age_25_29,age_30_34,age_35_39,"
    "age_40_44,age_45_49,age_50_54,age_55_59,age_60_64,age_65_69,age_70_74,age_75_79,"
    "age_80_84,age_85_plus"
)
POPULATION_HEADER = "province,district_code,district,year,total," + AGE_HEADER
REGISTRY_HEADER = "code,name,levels,ownership,address,ward_code,lon,lat,phone," + ",".join(
    f"grade_{g}_classes,grade_{g}_class_size" for g in range(1, 10)
)
HOUSEHOLD_HEADER = "child_id,household_id,birth_date,lon,lat,ward_code,priority_group,sibling_of"
TO_UTM = Transformer.from_crs("EPSG:4326", "EPSG:32648", always_xy=True)


@dataclass
class OsmData:
    """What the OSM file holds, as read by pyosmium."""

    node_ids: list[int]
    nodes: dict[int, tuple[float, float]]
    node_tags: dict[int, dict[str, str]]
    way_ids: list[int]
    ways: dict[int, tuple[list[int], dict[str, str]]]

    def roads(self) -> dict[int, tuple[list[int], dict[str, str]]]:
        return {k: v for k, v in self.ways.items() if "highway" in v[1]}

    def schools(self) -> list[tuple[str, dict[str, str], tuple[float, float]]]:
        found = []
        for nid, tags in self.node_tags.items():
            if tags.get("amenity") in {"school", "kindergarten"}:
                found.append(("node", tags, self.nodes[nid]))
        for refs, tags in self.ways.values():
            if tags.get("amenity") in {"school", "kindergarten"}:
                pts = np.array([self.nodes[r] for r in refs[:-1]])
                found.append(("way", tags, (float(pts[:, 0].mean()), float(pts[:, 1].mean()))))
        return found


def utm(lon: Any, lat: Any) -> tuple[np.ndarray, np.ndarray]:
    x, y = TO_UTM.transform(np.asarray(lon, dtype=float), np.asarray(lat, dtype=float))
    return np.asarray(x), np.asarray(y)


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


@pytest.fixture(scope="module")
def city(tmp_path_factory: pytest.TempPathFactory) -> DemoCityFiles:
    return generate_demo_city(tmp_path_factory.mktemp("democity"), seed=2025, admission_year=YEAR)


@pytest.fixture(scope="module")
def osm(city: DemoCityFiles) -> OsmData:
    data = OsmData([], {}, {}, [], {})
    for obj in osmium.FileProcessor(str(city.osm)):
        if isinstance(obj, osmium.osm.Node):
            assert obj.version == 1
            data.node_ids.append(obj.id)
            data.nodes[obj.id] = (obj.location.lon, obj.location.lat)
            if len(obj.tags):
                data.node_tags[obj.id] = dict(obj.tags)
        elif isinstance(obj, osmium.osm.Way):
            assert obj.version == 1
            data.way_ids.append(obj.id)
            data.ways[obj.id] = ([n.ref for n in obj.nodes], dict(obj.tags))
    return data


@pytest.fixture(scope="module")
def wards(city: DemoCityFiles) -> list[dict[str, Any]]:
    collection = json.loads(city.wards.read_text(encoding="utf-8"))
    assert collection["type"] == "FeatureCollection"
    return list(collection["features"])


@pytest.fixture(scope="module")
def households(city: DemoCityFiles) -> list[dict[str, str]]:
    return read_csv(city.households)


@pytest.fixture(scope="module")
def registry(city: DemoCityFiles) -> list[dict[str, str]]:
    return read_csv(city.registry)


def test_same_seed_gives_the_same_bytes(city: DemoCityFiles, tmp_path: Path) -> None:
    assert main([str(tmp_path / "again")]) == 0
    again = DemoCityFiles(
        osm=tmp_path / "again" / "city.osm",
        wards=tmp_path / "again" / "wards.geojson",
        population=tmp_path / "again" / "population_by_age.csv",
        registry=tmp_path / "again" / "schools_registry.csv",
        households=tmp_path / "again" / "households.csv",
    )
    for item in fields(DemoCityFiles):
        first, second = getattr(city, item.name), getattr(again, item.name)
        assert first.read_bytes() == second.read_bytes(), item.name


def test_another_seed_gives_another_city(city: DemoCityFiles, tmp_path: Path) -> None:
    other = generate_demo_city(tmp_path, seed=7, admission_year=YEAR)
    assert other.osm.read_bytes() != city.osm.read_bytes()
    assert other.households.read_bytes() != city.households.read_bytes()
    assert len(read_csv(other.households)) == len(read_csv(city.households))


def test_wards_tile_the_city_exactly(wards: list[dict[str, Any]]) -> None:
    shapes = [shape(f["geometry"]) for f in wards]
    assert all(f["geometry"]["type"] in {"Polygon", "MultiPolygon"} for f in wards)
    assert all(s.is_valid and not s.is_empty for s in shapes)
    city_box = box(LON_MIN, LAT_MIN, LON_MAX, LAT_MAX)
    union = shapely.union_all(shapes)
    assert abs(union.area - city_box.area) / city_box.area < 1e-6
    assert abs(sum(s.area for s in shapes) - city_box.area) / city_box.area < 1e-6
    assert union.convex_hull.area == pytest.approx(union.area, rel=1e-6)
    for a, b in combinations(shapes, 2):
        assert a.intersection(b).area < 1e-9 * city_box.area


def test_ward_attributes(wards: list[dict[str, Any]]) -> None:
    props = [f["properties"] for f in wards]
    assert len(props) == 14
    codes = [p["ward_code"] for p in props]
    assert len(set(codes)) == len(codes)
    assert all(isinstance(c, str) and re.fullmatch(r"9\d{4}", c) for c in codes)
    districts = Counter((p["district_code"], p["district_name"]) for p in props)
    assert set(districts) == {("901", "Quận Một"), ("902", "Quận Hai"), ("903", "Huyện Ba")}
    assert all(4 <= n <= 5 for n in districts.values())
    assert {p["province_name"] for p in props} == {"Thành phố Mẫu"}
    for p in props:
        assert p["ward_name"].startswith(("Phường ", "Xã "))
        assert isinstance(p["pop_2019"], int) and isinstance(p["pop_2024"], int)
        assert 7_500 <= p["pop_2019"] <= 40_000
        assert 0.95 <= p["pop_2024"] / p["pop_2019"] <= 1.15
    assert 230_000 <= sum(p["pop_2019"] for p in props) <= 270_000
    density: dict[str, list[float]] = {}
    for f in wards:
        x, y = utm(*np.array(shape(f["geometry"]).exterior.coords).T)
        area_km2 = shapely.Polygon(np.column_stack([x, y])).area / 1e6
        density.setdefault(f["properties"]["district_code"], []).append(
            f["properties"]["pop_2024"] / area_km2
        )
    assert min(density["901"]) > 2 * max(density["903"])


def test_population_by_age_adds_up(city: DemoCityFiles, wards: list[dict[str, Any]]) -> None:
    text = city.population.read_text(encoding="utf-8")
    assert text.splitlines()[0] == POPULATION_HEADER
    rows = read_csv(city.population)
    assert len(rows) == 6
    ages = AGE_HEADER.split(",")
    for row in rows:
        assert row["province"] == "Thành phố Mẫu"
        groups = [int(row[a]) for a in ages]
        total = int(row["total"])
        assert sum(groups) == total
        expected = sum(
            f["properties"][f"pop_{row['year']}"]
            for f in wards
            if f["properties"]["district_code"] == row["district_code"]
        )
        assert total == expected
        assert 0.06 <= groups[0] / total <= 0.085
        assert 0.07 <= groups[1] / total <= 0.095
        assert 0.06 <= groups[2] / total <= 0.085
    assert Counter(r["year"] for r in rows) == {"2019": 3, "2024": 3}


def test_osm_file_is_well_formed(city: DemoCityFiles, osm: OsmData) -> None:
    head = city.osm.read_text(encoding="utf-8")[:400]
    assert '<osm version="0.6" generator="schoolmap-democity">' in head
    assert "<bounds " in head
    assert city.osm.stat().st_size < 10 * 1024 * 1024
    assert 15_000 <= len(osm.node_ids) <= 40_000
    assert len(set(osm.node_ids)) == len(osm.node_ids)
    assert len(set(osm.way_ids)) == len(osm.way_ids)
    assert min(osm.node_ids) > 0 and min(osm.way_ids) > 0
    referenced = {r for refs, _ in osm.ways.values() for r in refs}
    assert referenced <= set(osm.nodes)
    assert all(len(refs) >= 2 for refs, _ in osm.ways.values())
    unused = set(osm.nodes) - referenced - set(osm.node_tags)
    assert not unused


def test_road_classes_and_names(osm: OsmData) -> None:
    roads = osm.roads()
    classes = Counter(tags["highway"] for _, tags in roads.values())
    for wanted in (
        "primary",
        "secondary",
        "tertiary",
        "residential",
        "service",
        "footway",
        "pedestrian",
        "path",
    ):
        assert classes[wanted] > 0, wanted
    assert classes["trunk"] == 1 and classes["motorway"] == 1
    motorway = next(v for v in roads.values() if v[1]["highway"] == "motorway")
    assert motorway[1].get("oneway") == "yes"
    lons = np.array([osm.nodes[r][0] for r in motorway[0]])
    assert (lons > LON_MAX).any() and (lons < LON_MAX).any()
    oneway = Counter(t["highway"] for _, t in roads.values() if t.get("oneway") == "yes")
    assert oneway["primary"] + oneway["secondary"] >= 2
    assert oneway["residential"] + oneway["tertiary"] >= 3
    names = {t.get("name") for _, t in roads.values()}
    for name in (
        "Lê Lợi",
        "Nguyễn Huệ",
        "Trần Hưng Đạo",
        "Hai Bà Trưng",
        "Lý Thường Kiệt",
        "Võ Văn Tần",
    ):
        assert name in names
    alleys = [t for _, t in roads.values() if t.get("service") == "alley"]
    assert len(alleys) >= 300
    pattern = re.compile(r"Hẻm (\d+)(/\d+)? (.+)")
    for tags in alleys:
        match = pattern.fullmatch(tags["name"])
        assert match, tags["name"]
        assert match.group(3) in names
    nodes_in_city = [
        LON_MIN <= lon <= LON_MAX and LAT_MIN <= lat <= LAT_MAX
        for refs, tags in roads.values()
        if tags["highway"] != "motorway"
        for lon, lat in (osm.nodes[r] for r in refs)
    ]
    assert all(nodes_in_city)


def test_road_network_is_one_component(osm: OsmData) -> None:
    parent: dict[int, int] = {}

    def find(n: int) -> int:
        parent.setdefault(n, n)
        while parent[n] != n:
            parent[n] = parent[parent[n]]
            n = parent[n]
        return n

    for refs, _ in osm.roads().values():
        for a, b in pairwise(refs):
            ra, rb = find(a), find(b)
            if ra != rb:
                parent[ra] = rb
    sizes = Counter(find(n) for n in parent)
    assert max(sizes.values()) / len(parent) > 0.95


def test_crossing_roads_share_a_node(osm: OsmData) -> None:
    roads = list(osm.roads().values())
    lines = []
    for refs, _ in roads:
        x, y = utm(*np.array([osm.nodes[r] for r in refs]).T)
        lines.append(shapely.linestrings(np.column_stack([x, y])))
    tree = STRtree(lines)
    pairs = tree.query(lines, predicate="intersects")
    checked = 0
    for i, j in pairs.T:
        if i >= j:
            continue
        shared = set(roads[i][0]) & set(roads[j][0])
        assert shared, (roads[i][1], roads[j][1])
        sx, sy = utm(*np.array([osm.nodes[n] for n in shared]).T)
        shared_points = shapely.multipoints(np.column_stack([sx, sy]))
        meeting = shapely.get_coordinates(lines[i].intersection(lines[j]))
        assert shapely.distance(shapely.points(meeting), shared_points).max() < 0.05
        checked += 1
    assert checked > 1000


def test_schools_in_the_osm_file(osm: OsmData) -> None:
    schools = osm.schools()
    assert 60 <= len(schools) <= 80
    names = Counter(tags["name"] for _, tags, _ in schools)
    assert names["Trường Tiểu học Lê Văn Thọ"] == 1
    assert max(names.values()) == 1
    level_of: Counter[str] = Counter()
    for _, tags, _ in schools:
        name = tags["name"]
        if tags["amenity"] == "kindergarten":
            assert name.startswith("Trường Mầm non ")
            level_of["mam_non"] += 1
        elif " và " in name or "Liên cấp" in name:
            level_of["multi"] += 1
        elif name.startswith("Trường Tiểu học "):
            level_of["tieu_hoc"] += 1
        elif name.startswith(("Trường THCS ", "Trường Trung học cơ sở ")):
            level_of["thcs"] += 1
        elif name.startswith("Trường THPT "):
            level_of["thpt"] += 1
        else:
            level_of["unknown"] += 1
            assert "isced:level" not in tags
        assert tags["operator:type"] in {"public", "private"}
        assert tags["addr:street"] and re.fullmatch(r"\d+", tags["addr:housenumber"])
        if "isced:level" in tags:
            assert re.fullmatch(r"[0-3](;[0-3])*", tags["isced:level"])
    assert level_of["tieu_hoc"] == 25 and level_of["thcs"] == 15
    assert level_of["mam_non"] >= 10 and level_of["thpt"] >= 4 and level_of["multi"] >= 2
    assert 2 <= level_of["unknown"] <= 3
    public = sum(tags["operator:type"] == "public" for _, tags, _ in schools)
    assert 0.8 <= public / len(schools) <= 0.9
    assert sum("phone" in tags for _, tags, _ in schools) >= 10
    areas = [refs for refs, tags in osm.ways.values() if tags.get("amenity") == "school"]
    assert 8 <= len(areas) <= 12
    assert all(refs[0] == refs[-1] and len(set(refs)) >= 4 for refs in areas)


def test_more_schools_where_more_people_live(osm: OsmData, wards: list[dict[str, Any]]) -> None:
    by_district: Counter[str] = Counter()
    for _, _, (lon, lat) in osm.schools():
        for f in wards:
            if shape(f["geometry"]).contains(shapely.Point(lon, lat)):
                by_district[f["properties"]["district_code"]] += 1
    assert sum(by_district.values()) == len(osm.schools())
    assert by_district["901"] > by_district["902"] > by_district["903"]


def test_households_live_in_their_ward_near_a_road(
    osm: OsmData, wards: list[dict[str, Any]], households: list[dict[str, str]], city: DemoCityFiles
) -> None:
    assert city.households.read_text(encoding="utf-8").splitlines()[0] == HOUSEHOLD_HEADER
    lon = np.array([float(h["lon"]) for h in households])
    lat = np.array([float(h["lat"]) for h in households])
    codes = np.array([h["ward_code"] for h in households])
    for f in wards:
        mine = codes == f["properties"]["ward_code"]
        assert mine.sum() > 0
        assert shapely.contains_xy(shape(f["geometry"]), lon[mine], lat[mine]).all()
    assert set(codes) == {f["properties"]["ward_code"] for f in wards}
    segments = []
    for refs, _ in osm.roads().values():
        x, y = utm(*np.array([osm.nodes[r] for r in refs]).T)
        pts = np.column_stack([x, y])
        segments.extend(shapely.linestrings(np.stack([pts[:-1], pts[1:]], axis=1)))
    tree = STRtree(segments)
    hx, hy = utm(lon, lat)
    _, distance = tree.query_nearest(
        shapely.points(np.column_stack([hx, hy])), return_distance=True, all_matches=False
    )
    assert distance.max() <= 40.0
    assert distance.min() >= 4.9


def test_household_children(households: list[dict[str, str]]) -> None:
    ids = [h["child_id"] for h in households]
    assert len(set(ids)) == len(ids)
    assert all(re.fullmatch(r"DC\d{7}", i) for i in ids)
    years = Counter(int(h["birth_date"][:4]) for h in households)
    assert set(years) == {YEAR - 6, YEAR - 11}
    assert 2_700 <= years[YEAR - 6] <= 3_300
    assert 2_200 <= years[YEAR - 11] <= 2_800
    groups = Counter(h["priority_group"] for h in households)
    assert set(groups) <= {"", "liet_si", "thuong_binh", "khuyet_tat"}
    assert 0.93 <= groups[""] / len(households) <= 0.97
    assert all(groups[g] > 0 for g in ("liet_si", "thuong_binh", "khuyet_tat"))
    by_id = {h["child_id"]: h for h in households}
    with_sibling = [h for h in households if h["sibling_of"]]
    assert 0.015 <= len(with_sibling) / len(households) <= 0.05
    for child in with_sibling:
        sibling = by_id[child["sibling_of"]]
        assert sibling["child_id"] != child["child_id"]
        assert sibling["sibling_of"] == child["child_id"]
        for key in ("household_id", "lon", "lat", "ward_code"):
            assert sibling[key] == child[key]
    per_household = Counter(h["household_id"] for h in households)
    assert max(per_household.values()) == 2
    assert sum(n == 2 for n in per_household.values()) * 2 == len(with_sibling)


def test_registry_rows(
    city: DemoCityFiles, registry: list[dict[str, str]], wards: list[dict[str, Any]]
) -> None:
    assert city.registry.read_text(encoding="utf-8").splitlines()[0] == REGISTRY_HEADER
    codes = [r["code"] for r in registry]
    assert len(set(codes)) == len(codes)
    assert all(re.fullmatch(r"99(TH|THCS)\d{4}", c) for c in codes)
    ward_shapes = {f["properties"]["ward_code"]: shape(f["geometry"]) for f in wards}
    for row in registry:
        levels = row["levels"].split(";")
        assert set(levels) <= {"tieu_hoc", "thcs", "thpt"}
        assert "tieu_hoc" in levels or "thcs" in levels
        assert row["ownership"] in {"public", "private"}
        point = shapely.Point(float(row["lon"]), float(row["lat"]))
        assert ward_shapes[row["ward_code"]].contains(point)
        for grade in range(1, 10):
            classes, size = row[f"grade_{grade}_classes"], row[f"grade_{grade}_class_size"]
            taught = ("tieu_hoc" if grade <= 5 else "thcs") in levels
            if not taught:
                assert classes == "" and size == ""
            elif grade <= 5:
                assert 3 <= int(classes) <= 8 and int(size) in {30, 35}
            else:
                assert 4 <= int(classes) <= 10 and int(size) in {40, 45}
    sizes = Counter(r["grade_1_class_size"] for r in registry if r["grade_1_class_size"])
    assert sizes["35"] > 3 * sizes["30"] > 0


def test_registry_against_the_map(osm: OsmData, registry: list[dict[str, str]]) -> None:
    schools = osm.schools()
    map_names = [tags["name"] for _, tags, _ in schools]
    mx, my = utm(*np.array([xy for _, _, xy in schools]).T)
    rx, ry = utm([float(r["lon"]) for r in registry], [float(r["lat"]) for r in registry])
    gaps = np.hypot(rx[:, None] - mx[None, :], ry[:, None] - my[None, :])
    nearest = gaps.argmin(axis=1)
    nearest_m = gaps.min(axis=1)
    new = [r["name"] for r, d in zip(registry, nearest_m, strict=True) if d > 150.0]
    assert sorted(new) == sorted(name for name, _, _ in NEW_SCHOOLS)
    assert not set(new) & set(map_names)
    abbreviated = {v: k for k, v in ABBREVIATED_NAMES.items()}
    seen = 0
    for row, k, d in zip(registry, nearest, nearest_m, strict=True):
        if row["name"] in abbreviated:
            assert map_names[k] == abbreviated[row["name"]]
            assert 20.0 <= d <= 80.0
            seen += 1
        elif row["name"] in map_names:
            assert map_names[k] == row["name"]
            assert d <= 30.0
    assert seen == len(ABBREVIATED_NAMES) == 5
    registry_names = {r["name"] for r in registry}
    for _, tags, _ in schools:
        name = tags["name"]
        teaches = any(w in name for w in ("Tiểu học", "THCS", "Trung học cơ sở", "Liên cấp"))
        if teaches:
            assert name in registry_names or name in ABBREVIATED_NAMES, name
        if tags["amenity"] == "kindergarten" or name.startswith("Trường THPT "):
            assert name not in registry_names


def test_grade_1_seats_exceed_children_but_not_everywhere(
    registry: list[dict[str, str]], households: list[dict[str, str]], wards: list[dict[str, Any]]
) -> None:
    seats: Counter[str] = Counter()
    for row in registry:
        if row["grade_1_classes"]:
            seats[row["ward_code"]] += int(row["grade_1_classes"]) * int(row["grade_1_class_size"])
    children = Counter(h["ward_code"] for h in households if h["birth_date"][:4] == str(YEAR - 6))
    ratio = sum(seats.values()) / sum(children.values())
    assert 1.10 <= ratio <= 1.20
    central = [
        f["properties"]["ward_code"] for f in wards if f["properties"]["district_code"] == "901"
    ]
    assert any(seats[w] < children[w] for w in central)


def test_house_numbers_line_the_named_streets_and_alleys(osm: OsmData) -> None:
    houses = [
        (tags["addr:housenumber"], tags["addr:street"], osm.nodes[nid])
        for nid, tags in osm.node_tags.items()
        if "addr:housenumber" in tags and "amenity" not in tags
    ]
    assert len(houses) > 10_000
    # One number per street: the geocoder can find each house.
    assert len({(n, s) for n, s, _ in houses}) == len(houses)
    named = {tags["name"] for _, tags in osm.roads().values() if "name" in tags}
    assert {s for _, s, _ in houses} <= named
    # A house in "Hẻm 24 Lê Lợi" is numbered "24/k Lê Lợi", as Vietnamese alleys are.
    alleys = {
        (tags["name"][4:].split(" ", 1)[0], tags["name"][4:].split(" ", 1)[1])
        for _, tags in osm.roads().values()
        if tags.get("name", "").startswith("Hẻm ")
    }
    in_alleys = [(n, s) for n, s, _ in houses if "/" in n]
    assert in_alleys
    assert all((n.rsplit("/", 1)[0], s) in alleys for n, s in in_alleys)
