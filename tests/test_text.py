"""Folding Vietnamese text and inferring school levels from names and tags."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from gis_service.school_levels import (
    infer_levels,
    levels_from_name,
    normalise_school_name,
    parse_levels,
)
from gis_service.text import fold_admin_name, fold_text


@pytest.mark.parametrize(
    ("text", "folded"),
    [
        ("Trường Tiểu học Lê Văn Thọ", "truong tieu hoc le van tho"),
        ("ĐẶNG TRẦN CÔN", "dang tran con"),
        ("Đại học Mỹ thuật TP.HCM", "dai hoc my thuat tp hcm"),
        ("  Hẻm   12/3  ", "hem 12 3"),
        # The same word typed with a decomposed accent folds the same.
        ("Thu\u0301 Đức", "thu duc"),
    ],
)
def test_fold_text_drops_diacritics_case_and_punctuation(text: str, folded: str) -> None:
    assert fold_text(text) == folded


@pytest.mark.parametrize(
    ("name", "folded"),
    [
        ("Quận 01", "1"),
        ("District 1", "1"),
        ("Huyện Nhà Bè", "nha be"),
        ("Nha Be", "nha be"),
        ("Thành phố Hồ Chí Minh", "ho chi minh"),
        ("Phường Bến Nghé", "ben nghe"),
        ("Thị trấn Cần Thạnh", "can thanh"),
        ("Quận Bình Tân", "binh tan"),
    ],
)
def test_fold_admin_name_drops_the_kind_of_unit(name: str, folded: str) -> None:
    assert fold_admin_name(name) == folded


@given(st.text(max_size=60))
def test_fold_text_is_idempotent_ascii(text: str) -> None:
    folded = fold_text(text)
    assert fold_text(folded) == folded
    assert all(ch.isascii() and (ch.isalnum() or ch == " ") for ch in folded)
    assert "  " not in folded and folded == folded.strip()


@pytest.mark.parametrize(
    ("name", "levels"),
    [
        ("Trường Tiểu học Lê Văn Thọ", {"tieu_hoc"}),
        ("Trường TH Lê Văn Thọ", {"tieu_hoc"}),
        ("Trường THCS Nguyễn Du", {"thcs"}),
        ("Trường Trung học Cơ sở Hồng Bàng", {"thcs"}),
        ("Trường THPT Lê Quý Đôn", {"thpt"}),
        ("Trường Trung Học Phổ Thông Phú Nhuận", {"thpt"}),
        ("Trường Mầm non Hoa Sen", {"mam_non"}),
        ("Truường mẫu giáo Sapa", {"mam_non"}),
        ("Trường THCS-THPT Nguyễn Khuyến", {"thcs", "thpt"}),
        ("Trường Tiểu học và THCS Ánh Sáng", {"tieu_hoc", "thcs"}),
        ("Trường Liên cấp Việt Úc", {"tieu_hoc", "thcs", "thpt"}),
        ("Trường Đại học Sư phạm", set()),
        ("Trường Cao Đẳng Tài Chính Hải Quan", set()),
        ("Trường Quốc tế Sài Gòn Mới", set()),
        # "th" inside a word is not the primary-school abbreviation.
        ("Trường Thạnh Lộc", set()),
    ],
)
def test_levels_from_vietnamese_names(name: str, levels: set[str]) -> None:
    assert levels_from_name(name) == levels


def test_tags_win_over_the_name_and_unknown_is_flagged() -> None:
    guess = infer_levels({"amenity": "school", "isced:level": "1;2", "name": "Trường THPT X"})
    assert guess.levels == ("tieu_hoc", "thcs") and guess.source == "osm_tag"
    assert infer_levels({"amenity": "kindergarten"}).levels == ("mam_non",)
    assert infer_levels({"amenity": "school", "isced:level": "1-3"}).levels == (
        "tieu_hoc",
        "thcs",
        "thpt",
    )
    by_name = infer_levels({"amenity": "school", "name": "Trường THCS Nguyễn Du"})
    assert by_name.levels == ("thcs",) and by_name.source == "name"
    unknown = infer_levels({"amenity": "school", "name": "Trường Quốc tế Sài Gòn Mới"})
    assert unknown.levels == () and unknown.source == "unknown"


def test_parse_levels_accepts_codes_and_words_and_rejects_others() -> None:
    assert parse_levels("thcs;tieu_hoc") == ("tieu_hoc", "thcs")
    assert parse_levels("Tiểu học, THCS") == ("tieu_hoc", "thcs")
    with pytest.raises(ValueError, match="unknown school level"):
        parse_levels("tieu_hoc;college")


def test_normalised_names_match_abbreviations() -> None:
    assert normalise_school_name("Trường TH Lê Văn Thọ") == normalise_school_name(
        "Trường Tiểu học Lê Văn Thọ"
    )
    assert normalise_school_name("THCS Nguyễn Du") == "trung hoc co so nguyen du"
