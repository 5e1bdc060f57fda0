"""The roles an account can have, with their names in Vietnamese."""

from __future__ import annotations

PARENT = "parent"
SCHOOL_STAFF = "school_staff"
DISTRICT_OFFICER = "district_officer"
CITY_ADMIN = "city_admin"
PLANNER = "planner"

ROLE_NAMES_VI = {
    PARENT: "phụ huynh",
    SCHOOL_STAFF: "cán bộ trường",
    DISTRICT_OFFICER: "cán bộ tuyển sinh quận/huyện",
    CITY_ADMIN: "quản trị Sở GD&ĐT",
    PLANNER: "cán bộ quy hoạch",
}
ROLES = tuple(ROLE_NAMES_VI)
