"""Address search: a typed Vietnamese address to candidate points, from our own OSM data."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query
from pydantic import BaseModel, ConfigDict, Field

from gis_service.api.deps import get_read_connection
from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError
from gis_service.geocoding.search import MAX_QUERY_CHARS, SILENT_MAX_UNCERTAINTY_M, geocode

router = APIRouter(tags=["geocoding"])

Precision = Literal["house", "alley", "interpolated", "street", "ward", "district", "province"]


class _Shape(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Unit2019(_Shape):
    """A 2019 census ward and its district."""

    code: str
    name: str
    district: str | None


class Unit2025(_Shape):
    """A commune, ward or special zone of the units in force since 1 July 2025."""

    code: str
    name: str


class HomeUnits(_Shape):
    """The unit of each edition a point is in (null where no unit of that edition covers it)."""

    model_config = ConfigDict(populate_by_name=True)

    edition_2019: Unit2019 | None = Field(default=None, alias="2019")
    edition_2025: Unit2025 | None = Field(default=None, alias="2025")


class UnitConflict(_Shape):
    """A unit the address names that the point lies outside of."""

    written: str = Field(description="the words as read (folded)")
    units: list[str] = Field(description="what the words may mean, with each unit's edition")
    distance_m: int = Field(description="how far outside the unit the point lies")
    found_in: str | None = Field(description="the unit of that kind the point is in instead")


class GeocodeCandidate(_Shape):
    lon: float
    lat: float
    label: str
    precision: Precision
    uncertainty_m: int
    note_vi: str
    note_en: str
    street: str | None
    housenumber: str | None
    ward_name: str | None = Field(description="the point's unit in the edition in force")
    district_name: str | None = Field(description="its district (2019 edition only)")
    confidence: float = Field(
        ge=0,
        le=1,
        description="how the point was found, halved when it lies outside a unit the address names",
    )
    conflicts: list[UnitConflict]
    units: HomeUnits
    other_streets: int = Field(
        ge=0,
        description="how many other streets of the name (or one like it) the home may be on; "
        "the circle holds them all",
    )
    needs_confirmation: bool = Field(
        description="the parent must look at the map and confirm or move the pin: the point is "
        f"not a house, its circle is wider than {SILENT_MAX_UNCERTAINTY_M:.0f} m, or it lies "
        "outside a unit the address names"
    )
    confirm_vi: str | None = Field(
        description="when confirmation is needed: why, and what the circle means (Vietnamese)"
    )
    confirm_en: str | None = Field(description="the same in English")


class WrittenUnitMeaning(_Shape):
    edition: str
    level: Literal["ward", "district", "province"]
    code: str
    name: str


class WrittenUnit(_Shape):
    written: str
    units: list[WrittenUnitMeaning]


class ParsedQuery(_Shape):
    number: str | None
    street: str | None
    places: list[str]
    units: list[WrittenUnit] = Field(description="the units the address names, of any edition")


class GeocodeAnswer(_Shape):
    query: str
    parsed: ParsedQuery
    candidates: list[GeocodeCandidate]
    hint_vi: str | None = Field(description="when nothing was found: what to try instead")
    hint_en: str | None = Field(description="the same in English")


@router.get(
    "/geocode",
    response_model=GeocodeAnswer,
    summary="Points for an address (house number, street, ward, district)",
    description="Diacritics and case are ignored; wards and districts may be written as they "
    "were in 2019 (Phường Bến Nghé, Quận 1) or as they are since 1 July 2025 (Phường Sài Gòn). "
    "Each candidate says how it was found (`precision`: house, alley, interpolated, street, "
    "ward, district, province), how far off it may be (`uncertainty_m`) and how sure it is "
    "(`confidence`, halved when it lies outside a unit the address names, with a note and the "
    "unit in `conflicts`), with a note in Vietnamese and English and its unit in each edition "
    "(`units`). A candidate less sure than a house within "
    f"{SILENT_MAX_UNCERTAINTY_M:.0f} m, or outside a unit the address names, has "
    "`needs_confirmation` with a sentence (`confirm_vi`, `confirm_en`) saying why and what its "
    "circle means; with no candidate, `hint_vi` / `hint_en` say what to try. Addresses "
    "© OpenStreetMap contributors.",
)
def geocode_address(
    conn: Annotated[Connection, Depends(get_read_connection)],
    q: Annotated[
        str, Query(description=f"the address as typed (at most {MAX_QUERY_CHARS} characters)")
    ],
    limit: Annotated[int, Query(ge=1, le=20)] = 5,
) -> GeocodeAnswer:
    if not q.strip():
        raise InvalidRequestError("Hãy nhập một địa chỉ (q trống) / q is empty: type an address")
    if len(q) > MAX_QUERY_CHARS:
        raise InvalidRequestError(
            f"Địa chỉ dài {len(q)} ký tự, quá giới hạn {MAX_QUERY_CHARS} ký tự: chỉ ghi số nhà, "
            "tên đường, phường/xã (ví dụ “12 Lê Lợi, Phường Bến Thành”), hoặc đặt ghim tại nhà "
            f"trên bản đồ. / The address is {len(q)} characters long, over the limit of "
            f"{MAX_QUERY_CHARS}: type only the house number, street and ward (e.g. “12 Lê Lợi, "
            "Phường Bến Thành”), or drop a pin at the home on the map."
        )
    return GeocodeAnswer.model_validate(geocode(conn, q, limit))
