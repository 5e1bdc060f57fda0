"""Who may apply to a round: entry age by birth year, and residence in the round's area.

Grade 1 takes children who turn 6 in the admission year and grade 6 those who turn 11
(Circulars 28/2020 and 32/2020). Children in a listed special case (disability, slow
development, ethnic minority, orphans, children returning from abroad) may be up to three
years older. Nobody may enter younger. Round 1 serves children living in the round's area.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import date

from gis_service.errors import InvalidRequestError
from gis_service.school_levels import ENTRY_AGE

MAX_EXTRA_YEARS = 3
SPECIAL_CASE_GROUPS = frozenset(
    {"khuyet_tat", "cham_phat_trien", "dan_toc_thieu_so", "mo_coi", "ve_nuoc"}
)
PRIORITY_GROUPS = ("liet_si", "thuong_binh", *sorted(SPECIAL_CASE_GROUPS))
"""Every priority group a family may claim (children of martyrs and of war invalids, and the
listed special cases); a claim counts only once an officer has verified it."""


def check_priority_group(value: str | None) -> str | None:
    """The claimed group if it is one of PRIORITY_GROUPS (blank means none), else an error."""
    if value is None or not value.strip():
        return None
    if value.strip() not in PRIORITY_GROUPS:
        shown = value[:40].encode("unicode_escape").decode("ascii")
        raise InvalidRequestError(
            f"Đối tượng ưu tiên {shown!r} không có trong danh sách; dùng một trong: "
            f"{', '.join(PRIORITY_GROUPS)} / priority group {shown!r} is not one of "
            f"{', '.join(PRIORITY_GROUPS)}"
        )
    return value.strip()


@dataclass(frozen=True)
class Reason:
    """Why an application is refused: a stable code and a sentence in Vietnamese and English."""

    code: str
    vi: str
    en: str


@dataclass(frozen=True)
class Eligibility:
    """The verdict on one applicant; eligible exactly when there are no reasons."""

    reasons: tuple[Reason, ...]

    @property
    def eligible(self) -> bool:
        return not self.reasons


def birth_years(grade: int, admission_year: int, priority_group: str | None = None) -> range:
    """The birth years a round of `grade` in `admission_year` takes, for the priority group:
    the entry age's year, and up to MAX_EXTRA_YEARS earlier for the special cases."""
    extra = MAX_EXTRA_YEARS if priority_group in SPECIAL_CASE_GROUPS else 0
    youngest = admission_year - ENTRY_AGE[grade]
    return range(youngest - extra, youngest + 1)


def birth_years_by_group(grade: int, admission_year: int) -> dict[str, list[int]]:
    """Every group's first and last birth year taken ("" for a child of no group): what a form
    checks before sending, by the same rule as `check_eligibility`."""
    groups = ["", *PRIORITY_GROUPS]
    return {
        g: [years[0], years[-1]]
        for g in groups
        for years in [birth_years(grade, admission_year, g or None)]
    }


def check_eligibility(
    *,
    grade: int,
    admission_year: int,
    birth_date: date,
    ward_code: str | None,
    area_ward_codes: Collection[str],
    priority_group: str | None = None,
    residence_required: bool = True,
    ward_name: str | None = None,
) -> Eligibility:
    """Check one applicant against a round's grade, year and area; list every failed rule."""
    if grade not in ENTRY_AGE:
        raise ValueError(f"rounds admit grade 1 or grade 6, not grade {grade}")
    reasons: list[Reason] = []
    entry_age = ENTRY_AGE[grade]
    extra = MAX_EXTRA_YEARS if priority_group in SPECIAL_CASE_GROUPS else 0
    taken = birth_years(grade, admission_year, priority_group)
    if birth_date.year > taken[-1]:
        reasons.append(
            Reason(
                "too_young",
                f"Trẻ sinh năm {birth_date.year} chưa đủ {entry_age} tuổi vào lớp {grade} năm "
                f"{admission_year} (cần sinh năm {admission_year - entry_age}).",
                f"Born in {birth_date.year}, the child does not turn {entry_age} in "
                f"{admission_year}; grade {grade} takes children born in "
                f"{admission_year - entry_age}.",
            )
        )
    elif birth_date.year < taken[0]:
        allowed = (
            f"{admission_year - entry_age - extra}–{admission_year - entry_age}"
            if extra
            else str(admission_year - entry_age)
        )
        reasons.append(
            Reason(
                "too_old",
                f"Trẻ sinh năm {birth_date.year} quá tuổi vào lớp {grade} năm {admission_year} "
                f"(nhận trẻ sinh năm {allowed}; trẻ thuộc diện đặc biệt được lớn hơn tối đa "
                f"{MAX_EXTRA_YEARS} tuổi).",
                f"Born in {birth_date.year}, the child is too old for grade {grade} in "
                f"{admission_year} (born {allowed} accepted; listed special cases may be up to "
                f"{MAX_EXTRA_YEARS} years older).",
            )
        )
    if residence_required and ward_code not in area_ward_codes:
        where_vi = ward_name or (f"phường/xã mã {ward_code}" if ward_code else "không rõ phường/xã")
        where_en = ward_name or (f"unit {ward_code}" if ward_code else "in no known unit")
        reasons.append(
            Reason(
                "outside_area",
                f"Nơi ở ({where_vi}) không thuộc địa bàn tuyển sinh của đợt này.",
                f"The home ({where_en}) is outside this round's admission area.",
            )
        )
    return Eligibility(tuple(reasons))
