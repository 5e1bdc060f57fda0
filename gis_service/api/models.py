"""API shapes (GeoJSON features of schools and wards), separate from table shapes."""

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


class SchoolProperties(BaseModel):
    id: int
    code: str | None
    name: str
    levels: list[Literal["mam_non", "tieu_hoc", "thcs", "thpt"]]
    levels_source: Literal["registry", "osm_tag", "name", "unknown"]
    ownership: Literal["public", "private", "unknown"]
    address: str | None
    phone: str | None
    ward_code: str | None
    ward_name: str | None
    district_code: str | None
    district_name: str | None
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
    numberMatched: int
    numberReturned: int
    features: list[SchoolFeature]


class WardProperties(BaseModel):
    id: int
    code: str
    name: str
    district_code: str | None
    district_name: str | None
    province_name: str | None
    population: dict[str, int] = Field(description="population by year")
    population_latest: int | None
    population_year: int | None
    area_km2: float


class WardFeature(BaseModel):
    type: Literal["Feature"]
    id: int
    geometry: AreaGeometry
    properties: WardProperties


class WardCollection(BaseModel):
    type: Literal["FeatureCollection"]
    numberMatched: int
    numberReturned: int
    features: list[WardFeature]


class Health(BaseModel):
    status: Literal["ok"]
    database: Literal["ok"]
    postgis: str
    schema_version: int
    schools: int
    wards: int
