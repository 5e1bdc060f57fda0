"""API shapes (GeoJSON features of schools and units), separate from table shapes."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class PointGeometry(BaseModel):
    type: Literal["Point"]
    coordinates: list[float] = Field(min_length=2, max_length=2)


class AreaGeometry(BaseModel):
    type: Literal["Polygon", "MultiPolygon"]
    coordinates: list[Any]


class GradeCapacity(BaseModel):
    grade: int
    classes: int
    class_size: int
    seats: int


UnitType = Literal[
    "tinh",
    "thanh_pho_tw",
    "quan",
    "huyen",
    "thi_xa",
    "thanh_pho",
    "phuong",
    "xa",
    "thi_tran",
    "dac_khu",
]


class SchoolUnit(BaseModel):
    """The commune-level unit of one edition a school lies in."""

    code: str
    name: str
    full_name: str = Field(description="with its type: 'Phường Sài Gòn'")
    unit_type: UnitType | None
    unit_type_vi: str | None
    district_code: str | None = Field(description="2019 edition only")
    district_name: str | None


class SchoolProperties(BaseModel):
    id: int
    code: str | None
    name: str
    levels: list[Literal["mam_non", "tieu_hoc", "thcs", "thpt"]]
    levels_source: Literal["registry", "osm_tag", "name", "unknown"]
    ownership: Literal["public", "private", "unknown"]
    address: str | None
    phone: str | None
    edition: str = Field(description="the edition of ward_code and ward_name")
    ward_code: str | None
    ward_name: str | None
    ward_full_name: str | None
    district_code: str | None = Field(description="the 2019 district the school lies in")
    district_name: str | None
    units: dict[str, SchoolUnit] = Field(
        description="the school's unit in each edition loaded, by edition"
    )
    source: str


class SchoolDetailProperties(SchoolProperties):
    website: str | None
    osm_type: str | None
    osm_id: int | None
    grades: list[GradeCapacity]


class SchoolFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: PointGeometry
    properties: SchoolProperties


class SchoolDetail(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: PointGeometry
    properties: SchoolDetailProperties


class SchoolCollection(BaseModel):
    type: Literal["FeatureCollection"]
    edition: str
    numberMatched: int
    numberReturned: int
    features: list[SchoolFeature]


class FormerUnit(BaseModel):
    """A 2019 unit a newer unit took, and the share of its area that went to it."""

    id: int
    code: str
    name: str
    full_name: str
    district_name: str | None
    share: float = Field(ge=0, le=1)


class WardProperties(BaseModel):
    id: int
    code: str
    name: str
    edition: str
    unit_type: UnitType | None
    unit_type_vi: str | None = Field(description="'Phường', 'Xã', 'Đặc khu', …")
    full_name: str = Field(description="with its type: 'Phường Sài Gòn'")
    district_code: str | None = Field(description="2019 edition only")
    district_name: str | None
    province_code: str | None
    province_name: str | None
    population: dict[str, int] | None = Field(
        description="population by year; null for a unit without census figures"
    )
    population_latest: int | None
    population_year: int | None
    population_source: Literal["census", "crosswalk"] | None = Field(
        description="census: the unit's own figures; crosswalk: carried from the 2019 units"
    )
    census_coverage: float | None = Field(
        ge=0, le=1, description="share of the area under 2019 census units with figures"
    )
    no_census: bool
    census_note_vi: str | None
    census_note_en: str | None
    reported_children: dict[str, int] | None = Field(
        description="children by birth year as the unit reports them"
    )
    former: list[FormerUnit] = Field(description="the 2019 units this unit took")
    former_note_vi: str | None = Field(description="'trước đây: …'")
    former_note_en: str | None
    matched_by: Literal["name", "former_name"] | None = Field(
        description="with q: found by its own name or code, or by a 2019 unit it took"
    )
    area_km2: float
    bbox: list[float] | None = Field(
        min_length=4, max_length=4, description="minLon, minLat, maxLon, maxLat"
    )


class WardFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: AreaGeometry | None
    properties: WardProperties


class WardCollection(BaseModel):
    type: Literal["FeatureCollection"]
    edition: str
    numberMatched: int
    numberReturned: int
    features: list[WardFeature]


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    postgis: str
    schema_version: int
    schools: int
    wards: int = Field(description="commune-level units of the current edition")
    edition: str = Field(description="the current edition of administrative units")
    wards_by_edition: dict[str, int] = Field(description="commune-level units loaded, by edition")
