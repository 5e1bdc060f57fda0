"""The roles an account can have, with their names in Vietnamese."""

from __future__ import annotations

PARENT = "parent"
SCHOOL_STAFF = "school_staff"
DISTRICT_OFFICER = "district_officer"
WARD_OFFICER = "ward_officer"
CITY_ADMIN = "city_admin"
PLANNER = "planner"

ROLE_NAMES_VI = {
    PARENT: "phụ huynh",
    SCHOOL_STAFF: "cán bộ trường",
    DISTRICT_OFFICER: "cán bộ tuyển sinh quận/huyện",
    WARD_OFFICER: "cán bộ tuyển sinh phường/xã",
    CITY_ADMIN: "quản trị Sở GD&ĐT",
    PLANNER: "cán bộ quy hoạch",
}
ROLES = tuple(ROLE_NAMES_VI)
AREA_OFFICERS = (DISTRICT_OFFICER, WARD_OFFICER)
"""Officers whose work is limited to an area of units: a district officer's is made of 2019
districts or wards, a ward officer's of commune-level units of one edition (2025 today)."""
