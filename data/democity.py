"""Generate Thành phố Mẫu, a synthetic demo city near lon 106.62 lat 10.45, in real data formats."""

from __future__ import annotations

import argparse
import csv
import io
import json
import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field, fields
from datetime import date, timedelta
from itertools import pairwise
from pathlib import Path
from xml.sax.saxutils import quoteattr

import numpy as np
import numpy.typing as npt
import shapely
from pyproj import Transformer
from shapely.geometry import LineString, Polygon
from shapely.strtree import STRtree

FloatArray = npt.NDArray[np.float64]

# The city is the lon/lat box below (about 6.0 km x 5.0 km). It is synthetic: it describes no
# real place; the box only gives the data believable coordinates in UTM zone 48N.
LON_MIN, LON_MAX = 106.5925, 106.6475
LAT_MIN, LAT_MAX = 10.4275, 10.4725
PROVINCE_NAME = "Thành phố Mẫu"
PROVINCE_CODE = "99"
OSM_GENERATOR = "schoolmap-democity"
# OSM ids far above real ones, so the demo can share a database with a real extract.
OSM_ID_BASE = 9_000_000_000_000
UTM_EPSG = 32648

DISTRICTS = {"901": "Quận Một", "902": "Quận Hai", "903": "Huyện Ba"}

AGE_COLUMNS = (
    "age_0_04",
    "age_05_09",
    "age_10_14",
    "age_15_19",
    "age_20_24",
    "age_25_29",
    "age_30_34",
    "age_35_39",
    "age_40_44",
    "age_45_49",
    "age_50_54",
    "age_55_59",
    "age_60_64",
    "age_65_69",
    "age_70_74",
    "age_75_79",
    "age_80_84",
    "age_85_plus",
)
# A young urban Vietnamese age structure (shares of the population, summing to 1).
AGE_SHARES = (
    0.070,
    0.080,
    0.070,
    0.065,
    0.085,
    0.100,
    0.100,
    0.090,
    0.080,
    0.065,
    0.055,
    0.045,
    0.035,
    0.025,
    0.015,
    0.010,
    0.007,
    0.003,
)
POPULATION_YEARS = (2019, 2024)
POPULATION_COLUMNS = ("province", "district_code", "district", "year", "total", *AGE_COLUMNS)

REGISTRY_GRADES = tuple(range(1, 10))
REGISTRY_COLUMNS = (
    "code",
    "name",
    "levels",
    "ownership",
    "address",
    "ward_code",
    "lon",
    "lat",
    "phone",
    *(f"grade_{g}_{what}" for g in REGISTRY_GRADES for what in ("classes", "class_size")),
)
HOUSEHOLD_COLUMNS = (
    "child_id",
    "household_id",
    "birth_date",
    "lon",
    "lat",
    "ward_code",
    "priority_group",
    "sibling_of",
)
GRADE_1_CHILDREN = 3000
GRADE_6_CHILDREN = 2500
GRADE_1_SEAT_RATIO = 1.15
GRADE_6_SEAT_RATIO = 1.15
# The crowded central ward kept short of grade-1 seats, as planners would find it.
SEAT_SHORT_WARD = "90001"

# Ward grid: column and row breaks as fractions of the city's width and height; cells are
# (column, row) from the south-west. Interior boundaries are jittered polylines.
WARD_COLUMNS = (0.0, 0.22, 0.42, 0.6, 0.78, 1.0)
WARD_ROWS = (0.0, 0.25, 0.5, 0.72, 1.0)


@dataclass(frozen=True)
class WardPlan:
    """A ward's identity, the grid cells it covers and its rough 2019 population."""

    code: str
    name: str
    district_code: str
    cells: tuple[tuple[int, int], ...]
    base_population: int


WARD_PLANS = (
    WardPlan("90001", "Phường Hòa Bình", "901", ((2, 2),), 34000),
    WardPlan("90002", "Phường Thống Nhất", "901", ((2, 1),), 32000),
    WardPlan("90003", "Phường Độc Lập", "901", ((1, 2),), 26000),
    WardPlan("90004", "Phường Bình An", "901", ((1, 1),), 23000),
    WardPlan("90005", "Phường Phú Hòa", "901", ((3, 1), (3, 2)), 29000),
    WardPlan("90006", "Phường An Khánh", "902", ((1, 3),), 14000),
    WardPlan("90007", "Phường Thạnh Mỹ", "902", ((2, 3),), 17000),
    WardPlan("90008", "Phường Tân Phong", "902", ((3, 3), (4, 3)), 15000),
    WardPlan("90009", "Phường Long Bình", "902", ((4, 2),), 16000),
    WardPlan("90010", "Phường Phước Long", "902", ((4, 1),), 13000),
    WardPlan("90011", "Xã Tân Thạnh", "903", ((0, 2), (0, 3)), 10500),
    WardPlan("90012", "Xã Bình Mỹ", "903", ((0, 0), (0, 1)), 9500),
    WardPlan("90013", "Xã Phú Xuân", "903", ((1, 0), (2, 0)), 11000),
    WardPlan("90014", "Xã Nhơn Đức", "903", ((3, 0), (4, 0)), 9000),
)

# Road grid: arterial positions as fractions of the width (north-south roads) and height.
ARTERIAL_X = (0.1, 0.3, 0.5, 0.7, 0.9)
ARTERIAL_Y = (0.12, 0.37, 0.62, 0.87)
STREET_SPACING_M = 225.0
ROAD_END_MARGIN_M = 10.0
TRUNK_ORDINAL = 1  # the second east-west arterial is the national road
ARTERIAL_NS_NAMES = ("Lê Lợi", "Nguyễn Huệ", "Hai Bà Trưng", "Lý Thường Kiệt", "Điện Biên Phủ")
ARTERIAL_EW_NAMES = (
    "Trần Hưng Đạo",
    "Đại lộ Thăng Long",
    "Cách Mạng Tháng Tám",
    "Nam Kỳ Khởi Nghĩa",
)
ARTERIAL_NS_HIGHWAY = ("secondary", "primary", "primary", "primary", "secondary")
ARTERIAL_EW_HIGHWAY = ("secondary", "trunk", "primary", "secondary")
STREET_NAMES = (
    "Võ Văn Tần",
    "Pasteur",
    "Nguyễn Thị Minh Khai",
    "Lê Thánh Tôn",
    "Nguyễn Du",
    "Lý Tự Trọng",
    "Mạc Đĩnh Chi",
    "Đinh Tiên Hoàng",
    "Phan Đình Phùng",
    "Nguyễn Trãi",
    "Trần Quang Khải",
    "Trần Nhật Duật",
    "Lê Văn Sỹ",
    "Nguyễn Văn Cừ",
    "Phạm Ngũ Lão",
    "Bùi Viện",
    "Đề Thám",
    "Cống Quỳnh",
    "Nguyễn Cư Trinh",
    "Trần Đình Xu",
    "Nguyễn Đình Chiểu",
    "Võ Thị Sáu",
    "Bà Huyện Thanh Quan",
    "Tú Xương",
    "Trần Quốc Thảo",
    "Kỳ Đồng",
    "Huỳnh Tịnh Của",
    "Trần Cao Vân",
    "Phan Kế Bính",
    "Nguyễn Bỉnh Khiêm",
    "Mạc Thị Bưởi",
    "Thái Văn Lung",
    "Hồ Tùng Mậu",
    "Tôn Thất Thiệp",
    "Ký Con",
    "Calmette",
    "Yersin",
    "Nguyễn Thái Học",
    "Phó Đức Chính",
    "Lê Thị Riêng",
    "Thủ Khoa Huân",
    "Lê Anh Xuân",
    "Sương Nguyệt Ánh",
    "Cao Thắng",
    "Bàn Cờ",
    "Hoàng Sa",
    "Trường Sa",
    "Nguyễn Phi Khanh",
    "Đặng Dung",
    "Trần Khắc Chân",
)

PRIMARY_NAMES = (
    "Lê Văn Thọ",
    "Kim Đồng",
    "Chu Văn An",
    "Trần Quốc Toản",
    "Võ Thị Sáu",
    "Nguyễn Thái Học",
    "Phan Chu Trinh",
    "Hòa Bình",
    "Lý Tự Trọng",
    "Đinh Tiên Hoàng",
    "Nguyễn Văn Trỗi",
    "Bế Văn Đàn",
    "Phù Đổng",
    "Hồng Hà",
    "Bình Minh",
    "Trần Bình Trọng",
    "Hoàng Diệu",
    "Lê Đình Chinh",
    "Nguyễn Viết Xuân",
    "Cù Chính Lan",
    "Mê Linh",
    "La Văn Cầu",
    "Phạm Văn Chiêu",
    "Lê Ngọc Hân",
    "Tô Vĩnh Diện",
)
LOWER_SECONDARY_NAMES = (
    "Nguyễn Du",
    "Lương Thế Vinh",
    "Nguyễn Trãi",
    "Trần Phú",
    "Võ Trường Toản",
    "Huỳnh Khương Ninh",
    "Đoàn Thị Điểm",
    "Nguyễn Văn Tố",
    "Bạch Đằng",
    "Hai Bà Trưng",
    "Nguyễn Gia Thiều",
    "Phan Bội Châu",
    "Lê Anh Xuân",
    "Quang Trung",
    "Trần Văn Ơn",
)
UPPER_SECONDARY_NAMES = (
    "Lê Quý Đôn",
    "Nguyễn Thị Minh Khai",
    "Trưng Vương",
    "Bùi Thị Xuân",
    "Gia Định",
    "Nguyễn Hữu Huân",
)
PRESCHOOL_NAMES = (
    "Hoa Sen",
    "Họa Mi",
    "Sơn Ca",
    "Vàng Anh",
    "Hoa Mai",
    "Hoa Hồng",
    "Tuổi Thơ",
    "Bông Sen",
    "Rạng Đông",
    "Sao Mai",
    "Anh Đào",
    "Hướng Dương",
    "Thỏ Ngọc",
)
PRIVATE_PRESCHOOL_NAMES = ("Ban Mai", "Mầm Xanh")
# Multi-level and unlevelled schools: (map name, levels, ward, ownership, in the registry).
SPECIAL_SCHOOLS: tuple[tuple[str, tuple[str, ...], str, str, bool], ...] = (
    ("Trường Tiểu học và THCS Ánh Sáng", ("tieu_hoc", "thcs"), "90006", "private", True),
    ("Trường Liên cấp Việt Úc", ("tieu_hoc", "thcs", "thpt"), "90009", "private", True),
    ("Trường THCS và THPT Trí Đức", ("thcs", "thpt"), "90005", "private", True),
    ("Trường Quốc tế Sài Gòn Mới", ("tieu_hoc", "thcs", "thpt"), "90008", "private", True),
    ("Trường Quốc tế Hoàn Cầu", ("tieu_hoc", "thcs"), "90013", "private", True),
    ("Trường Song ngữ Ngôi Sao", ("tieu_hoc",), "90003", "private", False),
)
# Map names that carry no level, so their OSM objects get no isced:level either.
NAMES_WITHOUT_LEVEL = frozenset(
    {"Trường Quốc tế Sài Gòn Mới", "Trường Quốc tế Hoàn Cầu", "Trường Song ngữ Ngôi Sao"}
)
# Registry spellings that differ from the map's (map name -> registry name).
ABBREVIATED_NAMES = {
    "Trường Tiểu học Lê Văn Thọ": "Trường TH Lê Văn Thọ",
    "Trường THCS Nguyễn Du": "THCS Nguyễn Du",
    "Trường Tiểu học và THCS Ánh Sáng": "Trường TH&THCS Ánh Sáng",
    "Trường Tiểu học Kim Đồng": "TH Kim Đồng",
    "Trường Trung học cơ sở Lương Thế Vinh": "Trường THCS Lương Thế Vinh",
}
# Map names written out in full where the usual form abbreviates the level.
SPELLED_OUT = {"Trường THCS Lương Thế Vinh": "Trường Trung học cơ sở Lương Thế Vinh"}
# Schools in the registry but not yet on the map: (name, levels, ward).
NEW_SCHOOLS = (
    ("Trường Tiểu học Nguyễn Thị Định", ("tieu_hoc",), "90007"),
    ("Trường Tiểu học Mai Xuân Thưởng", ("tieu_hoc",), "90013"),
    ("Trường THCS Trần Đại Nghĩa", ("thcs",), "90009"),
)
PRIMARY_SCHOOL_COUNT = 25
LOWER_SECONDARY_COUNT = 15
SCHOOL_MIN_GAP_M = 180.0
NEW_SCHOOL_MIN_GAP_M = 350.0
ISCED = {"mam_non": "0", "tieu_hoc": "1", "thcs": "2", "thpt": "3"}
LEVEL_GRADES = {"tieu_hoc": (1, 2, 3, 4, 5), "thcs": (6, 7, 8, 9)}

# Where homes go: relative weight per metre of road, by road class.
HOME_WEIGHTS = {
    "trunk": 0.1,
    "primary": 0.4,
    "secondary": 0.5,
    "tertiary": 0.8,
    "residential": 1.0,
    "service": 1.6,
    "footway": 1.0,
    "pedestrian": 0.5,
    "path": 0.6,
    "motorway": 0.0,
}


@dataclass(frozen=True)
class DemoCityFiles:
    """Paths of the demo city's files, each in the format its real counterpart has."""

    osm: Path
    wards: Path
    population: Path
    registry: Path
    households: Path


@dataclass
class _Ward:
    plan: WardPlan
    local: Polygon
    lonlat: Polygon
    lonlat_rings: list[list[tuple[float, float]]]
    pop_2019: int
    pop_2024: int

    @property
    def density(self) -> float:
        """People per square kilometre in 2024."""
        return self.pop_2024 / (self.local.area / 1e6)


@dataclass
class _Way:
    nodes: list[int]
    tags: dict[str, str]


@dataclass
class _Line:
    axis: str  # "v": runs south to north at a fixed x; "h": runs west to east
    kind: str  # "border", "arterial" or "street"
    base: float
    highway: str = ""
    name: str = ""
    ordinal: int = -1
    amplitude: float = 0.0
    period: float = 1.0
    phase: float = 0.0
    along: list[float] = field(default_factory=list)

    def cross(self, s: float) -> float:
        """The line's cross coordinate where the along coordinate is s."""
        return self.base + self.amplitude * math.sin(2 * math.pi * s / self.period + self.phase)


@dataclass
class _Edge:
    line: _Line
    nodes: list[int]
    start_along: float
    length: float


@dataclass
class _School:
    name: str
    amenity: str
    levels: tuple[str, ...]
    ownership: str
    ward_code: str
    x: float
    y: float
    street: str
    housenumber: str
    area: Polygon | None = None
    in_osm: bool = True
    in_registry: bool = True
    isced: str | None = None
    phone: str = ""
    phone_on_map: bool = False
    phone_in_registry: bool = False
    registry_name: str = ""
    registry_xy: tuple[float, float] = (0.0, 0.0)


@dataclass
class _Child:
    ward_code: str
    grade: int
    household: int
    x: float
    y: float
    lon: float = 0.0
    lat: float = 0.0
    birth: date = date(2000, 1, 1)
    priority: str = ""
    sibling: int | None = None
    child_id: str = ""
    household_id: str = ""


class _Frame:
    """Metric city frame: x east, y north, in metres from the south-west corner, in UTM 48N."""

    def __init__(self) -> None:
        to_utm = Transformer.from_crs("EPSG:4326", f"EPSG:{UTM_EPSG}", always_xy=True)
        self._to_lonlat = Transformer.from_crs(f"EPSG:{UTM_EPSG}", "EPSG:4326", always_xy=True)
        sw = np.array(to_utm.transform(LON_MIN, LAT_MIN), dtype=float)
        se = np.array(to_utm.transform(LON_MAX, LAT_MIN), dtype=float)
        nw = np.array(to_utm.transform(LON_MIN, LAT_MAX), dtype=float)
        east = se - sw
        self.width = float(np.hypot(east[0], east[1]))
        self._origin = sw
        self._ex = east / self.width
        self._ey = np.array([-self._ex[1], self._ex[0]])
        self.height = float((nw - sw) @ self._ey)

    def to_lonlat(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Local metres to lon/lat rounded to 7 decimals."""
        ux = self._origin[0] + x * self._ex[0] + y * self._ey[0]
        uy = self._origin[1] + x * self._ex[1] + y * self._ey[1]
        lon, lat = self._to_lonlat.transform(ux, uy)
        return np.round(np.asarray(lon, dtype=float), 7), np.round(np.asarray(lat, dtype=float), 7)

    def to_lonlat_snapped(self, x: FloatArray, y: FloatArray) -> tuple[FloatArray, FloatArray]:
        """Like to_lonlat, with points on the city's edge put exactly on the lon/lat box."""
        lon, lat = self.to_lonlat(x, y)
        lon = np.where(x <= 0.0, LON_MIN, np.where(x >= self.width, LON_MAX, lon))
        lat = np.where(y <= 0.0, LAT_MIN, np.where(y >= self.height, LAT_MAX, lat))
        return lon, lat


def _rng(seed: int, stream: int) -> np.random.Generator:
    return np.random.default_rng([seed, stream])


def _largest_remainder(weights: Sequence[float], total: int) -> list[int]:
    """Integers proportional to weights that sum exactly to total."""
    w = np.asarray(weights, dtype=float)
    raw = w / w.sum() * total
    base = np.floor(raw).astype(int)
    order = np.argsort(-(raw - base), kind="stable")
    base[order[: total - int(base.sum())]] += 1
    return [int(v) for v in base]


# ---------------------------------------------------------------- wards


def _build_wards(rng: np.random.Generator, frame: _Frame) -> list[_Ward]:
    cols = [f * frame.width for f in WARD_COLUMNS]
    rows = [f * frame.height for f in WARD_ROWS]
    n_cols, n_rows = len(cols) - 1, len(rows) - 1
    vertex: dict[tuple[int, int], tuple[float, float]] = {}
    for c in range(n_cols + 1):
        for r in range(n_rows + 1):
            x, y = cols[c], rows[r]
            if 0 < c < n_cols:
                x += float(rng.uniform(-60.0, 60.0))
            if 0 < r < n_rows:
                y += float(rng.uniform(-60.0, 60.0))
            vertex[(c, r)] = (x, y)

    edges: dict[tuple[str, int, int], FloatArray] = {}
    for c in range(n_cols):
        for r in range(n_rows + 1):
            edges[("H", c, r)] = _boundary_polyline(
                rng, vertex[(c, r)], vertex[(c + 1, r)], 0 < r < n_rows
            )
    for c in range(n_cols + 1):
        for r in range(n_rows):
            edges[("V", c, r)] = _boundary_polyline(
                rng, vertex[(c, r)], vertex[(c, r + 1)], 0 < c < n_cols
            )
    lonlat_edges: dict[tuple[str, int, int], FloatArray] = {}
    for key, pts in edges.items():
        lon, lat = frame.to_lonlat_snapped(pts[:, 0], pts[:, 1])
        lonlat_edges[key] = np.column_stack([lon, lat])

    wards = []
    for plan in WARD_PLANS:
        local_ring = _ward_ring(plan.cells, edges)
        lonlat_ring = _ward_ring(plan.cells, lonlat_edges)
        growth_range = (0.95, 1.05) if plan.district_code == "901" else (1.02, 1.15)
        pop_2019 = round(plan.base_population * float(rng.uniform(0.94, 1.04)))
        pop_2024 = round(pop_2019 * float(rng.uniform(*growth_range)))
        ring_ll = [(float(a), float(b)) for a, b in lonlat_ring]
        wards.append(
            _Ward(plan, Polygon(local_ring), Polygon(ring_ll), [ring_ll], pop_2019, pop_2024)
        )
    return wards


def _boundary_polyline(
    rng: np.random.Generator, a: tuple[float, float], b: tuple[float, float], jitter: bool
) -> FloatArray:
    start, end = np.array(a), np.array(b)
    if not jitter:
        return np.array([start, end])
    length = float(np.hypot(*(end - start)))
    n = max(2, round(length / 50.0))
    t = np.linspace(0.0, 1.0, n + 1)
    pts = start + (end - start) * t[:, None]
    normal = np.array([-(end - start)[1], (end - start)[0]]) / length
    amp1, amp2 = rng.uniform(-30.0, 30.0), rng.uniform(-12.0, 12.0)
    phase = rng.uniform(0.0, 2 * math.pi)
    envelope = np.sin(np.pi * t)
    offset = amp1 * envelope + amp2 * np.sin(3 * np.pi * t + phase) * envelope
    pts = pts + normal * offset[:, None]
    pts[0], pts[-1] = start, end
    return pts


def _ward_ring(
    cells: tuple[tuple[int, int], ...], edges: dict[tuple[str, int, int], FloatArray]
) -> list[tuple[float, float]]:
    """The counter-clockwise outline of a group of grid cells, from the shared edge polylines."""
    directed = []
    for c, r in cells:
        directed += [
            ((c, r), (c + 1, r), ("H", c, r), True),
            ((c + 1, r), (c + 1, r + 1), ("V", c + 1, r), True),
            ((c + 1, r + 1), (c, r + 1), ("H", c, r + 1), False),
            ((c, r + 1), (c, r), ("V", c, r), False),
        ]
    uses = Counter(item[2] for item in directed)
    following = {item[0]: item for item in directed if uses[item[2]] == 1}
    start = min(following)
    ring: list[tuple[float, float]] = []
    current = start
    while True:
        _, end, key, forward = following[current]
        pts = edges[key] if forward else edges[key][::-1]
        ring.extend((float(x), float(y)) for x, y in pts[:-1])
        current = end
        if current == start:
            break
    ring.append(ring[0])
    return ring


def _ward_at(wards: list[_Ward], x: float, y: float) -> _Ward | None:
    for ward in wards:
        if shapely.contains_xy(ward.local, x, y):
            return ward
    return None


def _density_at(wards: list[_Ward], x: float, y: float) -> float:
    ward = _ward_at(wards, x, y)
    return ward.density if ward else 0.0


# ---------------------------------------------------------------- roads


class _Network:
    """Road and school nodes in local metres, and the ways over them."""

    def __init__(self) -> None:
        self.xs: list[float] = []
        self.ys: list[float] = []
        self.ways: list[_Way] = []

    def add_node(self, x: float, y: float) -> int:
        self.xs.append(x)
        self.ys.append(y)
        return len(self.xs) - 1

    def xy(self, node: int) -> FloatArray:
        return np.array([self.xs[node], self.ys[node]])


@dataclass
class _Lattice:
    vlines: list[_Line]
    hlines: list[_Line]
    points: dict[tuple[int, int], tuple[float, float]]
    edges: dict[tuple[str, int, int], _Edge]


def _grid_lines(
    rng: np.random.Generator, axis: str, length: float, arterials: Sequence[float]
) -> list[_Line]:
    stops = [0.0, *(f * length for f in arterials), length]
    lines = [_Line(axis, "border", ROAD_END_MARGIN_M)]
    for gap, (a, b) in enumerate(pairwise(stops)):
        n = max(1, round((b - a) / STREET_SPACING_M))
        for k in range(1, n):
            base = a + (b - a) * k / n + float(rng.uniform(-20.0, 20.0))
            edge_gap = gap in (0, len(stops) - 2)
            highway = "tertiary" if k == n // 2 and not edge_gap else "residential"
            lines.append(_Line(axis, "street", base, highway))
        if gap < len(arterials):
            lines.append(
                _Line(
                    axis,
                    "arterial",
                    b,
                    ordinal=gap,
                    amplitude=float(rng.uniform(5.0, 25.0)),
                    period=float(rng.uniform(4000.0, 8000.0)),
                    phase=float(rng.uniform(0.0, 2 * math.pi)),
                )
            )
    end = ROAD_END_MARGIN_M if axis == "h" else 0.0
    lines.append(_Line(axis, "border", length - ROAD_END_MARGIN_M - end + end))
    return lines


def _build_lattice(
    rng: np.random.Generator, frame: _Frame, wards: list[_Ward], net: _Network
) -> tuple[_Lattice, list[list[int]]]:
    vlines = _grid_lines(rng, "v", frame.width, ARTERIAL_X)
    hlines = _grid_lines(rng, "h", frame.height, ARTERIAL_Y)
    names = list(STREET_NAMES)
    order = rng.permutation(len(names))
    street_names = iter([names[i] for i in order])
    for line in vlines + hlines:
        if line.kind == "arterial":
            ns = line.axis == "v"
            line.name = (ARTERIAL_NS_NAMES if ns else ARTERIAL_EW_NAMES)[line.ordinal]
            line.highway = (ARTERIAL_NS_HIGHWAY if ns else ARTERIAL_EW_HIGHWAY)[line.ordinal]
        elif line.kind == "street":
            line.name = next(street_names)

    points: dict[tuple[int, int], tuple[float, float]] = {}
    for i, v in enumerate(vlines):
        for j, h in enumerate(hlines):
            jx = float(rng.uniform(-7.0, 7.0)) if v.kind == "street" else 0.0
            jy = float(rng.uniform(-7.0, 7.0)) if h.kind == "street" else 0.0
            x, y = v.base, h.base
            for _ in range(4):
                x = v.cross(y) + jx
                y = h.cross(x) + jy
            points[(i, j)] = (x, y)
    for i, v in enumerate(vlines):
        v.along = _cumulative([points[(i, j)] for j in range(len(hlines))])
    for j, h in enumerate(hlines):
        h.along = _cumulative([points[(i, j)] for i in range(len(vlines))])

    lattice = _Lattice(vlines, hlines, points, {})
    node_of: dict[tuple[int, int], int] = {}

    def lattice_node(key: tuple[int, int]) -> int:
        if key not in node_of:
            node_of[key] = net.add_node(*points[key])
        return node_of[key]

    def make_edge(key: tuple[str, int, int]) -> _Edge:
        axis, i, j = key
        a, b = ((i, j), (i, j + 1)) if axis == "v" else ((i, j), (i + 1, j))
        line = vlines[i] if axis == "v" else hlines[j]
        (ax, ay), (bx, by) = points[a], points[b]
        length = math.hypot(bx - ax, by - ay)
        spacing = 40.0 if line.kind == "arterial" else 25.0
        n = max(1, round(length / spacing))
        ids = [lattice_node(a)]
        for k in range(1, n):
            ids.append(net.add_node(ax + (bx - ax) * k / n, ay + (by - ay) * k / n))
        ids.append(lattice_node(b))
        start = line.along[j] if axis == "v" else line.along[i]
        edge = _Edge(line, ids, start, length)
        lattice.edges[key] = edge
        return edge

    road_ways: list[list[int]] = []
    motorway_from: tuple[int, int] | None = None
    for axis, lines, cross in (("v", vlines, hlines), ("h", hlines, vlines)):
        breaks = [0, *(k for k, c in enumerate(cross) if c.kind == "arterial"), len(cross) - 1]
        for idx, line in enumerate(lines):
            if line.kind == "border":
                continue
            trunk = line.highway == "trunk"
            spans = list(pairwise(breaks))
            if trunk:
                spans = [(0, len(cross) - 2)]
                motorway_from = (len(cross) - 2, idx)
            for span_no, (a, b) in enumerate(spans):
                keys = [(axis, idx, k) if axis == "v" else (axis, k, idx) for k in range(a, b)]
                mid = _span_midpoint(points, keys)
                density = _density_at(wards, *mid)
                if line.kind == "street":
                    drop = 0.0 if density > 12000 else (0.15 if density > 5000 else 0.35)
                    if rng.random() < drop:
                        continue
                nodes: list[int] = []
                for key in keys:
                    edge = make_edge(key)
                    nodes.extend(edge.nodes if not nodes else edge.nodes[1:])
                tags = _road_tags(rng, line, span_no, density)
                if tags.pop("_reverse", "") == "yes":
                    nodes.reverse()
                net.ways.append(_Way(nodes, tags))
                road_ways.append(nodes)
    if motorway_from is not None:
        net.ways.append(_motorway(net, frame, lattice_node(motorway_from)))
    return lattice, road_ways


def _cumulative(pts: list[tuple[float, float]]) -> list[float]:
    out = [0.0]
    for (ax, ay), (bx, by) in pairwise(pts):
        out.append(out[-1] + math.hypot(bx - ax, by - ay))
    return out


def _span_midpoint(
    points: dict[tuple[int, int], tuple[float, float]], keys: list[tuple[str, int, int]]
) -> tuple[float, float]:
    axis, i, j = keys[len(keys) // 2]
    a = points[(i, j)]
    b = points[(i, j + 1)] if axis == "v" else points[(i + 1, j)]
    return (a[0] + b[0]) / 2, (a[1] + b[1]) / 2


# (axis, arterial ordinal, span number) of one-way arterial stretches; True = drawn reversed.
ONEWAY_ARTERIALS = {("v", 1, 2): False, ("v", 3, 2): True, ("h", 2, 2): True}


def _road_tags(
    rng: np.random.Generator, line: _Line, span_no: int, density: float
) -> dict[str, str]:
    tags = {"highway": line.highway, "name": line.name}
    if line.kind == "arterial":
        if line.highway == "trunk":
            tags["ref"] = "QL.99"
            tags["lanes"] = "6"
        else:
            tags["lanes"] = "4" if line.highway == "primary" else "2"
        reverse = ONEWAY_ARTERIALS.get((line.axis, line.ordinal, span_no))
        if reverse is not None:
            tags["oneway"] = "yes"
            if reverse:
                tags["_reverse"] = "yes"
    elif density > 12000 and rng.random() < 0.22:
        tags["oneway"] = "yes"
        if rng.random() < 0.5:
            tags["_reverse"] = "yes"
    return tags


def _motorway(net: _Network, frame: _Frame, junction: int) -> _Way:
    """A one-way motorway entering the city from the east and ending on the national road."""
    jx, jy = net.xs[junction], net.ys[junction]
    outside_x = frame.width + 900.0
    n = 28
    nodes = []
    for k in range(n):
        t = k / n
        x = outside_x + (jx - outside_x) * t
        y = jy + 120.0 * (1 - t) ** 2
        nodes.append(net.add_node(x, y))
    nodes.append(junction)
    tags = {
        "highway": "motorway",
        "oneway": "yes",
        "name": "Đường cao tốc Thành phố Mẫu",
        "ref": "CT.99",
        "lanes": "2",
    }
    return _Way(nodes, tags)


def _house_number(along: float, left: bool) -> int:
    k = max(1, round(along / 8.0))
    return 2 * k if left else 2 * k - 1


def _edge_point(net: _Network, edge: _Edge, k: int) -> tuple[FloatArray, FloatArray, float]:
    """Node k of an edge: position, unit direction of the edge and distance along its line."""
    a = net.xy(edge.nodes[0])
    b = net.xy(edge.nodes[-1])
    direction = (b - a) / edge.length
    along = edge.start_along + edge.length * k / (len(edge.nodes) - 1)
    return net.xy(edge.nodes[k]), direction, along


def _segments(net: _Network, ways: list[list[int]]) -> tuple[FloatArray, FloatArray, list[int]]:
    starts, ends, owner = [], [], []
    for w, nodes in enumerate(ways):
        for a, b in pairwise(nodes):
            starts.append((net.xs[a], net.ys[a]))
            ends.append((net.xs[b], net.ys[b]))
            owner.append(w)
    return np.array(starts), np.array(ends), owner


# ---------------------------------------------------------------- schools


@dataclass
class _SchoolPlan:
    name: str
    amenity: str
    levels: tuple[str, ...]
    ownership: str
    ward_code: str
    in_osm: bool = True
    in_registry: bool = True
    area: bool = False


def _school_plans(rng: np.random.Generator, wards: list[_Ward]) -> list[_SchoolPlan]:
    codes = [w.plan.code for w in wards]
    pops = [float(w.pop_2024) for w in wards]
    extra = _largest_remainder(pops, PRIMARY_SCHOOL_COUNT - len(wards))
    primary_per_ward = [1 + e for e in extra]
    short = codes.index(SEAT_SHORT_WARD)
    while primary_per_ward[short] > 2:
        primary_per_ward[short] -= 1
        others = [i for i in np.argsort(pops)[::-1] if i != short]
        primary_per_ward[int(others[0])] += 1
    per_level = {
        "tieu_hoc": primary_per_ward,
        "thcs": _largest_remainder(pops, LOWER_SECONDARY_COUNT),
        "thpt": _largest_remainder(pops, len(UPPER_SECONDARY_NAMES)),
        "mam_non": _largest_remainder(pops, len(PRESCHOOL_NAMES) + len(PRIVATE_PRESCHOOL_NAMES)),
    }
    plans: list[_SchoolPlan] = []
    for level, names, prefix in (
        ("thpt", list(UPPER_SECONDARY_NAMES), "Trường THPT "),
        ("thcs", list(LOWER_SECONDARY_NAMES), "Trường THCS "),
        ("tieu_hoc", list(PRIMARY_NAMES), "Trường Tiểu học "),
    ):
        wards_of = [codes[i] for i, n in enumerate(per_level[level]) for _ in range(n)]
        order = rng.permutation(len(wards_of))
        for name, idx in zip(names, order, strict=True):
            full = SPELLED_OUT.get(prefix + name, prefix + name)
            plans.append(
                _SchoolPlan(
                    full,
                    "school",
                    (level,),
                    "public",
                    wards_of[int(idx)],
                    in_registry=level != "thpt",
                )
            )
    for name, levels, ward, ownership, in_registry in SPECIAL_SCHOOLS:
        plans.append(_SchoolPlan(name, "school", levels, ownership, ward, in_registry=in_registry))
    wards_of = [codes[i] for i, n in enumerate(per_level["mam_non"]) for _ in range(n)]
    order = rng.permutation(len(wards_of))
    pre_names = [("Trường Mầm non " + n, "public") for n in PRESCHOOL_NAMES]
    pre_names += [("Trường Mầm non Tư thục " + n, "private") for n in PRIVATE_PRESCHOOL_NAMES]
    for (name, ownership), idx in zip(pre_names, order, strict=True):
        plans.append(
            _SchoolPlan(
                name, "kindergarten", ("mam_non",), ownership, wards_of[int(idx)], in_registry=False
            )
        )
    # Ten schools are drawn as campus polygons: mostly secondary schools, a few primaries.
    by_level: dict[str, list[int]] = {}
    for k, plan in enumerate(plans):
        by_level.setdefault(plan.levels[0] if len(plan.levels) == 1 else "multi", []).append(k)
    picks = (("thpt", 3), ("thcs", 3), ("tieu_hoc", 3), ("multi", 1))
    for level, count in picks:
        for k in rng.choice(by_level[level], size=count, replace=False):
            plans[int(k)].area = True
    for name, levels, ward in NEW_SCHOOLS:
        plans.append(_SchoolPlan(name, "school", levels, "public", ward, in_osm=False))
    return plans


def _place_schools(
    rng: np.random.Generator,
    net: _Network,
    lattice: _Lattice,
    wards: list[_Ward],
    road_tree: STRtree,
) -> list[_School]:
    plans = _school_plans(rng, wards)
    ward_by_code = {w.plan.code: w for w in wards}
    spots = [
        (lattice.edges[key], k)
        for key in sorted(lattice.edges)
        if lattice.edges[key].line.highway != "trunk"
        for k in range(1, len(lattice.edges[key].nodes) - 1)
    ]
    spot_x = np.array([net.xs[edge.nodes[k]] for edge, k in spots])
    spot_y = np.array([net.ys[edge.nodes[k]] for edge, k in spots])
    frontage: dict[str, list[tuple[_Edge, int]]] = {}
    for code, ward in ward_by_code.items():
        inside = shapely.contains_xy(ward.local.buffer(-60.0), spot_x, spot_y)
        frontage[code] = [spot for spot, ok in zip(spots, inside, strict=True) if ok]
    schools: list[_School] = []
    for plan in plans:
        gap = SCHOOL_MIN_GAP_M if plan.in_osm else NEW_SCHOOL_MIN_GAP_M
        placed = _site_school(
            rng,
            net,
            plan,
            frontage[plan.ward_code],
            ward_by_code[plan.ward_code],
            road_tree,
            schools,
            gap,
        )
        schools.append(placed)
    return schools


def _site_school(
    rng: np.random.Generator,
    net: _Network,
    plan: _SchoolPlan,
    spots: list[tuple[_Edge, int]],
    ward: _Ward,
    road_tree: STRtree,
    placed: list[_School],
    gap: float,
) -> _School:
    inner = ward.local.buffer(-40.0)
    others = np.array([(s.x, s.y) for s in placed]) if placed else np.zeros((0, 2))
    for attempt in range(2000):
        edge, k = spots[int(rng.integers(len(spots)))]
        point, direction, along = _edge_point(net, edge, k)
        side = 1.0 if rng.random() < 0.5 else -1.0
        normal = np.array([-direction[1], direction[0]]) * side
        area: Polygon | None = None
        if plan.area:
            size = float(rng.uniform(50.0, 75.0))
            centre = point + normal * (size / 2 + 10.0)
            half_u, half_n = direction * size / 2, normal * size / 2
            corners = [
                centre - half_u - half_n,
                centre + half_u - half_n,
                centre + half_u + half_n,
                centre - half_u + half_n,
            ]
            if side < 0:
                corners.reverse()
            area = Polygon([tuple(c) for c in corners])
            probe = area.buffer(4.0)
            if not inner.contains(area) or len(road_tree.query(probe, predicate="intersects")):
                continue
        else:
            centre = point + normal * float(rng.uniform(25.0, 40.0))
            if not shapely.contains_xy(inner, centre[0], centre[1]):
                continue
            probe = shapely.Point(centre).buffer(12.0)
            if len(road_tree.query(probe, predicate="intersects")):
                continue
        min_gap = gap if attempt < 1500 else gap * 0.6
        if len(others) and np.min(np.hypot(*(others - centre).T)) < min_gap:
            continue
        number = _house_number(along, side > 0)
        return _School(
            name=plan.name,
            amenity=plan.amenity,
            levels=plan.levels,
            ownership=plan.ownership,
            ward_code=plan.ward_code,
            x=float(centre[0]),
            y=float(centre[1]),
            street=edge.line.name,
            housenumber=str(number),
            area=area,
            in_osm=plan.in_osm,
            in_registry=plan.in_registry,
        )
    raise RuntimeError(f"no site found for {plan.name} in ward {plan.ward_code}")


def _tag_schools(rng: np.random.Generator, frame: _Frame, schools: list[_School]) -> None:
    for school in schools:
        if school.name not in NAMES_WITHOUT_LEVEL and (
            school.name == "Trường Tiểu học Lê Văn Thọ" or rng.random() < 0.6
        ):
            school.isced = ";".join(ISCED[level] for level in school.levels)
        school.phone = f"3{int(rng.integers(0, 10_000_000)):07d}"
        school.phone_on_map = school.in_osm and rng.random() < 0.45
        school.phone_in_registry = rng.random() < 0.9
        if not school.in_osm:
            school.registry_name = school.name
            school.registry_xy = (school.x, school.y)
            continue
        abbreviated = ABBREVIATED_NAMES.get(school.name)
        school.registry_name = abbreviated or school.name
        low, high = (25.0, 70.0) if abbreviated else (2.0, 25.0)
        while True:
            distance = float(rng.uniform(low, high))
            angle = float(rng.uniform(0.0, 2 * math.pi))
            x = school.x + distance * math.cos(angle)
            y = school.y + distance * math.sin(angle)
            if 5.0 < x < frame.width - 5.0 and 5.0 < y < frame.height - 5.0:
                break
        school.registry_xy = (x, y)


# ---------------------------------------------------------------- alleys


def _build_alleys(
    rng: np.random.Generator,
    net: _Network,
    lattice: _Lattice,
    wards: list[_Ward],
    schools: list[_School],
) -> None:
    zones = []
    for school in schools:
        if school.area is not None:
            zones.append(school.area.buffer(8.0))
        else:
            zones.append(shapely.Point(school.x, school.y).buffer(25.0))
    school_tree = STRtree(zones)
    nv, nh = len(lattice.vlines), len(lattice.hlines)
    for i in range(nv - 1):
        for j in range(nh - 1):
            _cell_alleys(rng, net, lattice, wards, school_tree, i, j)


def _cell_alleys(
    rng: np.random.Generator,
    net: _Network,
    lattice: _Lattice,
    wards: list[_Ward],
    school_tree: STRtree,
    i: int,
    j: int,
) -> None:
    p = lattice.points
    corners = [p[(i, j)], p[(i + 1, j)], p[(i + 1, j + 1)], p[(i, j + 1)]]
    cell = Polygon(corners)
    centre = np.mean(np.array(corners), axis=0)
    density = _density_at(wards, float(centre[0]), float(centre[1]))
    if density <= 0:
        return
    target = int(min(7.0, density / 4000.0 + float(rng.uniform(0.3, 1.8))))
    if target == 0:
        return
    sides = {
        "ns": [(("h", i, j), ("h", i, j + 1)), (("h", i, j + 1), ("h", i, j))],
        "ew": [(("v", i, j), ("v", i + 1, j)), (("v", i + 1, j), ("v", i, j))],
    }
    options = [o for o in ("ns", "ew") if any(s in lattice.edges for s, _ in sides[o])]
    if not options:
        return
    sources = [
        (s, t) for s, t in sides[options[int(rng.integers(len(options)))]] if s in lattice.edges
    ]
    inner = cell.buffer(-8.0)
    accepted: list[LineString] = []
    used: set[int] = set()
    central = density > 15000
    for _ in range(4 * target + 2):
        if len(accepted) >= target:
            break
        source, opposite = sources[int(rng.integers(len(sources)))]
        edge = lattice.edges[source]
        candidates = [
            k
            for k in range(1, len(edge.nodes) - 1)
            if 35.0 <= edge.length * k / (len(edge.nodes) - 1) <= edge.length - 35.0
        ]
        candidates = [k for k in candidates if edge.nodes[k] not in used]
        if not candidates:
            continue
        k = candidates[int(rng.integers(len(candidates)))]
        start, direction, along = _edge_point(net, edge, k)
        normal = np.array([-direction[1], direction[0]])
        left = bool(normal @ (centre - start) > 0)
        inward = normal if left else -normal
        through_node: int | None = None
        if opposite in lattice.edges and rng.random() < 0.25:
            far = lattice.edges[opposite]
            t = k / (len(edge.nodes) - 1)
            q = round(t * (len(far.nodes) - 1))
            if 0 < q < len(far.nodes) - 1:
                through_node = far.nodes[q]
        if through_node is not None:
            end = net.xy(through_node)
        else:
            ray = LineString([tuple(start), tuple(start + inward * 2000.0)])
            hit = ray.intersection(cell.exterior)
            depth = max(_distances(hit, start), default=0.0)
            if depth < 60.0:
                continue
            end = start + inward * depth * float(rng.uniform(0.3, 0.48))
        pts = _wiggly(rng, start, end, 14.0, pinned_end=through_node is not None)
        core = _core(pts, 12.0, 12.0 if through_node is not None else 0.0)
        if not _fits(core, inner, accepted, 10.0):
            continue
        line = shapely.linestrings(pts)
        if len(school_tree.query(line, predicate="intersects")):
            continue
        accepted.append(line)
        used.add(edge.nodes[k])
        ids = [edge.nodes[k]]
        inner_pts = pts[1:-1] if through_node is not None else pts[1:]
        ids += [net.add_node(float(x), float(y)) for x, y in inner_pts]
        if through_node is not None:
            ids.append(through_node)
            used.add(through_node)
        number = _house_number(along, left)
        street = edge.line.name
        tags = _alley_tags(rng, central, f"Hẻm {number} {street}")
        net.ways.append(_Way(ids, tags))
        if len(ids) >= 5 and rng.random() < 0.4:
            branch = _branch(rng, net, ids, line, inner, accepted, school_tree)
            if branch is not None:
                branch_ids, branch_line, branch_no = branch
                accepted.append(branch_line)
                if tags["highway"] == "service":
                    branch_name = f"Hẻm {number}/{branch_no} {street}"
                    branch_tags = _alley_tags(rng, central, branch_name)
                else:
                    branch_tags = {"highway": tags["highway"]}
                net.ways.append(_Way(branch_ids, branch_tags))


def _distances(hit: shapely.Geometry, start: FloatArray) -> list[float]:
    coords = shapely.get_coordinates(hit)
    return [float(np.hypot(*(c - start))) for c in coords]


def _core(pts: FloatArray, head: float, tail: float) -> FloatArray:
    """The points of a polyline at least head from its start and tail from its end."""
    steps = np.hypot(*np.diff(pts, axis=0).T)
    along = np.concatenate([[0.0], np.cumsum(steps)])
    return pts[(along >= head) & (along <= along[-1] - tail)]


def _fits(core: FloatArray, inner: Polygon, others: list[LineString], gap: float) -> bool:
    """Whether a polyline's core lies inside its block and keeps gap from the other alleys."""
    if len(core) < 2 or not shapely.contains_xy(inner, core[:, 0], core[:, 1]).all():
        return False
    line = shapely.linestrings(core)
    return not any(line.distance(o) < gap for o in others)


def _wiggly(
    rng: np.random.Generator,
    start: FloatArray,
    end: FloatArray,
    spacing: float,
    pinned_end: bool,
) -> FloatArray:
    length = float(np.hypot(*(end - start)))
    n = max(2, round(length / spacing))
    t = np.linspace(0.0, 1.0, n + 1)
    pts = start + (end - start) * t[:, None]
    normal = np.array([-(end - start)[1], (end - start)[0]]) / length
    wiggle = np.cumsum(rng.normal(0.0, 0.8, n + 1))
    wiggle -= wiggle[0]
    if pinned_end:
        wiggle -= t * wiggle[-1]
    wiggle = np.clip(wiggle, -3.0, 3.0)
    return np.asarray(pts + normal * wiggle[:, None], dtype=float)


def _branch(
    rng: np.random.Generator,
    net: _Network,
    parent_ids: list[int],
    parent: LineString,
    inner: Polygon,
    accepted: list[LineString],
    school_tree: STRtree,
) -> tuple[list[int], LineString, int] | None:
    m = int(rng.integers(2, len(parent_ids) - 2))
    origin = net.xy(parent_ids[m])
    ahead = net.xy(parent_ids[m + 1]) - net.xy(parent_ids[m - 1])
    ahead /= np.hypot(*ahead)
    side = 1.0 if rng.random() < 0.5 else -1.0
    normal = np.array([-ahead[1], ahead[0]]) * side
    end = origin + normal * float(rng.uniform(20.0, 45.0))
    pts = _wiggly(rng, origin, end, 12.0, pinned_end=False)
    core = _core(pts, 6.0, 0.0)
    others = [a for a in accepted if a is not parent]
    if not _fits(core, inner, others, 10.0) or not _fits(core, inner, [parent], 4.0):
        return None
    line = shapely.linestrings(pts)
    if len(school_tree.query(line, predicate="intersects")):
        return None
    ids = [parent_ids[m]] + [net.add_node(float(x), float(y)) for x, y in pts[1:]]
    along = parent.project(shapely.Point(origin))
    return ids, line, _house_number(along, side > 0)


def _alley_tags(rng: np.random.Generator, central: bool, name: str) -> dict[str, str]:
    roll = rng.random()
    if central:
        kind = "service" if roll < 0.8 else ("footway" if roll < 0.95 else "pedestrian")
    else:
        kind = "service" if roll < 0.55 else ("path" if roll < 0.85 else "footway")
    if kind == "service":
        tags = {"highway": "service", "service": "alley", "name": name}
        if rng.random() < 0.15:
            tags["motorcar"] = "destination"
        return tags
    if kind == "path":
        return {"highway": "path"}
    if kind == "pedestrian" or rng.random() < 0.5:
        return {"highway": kind, "name": name}
    return {"highway": kind}


# ---------------------------------------------------------------- households


def _place_households(
    rng: np.random.Generator,
    net: _Network,
    frame: _Frame,
    wards: list[_Ward],
    schools: list[_School],
    admission_year: int,
) -> list[_Child]:
    ways = [w for w in net.ways if "highway" in w.tags]
    starts, ends, owner = _segments(net, [w.nodes for w in ways])
    segs = shapely.linestrings(np.stack([starts, ends], axis=1))
    tree = STRtree(segs)
    weights = np.array([HOME_WEIGHTS.get(ways[o].tags["highway"], 1.0) for o in owner])
    weights = weights * np.hypot(*(ends - starts).T)
    exclusion = shapely.union_all(
        [
            s.area.buffer(3.0) if s.area is not None else shapely.Point(s.x, s.y).buffer(20.0)
            for s in schools
            if s.in_osm
        ]
    )
    pops = [float(w.pop_2024) for w in wards]
    grade_1 = _largest_remainder(pops, GRADE_1_CHILDREN)
    grade_6 = _largest_remainder(pops, GRADE_6_CHILDREN)
    homes: list[tuple[str, float, float, float, float, list[int]]] = []
    for ward, n1, n6 in zip(wards, grade_1, grade_6, strict=True):
        grades = np.array([1] * n1 + [6] * n6)
        rng.shuffle(grades)
        pairs = int(rng.binomial(len(grades) // 2, 0.03))
        groups = [list(grades[2 * p : 2 * p + 2]) for p in range(pairs)]
        groups += [[g] for g in grades[2 * pairs :]]
        pts = _sample_homes(rng, frame, ward, len(groups), starts, ends, weights, tree, exclusion)
        for group, (x, y, lon, lat) in zip(groups, pts, strict=True):
            homes.append((ward.plan.code, x, y, lon, lat, [int(g) for g in group]))
    order = rng.permutation(len(homes))
    children: list[_Child] = []
    for h, idx in enumerate(order, start=1):
        code, x, y, lon, lat, group = homes[int(idx)]
        roll = rng.random()
        family = "liet_si" if roll < 0.012 else ("thuong_binh" if roll < 0.035 else "")
        members = []
        twin_birth: date | None = None
        for grade in group:
            child = _Child(code, grade, h, x, y, lon, lat)
            year = admission_year - (6 if grade == 1 else 11)
            days = (date(year + 1, 1, 1) - date(year, 1, 1)).days
            birth = date(year, 1, 1) + timedelta(days=int(rng.integers(0, days)))
            if len(group) == 2 and group[0] == group[1]:
                twin_birth = twin_birth or birth
                birth = twin_birth
            child.birth = birth
            child.priority = family or ("khuyet_tat" if rng.random() < 0.015 else "")
            child.child_id = f"DC{len(children) + 1:07d}"
            child.household_id = f"HH{h:07d}"
            members.append(child)
            children.append(child)
        if len(members) == 2:
            members[0].sibling = len(children) - 1
            members[1].sibling = len(children) - 2
    return children


def _sample_homes(
    rng: np.random.Generator,
    frame: _Frame,
    ward: _Ward,
    n: int,
    starts: FloatArray,
    ends: FloatArray,
    weights: FloatArray,
    tree: STRtree,
    exclusion: shapely.Geometry,
) -> list[tuple[float, float, float, float]]:
    inner = ward.local.buffer(-3.0)
    candidates = tree.query(ward.local, predicate="intersects")
    probs = weights[candidates] / weights[candidates].sum()
    out: list[tuple[float, float, float, float]] = []
    for _ in range(100):
        if len(out) >= n:
            break
        m = 4 * (n - len(out)) + 50
        pick = rng.choice(candidates, size=m, p=probs)
        t = rng.random(m)
        side = np.where(rng.random(m) < 0.5, 1.0, -1.0)
        offset = rng.uniform(8.0, 30.0, m)
        a, b = starts[pick], ends[pick]
        d = b - a
        length = np.hypot(d[:, 0], d[:, 1])
        normal = np.column_stack([-d[:, 1], d[:, 0]]) / length[:, None]
        pts = a + d * t[:, None] + normal * (side * offset)[:, None]
        ok = shapely.contains_xy(inner, pts[:, 0], pts[:, 1])
        ok &= ~shapely.contains_xy(exclusion, pts[:, 0], pts[:, 1])
        pts = pts[ok]
        if len(pts) == 0:
            continue
        _, dist = tree.query_nearest(shapely.points(pts), return_distance=True, all_matches=False)
        pts = pts[(dist >= 5.0) & (dist <= 38.0)]
        lon, lat = frame.to_lonlat(pts[:, 0], pts[:, 1])
        inside = shapely.contains_xy(ward.lonlat, lon, lat)
        for (x, y), lo, la in zip(pts[inside], lon[inside], lat[inside], strict=True):
            out.append((float(x), float(y), float(lo), float(la)))
    if len(out) < n:
        raise RuntimeError(f"cannot place {n} homes near the roads of ward {ward.plan.code}")
    return out[:n]


# ---------------------------------------------------------------- registry


@dataclass
class _RegistryRow:
    code: str
    school: _School
    ward_code: str
    lon: float
    lat: float
    classes: dict[int, int] = field(default_factory=dict)
    sizes: dict[int, int] = field(default_factory=dict)


def _build_registry(
    rng: np.random.Generator,
    frame: _Frame,
    wards: list[_Ward],
    schools: list[_School],
    children: list[_Child],
) -> list[_RegistryRow]:
    listed = [s for s in schools if s.in_registry]
    xs = np.array([s.registry_xy[0] for s in listed])
    ys = np.array([s.registry_xy[1] for s in listed])
    lons, lats = frame.to_lonlat(xs, ys)
    rows: list[_RegistryRow] = []
    for school, lon, lat in zip(listed, lons, lats, strict=True):
        ward_code = next(w.plan.code for w in wards if shapely.contains_xy(w.lonlat, lon, lat))
        rows.append(_RegistryRow("", school, ward_code, float(lon), float(lat)))
    rows.sort(key=lambda r: ("tieu_hoc" not in r.school.levels, r.ward_code, r.school.name))
    counters: Counter[str] = Counter()
    for row in rows:
        prefix = PROVINCE_CODE + ("TH" if "tieu_hoc" in row.school.levels else "THCS")
        counters[prefix] += 1
        row.code = f"{prefix}{counters[prefix]:04d}"

    public_primary = [r for r in rows if r.school.levels == ("tieu_hoc",) and r.school.in_osm]
    public_lower = [r for r in rows if r.school.levels == ("thcs",) and r.school.in_osm]
    smaller = {public_primary[int(k)].code for k in rng.choice(len(public_primary), 3, False)}
    smaller |= {public_lower[int(k)].code for k in rng.choice(len(public_lower), 2, False)}
    for row in rows:
        private = row.school.ownership == "private"
        for level, grades in LEVEL_GRADES.items():
            if level not in row.school.levels:
                continue
            if level == "tieu_hoc":
                size = 30 if private or row.code in smaller else 35
            else:
                size = 40 if private or row.code in smaller else 45
            for grade in grades:
                row.sizes[grade] = size
    demand_1 = Counter(c.ward_code for c in children if c.grade == 1)
    demand_6 = Counter(c.ward_code for c in children if c.grade == 6)
    _allocate_classes(rows, 1, demand_1, 3, 8, GRADE_1_SEAT_RATIO)
    _allocate_classes(rows, 6, demand_6, 4, 10, GRADE_6_SEAT_RATIO)
    for row in rows:
        for first, later, low, high in ((1, (2, 3, 4, 5), 3, 8), (6, (7, 8, 9), 4, 10)):
            if first not in row.classes:
                continue
            for grade in later:
                step = int(rng.integers(-1, 2))
                row.classes[grade] = int(np.clip(row.classes[first] + step, low, high))
    return sorted(rows, key=lambda r: r.code)


def _allocate_classes(
    rows: list[_RegistryRow],
    grade: int,
    demand: Counter[str],
    low: int,
    high: int,
    ratio: float,
) -> None:
    """Entry-grade classes: the minimum everywhere, then to the most short wards to a target."""
    teaching = [r for r in rows if grade in r.sizes]
    for row in teaching:
        row.classes[grade] = low
    target = math.ceil(ratio * sum(demand.values()))
    seats: Counter[str] = Counter()
    for row in teaching:
        seats[row.ward_code] += low * row.sizes[grade]
    while sum(seats.values()) < target:
        best: tuple[float, int, str] | None = None
        chosen: _RegistryRow | None = None
        for row in teaching:
            if row.classes[grade] >= high or (grade == 1 and row.ward_code == SEAT_SHORT_WARD):
                continue
            need = demand[row.ward_code]
            key = (-(need - seats[row.ward_code]) / max(need, 1), row.classes[grade], row.code)
            if best is None or key < best:
                best, chosen = key, row
        if chosen is None:
            break
        chosen.classes[grade] += 1
        seats[chosen.ward_code] += chosen.sizes[grade]


# ---------------------------------------------------------------- writers


ADDRESS_SPACING_M = 40.0
ADDRESS_SETBACK_M = 10.0
_NO_ADDRESS_HIGHWAYS = frozenset({"motorway", "trunk", "footway", "path", "pedestrian"})


def _address_points(net: _Network) -> list[tuple[float, float, str, str]]:
    """House numbers on both sides of named streets and alleys: (x, y, number, street).

    A street's numbers grow along it, odd on one side and even on the other, as the alleys'
    numbers do (_house_number); a house in "Hẻm 24 Lê Lợi" is "24/k Lê Lợi".
    """
    points: list[tuple[float, float, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for way in net.ways:
        name = way.tags.get("name", "")
        if not name or way.tags.get("highway") in _NO_ADDRESS_HIGHWAYS:
            continue
        line = LineString([(net.xs[n], net.ys[n]) for n in way.nodes])
        if line.length < ADDRESS_SPACING_M:
            continue
        alley = name.startswith("Hẻm ")
        if alley:
            alley_no, _, street = name[4:].partition(" ")
        else:
            street = name
            (x0, y0), (x1, y1) = line.coords[0], line.coords[-1]
            vertical = abs(y1 - y0) >= abs(x1 - x0)
        for k in range(1, int(line.length // ADDRESS_SPACING_M) + 1):
            at = k * ADDRESS_SPACING_M - ADDRESS_SPACING_M / 2
            p, q = line.interpolate(at), line.interpolate(min(line.length, at + 1.0))
            dx, dy = q.x - p.x, q.y - p.y
            norm = math.hypot(dx, dy) or 1.0
            for left in (True, False):
                side = 1.0 if left else -1.0
                x = p.x - dy / norm * ADDRESS_SETBACK_M * side
                y = p.y + dx / norm * ADDRESS_SETBACK_M * side
                if alley:
                    number = f"{alley_no}/{_house_number(at, left)}"
                else:
                    number = str(_house_number(y if vertical else x, left))
                if (number, street) in seen:
                    continue
                seen.add((number, street))
                points.append((x, y, number, street))
    return points


def _write_osm(path: Path, frame: _Frame, net: _Network, schools: list[_School]) -> None:
    school_ways: list[tuple[_Way, _School]] = []
    school_nodes: dict[int, _School] = {}
    for school in schools:
        if not school.in_osm:
            continue
        if school.area is None:
            school_nodes[net.add_node(school.x, school.y)] = school
        else:
            ring = [net.add_node(float(x), float(y)) for x, y in school.area.exterior.coords[:-1]]
            school_ways.append((_Way([*ring, ring[0]], {}), school))
    used = sorted(
        {n for way in net.ways for n in way.nodes}
        | {n for way, _ in school_ways for n in way.nodes}
        | set(school_nodes)
    )
    final_id = {n: OSM_ID_BASE + rank for rank, n in enumerate(used, start=1)}
    xs = np.array([net.xs[n] for n in used])
    ys = np.array([net.ys[n] for n in used])
    lons, lats = frame.to_lonlat(xs, ys)
    out = io.StringIO()
    out.write('<?xml version="1.0" encoding="UTF-8"?>\n')
    out.write(f'<osm version="0.6" generator="{OSM_GENERATOR}">\n')
    out.write(
        f'  <bounds minlat="{lats.min():.7f}" minlon="{lons.min():.7f}" '
        f'maxlat="{lats.max():.7f}" maxlon="{lons.max():.7f}"/>\n'
    )
    for n, lon, lat in zip(used, lons, lats, strict=True):
        head = f'  <node id="{final_id[n]}" version="1" lat="{lat:.7f}" lon="{lon:.7f}"'
        tagged = school_nodes.get(n)
        if tagged is None:
            out.write(head + "/>\n")
            continue
        out.write(head + ">\n")
        _write_tags(out, _school_tags(tagged), "    ")
        out.write("  </node>\n")
    all_ways = [(w, None) for w in net.ways] + [(w, s) for w, s in school_ways]
    for number, (way, owner) in enumerate(all_ways, start=1):
        out.write(f'  <way id="{OSM_ID_BASE + number}" version="1">\n')
        for n in way.nodes:
            out.write(f'    <nd ref="{final_id[n]}"/>\n')
        _write_tags(out, _school_tags(owner) if owner else way.tags, "    ")
        out.write("  </way>\n")
    addresses = _address_points(net)
    if addresses:
        xs = np.array([a[0] for a in addresses])
        ys = np.array([a[1] for a in addresses])
        lons, lats = frame.to_lonlat(xs, ys)
        body, tail = out.getvalue().split("  <way ", 1)
        out = io.StringIO()
        out.write(body)
        first_id = OSM_ID_BASE + len(used) + 1
        for i, ((_, _, housenumber, street), lon, lat) in enumerate(
            zip(addresses, lons, lats, strict=True)
        ):
            out.write(f'  <node id="{first_id + i}" version="1" lat="{lat:.7f}" lon="{lon:.7f}">\n')
            _write_tags(out, {"addr:housenumber": housenumber, "addr:street": street}, "    ")
            out.write("  </node>\n")
        out.write("  <way " + tail)
    out.write("</osm>\n")
    path.write_text(out.getvalue(), encoding="utf-8")


def _write_tags(out: io.StringIO, tags: dict[str, str], indent: str) -> None:
    for key in sorted(tags):
        out.write(f"{indent}<tag k={quoteattr(key)} v={quoteattr(tags[key])}/>\n")


def _school_tags(school: _School) -> dict[str, str]:
    tags = {
        "amenity": school.amenity,
        "name": school.name,
        "operator:type": school.ownership,
        "addr:housenumber": school.housenumber,
        "addr:street": school.street,
    }
    if school.isced:
        tags["isced:level"] = school.isced
    if school.phone_on_map:
        tags["phone"] = f"+84 28 {school.phone[:4]} {school.phone[4:]}"
    return tags


def _write_wards(path: Path, wards: list[_Ward]) -> None:
    lines = ["{", '"type": "FeatureCollection",', '"name": "wards",', '"features": [']
    features = []
    for ward in wards:
        props = {
            "ward_code": ward.plan.code,
            "ward_name": ward.plan.name,
            "district_code": ward.plan.district_code,
            "district_name": DISTRICTS[ward.plan.district_code],
            "province_name": PROVINCE_NAME,
            "pop_2019": ward.pop_2019,
            "pop_2024": ward.pop_2024,
        }
        rings = ", ".join(
            "[ " + ", ".join(f"[ {x:.7f}, {y:.7f} ]" for x, y in ring) + " ]"
            for ring in ward.lonlat_rings
        )
        features.append(
            '{ "type": "Feature", "properties": '
            + json.dumps(props, ensure_ascii=False)
            + ', "geometry": { "type": "Polygon", "coordinates": [ '
            + rings
            + " ] } }"
        )
    lines.append(",\n".join(features))
    lines += ["]", "}"]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def _write_population(path: Path, rng: np.random.Generator, wards: list[_Ward]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(POPULATION_COLUMNS)
        for code, name in sorted(DISTRICTS.items()):
            members = [w for w in wards if w.plan.district_code == code]
            for year in POPULATION_YEARS:
                total = sum(w.pop_2019 if year == 2019 else w.pop_2024 for w in members)
                shares = np.array(AGE_SHARES) * (1.0 + rng.normal(0.0, 0.03, len(AGE_SHARES)))
                if code == "903":
                    shares[:4] *= 1.08
                    shares[-5:] *= 1.1
                groups = _largest_remainder(list(shares), total)
                writer.writerow([PROVINCE_NAME, code, name, year, total, *groups])


def _write_registry(path: Path, rows: list[_RegistryRow], wards: list[_Ward]) -> None:
    ward_names = {w.plan.code: (w.plan.name, DISTRICTS[w.plan.district_code]) for w in wards}
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(REGISTRY_COLUMNS)
        for row in rows:
            school = row.school
            ward_name, district_name = ward_names[row.ward_code]
            address = f"{school.housenumber} {school.street}, {ward_name}, {district_name}"
            phone = f"028 {school.phone[:4]} {school.phone[4:]}" if school.phone_in_registry else ""
            cells: list[str] = []
            for grade in REGISTRY_GRADES:
                if grade in row.classes:
                    cells += [str(row.classes[grade]), str(row.sizes[grade])]
                else:
                    cells += ["", ""]
            writer.writerow(
                [
                    row.code,
                    school.registry_name,
                    ";".join(school.levels),
                    school.ownership,
                    address,
                    row.ward_code,
                    f"{row.lon:.7f}",
                    f"{row.lat:.7f}",
                    phone,
                    *cells,
                ]
            )


def _write_households(path: Path, children: list[_Child]) -> None:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(HOUSEHOLD_COLUMNS)
        for child in children:
            sibling = children[child.sibling].child_id if child.sibling is not None else ""
            writer.writerow(
                [
                    child.child_id,
                    child.household_id,
                    child.birth.isoformat(),
                    f"{child.lon:.7f}",
                    f"{child.lat:.7f}",
                    child.ward_code,
                    child.priority,
                    sibling,
                ]
            )


# ---------------------------------------------------------------- entry points


def generate_demo_city(
    out_dir: Path, seed: int = 2025, admission_year: int = 2025
) -> DemoCityFiles:
    """Write the demo city's five files into out_dir; the same seed gives the same bytes."""
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    frame = _Frame()
    wards = _build_wards(_rng(seed, 1), frame)
    net = _Network()
    lattice, road_ways = _build_lattice(_rng(seed, 2), frame, wards, net)
    starts, ends, _ = _segments(net, road_ways)
    road_tree = STRtree(shapely.linestrings(np.stack([starts, ends], axis=1)))
    schools = _place_schools(_rng(seed, 3), net, lattice, wards, road_tree)
    _tag_schools(_rng(seed, 4), frame, schools)
    _build_alleys(_rng(seed, 5), net, lattice, wards, schools)
    children = _place_households(_rng(seed, 6), net, frame, wards, schools, admission_year)
    registry = _build_registry(_rng(seed, 7), frame, wards, schools, children)

    files = DemoCityFiles(
        osm=out_dir / "city.osm",
        wards=out_dir / "wards.geojson",
        population=out_dir / "population_by_age.csv",
        registry=out_dir / "schools_registry.csv",
        households=out_dir / "households.csv",
    )
    _write_osm(files.osm, frame, net, schools)
    _write_wards(files.wards, wards)
    _write_population(files.population, _rng(seed, 8), wards)
    _write_registry(files.registry, registry, wards)
    _write_households(files.households, children)
    return files


def main(argv: Sequence[str] | None = None) -> int:
    """Command line: write the demo city into a folder and list the files."""
    parser = argparse.ArgumentParser(description="Write the synthetic demo city's files.")
    parser.add_argument("out_dir", type=Path, help="folder to write the files into")
    parser.add_argument("--seed", type=int, default=2025)
    parser.add_argument("--admission-year", type=int, default=2025)
    args = parser.parse_args(argv)
    files = generate_demo_city(args.out_dir, seed=args.seed, admission_year=args.admission_year)
    for item in fields(files):
        path: Path = getattr(files, item.name)
        print(f"{path}  {path.stat().st_size:,} bytes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
