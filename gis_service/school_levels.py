"""Infer a school's levels (mầm non, tiểu học, THCS, THPT) from OSM tags and its Vietnamese name."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from gis_service.text import fold_text

LEVELS = ("mam_non", "tieu_hoc", "thcs", "thpt")

# Entry grade of each level that has admissions, and the legal class size (Circulars 28/32 2020).
LEVEL_GRADES = {
    "mam_non": (),
    "tieu_hoc": (1, 2, 3, 4, 5),
    "thcs": (6, 7, 8, 9),
    "thpt": (10, 11, 12),
}

ENTRY_GRADES = (1, 6)
"""The grades places are allocated for: grade 1 (primary) and grade 6 (lower secondary)."""
LEVEL_OF_GRADE = {1: "tieu_hoc", 6: "thcs"}
"""The level whose schools take each entry grade."""
ENTRY_AGE = {1: 6, 6: 11}
"""Grade 1 takes children turning 6 in the school year's first calendar year, grade 6 those
turning 11."""

_ISCED = {"0": "mam_non", "1": "tieu_hoc", "2": "thcs", "3": "thpt"}

# Folded-name patterns. Abbreviations are matched as whole words only.
_NAME_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("mam_non", re.compile(r"\b(mam non|mau giao|nha tre|mn|kindergarten|preschool)\b")),
    ("tieu_hoc", re.compile(r"\b(tieu hoc|th|primary|elementary)\b")),
    ("thcs", re.compile(r"\b(trung hoc co so|thcs|pho thong co so|ptcs|lower secondary)\b")),
    ("thpt", re.compile(r"\b(trung hoc pho thong|thpt|pho thong trung hoc|high school)\b")),
)
_MULTI_LEVEL = re.compile(r"\b(lien cap|nhieu cap|k12|k 12)\b")
_NOT_A_SCHOOL = re.compile(
    r"\b(dai hoc|hoc vien|cao dang|trung cap|day nghe|university|college|academy)\b"
)

# Name abbreviations expanded before matching registry names against map names.
_ABBREVIATIONS = {
    "th": "tieu hoc",
    "thcs": "trung hoc co so",
    "thpt": "trung hoc pho thong",
    "mn": "mam non",
    "mg": "mau giao",
    "ptcs": "pho thong co so",
    "tp": "thanh pho",
}


@dataclass(frozen=True)
class LevelGuess:
    """Levels of a school and how they were known ('osm_tag', 'name' or 'unknown')."""

    levels: tuple[str, ...]
    source: str


def _levels_from_isced(value: str) -> set[str]:
    found: set[str] = set()
    for part in re.split(r"[;,]", value):
        part = part.strip()
        bounds = part.split("-")
        if len(bounds) == 2 and bounds[0].strip().isdigit() and bounds[1].strip().isdigit():
            low, high = int(bounds[0]), int(bounds[1])
            found.update(_ISCED[str(n)] for n in range(low, high + 1) if str(n) in _ISCED)
        elif part in _ISCED:
            found.add(_ISCED[part])
    return found


def levels_from_tags(tags: Mapping[str, str]) -> set[str]:
    """Levels stated by OSM tags (amenity=kindergarten, isced:level)."""
    found: set[str] = set()
    if tags.get("amenity") == "kindergarten":
        found.add("mam_non")
    if "isced:level" in tags:
        found |= _levels_from_isced(tags["isced:level"])
    return found


def levels_from_name(name: str) -> set[str]:
    """Levels stated by a Vietnamese school name; liên cấp alone means primary to upper."""
    folded = fold_text(name)
    if not folded or _NOT_A_SCHOOL.search(folded):
        return set()
    found = {level for level, pattern in _NAME_PATTERNS if pattern.search(folded)}
    if not found and _MULTI_LEVEL.search(folded):
        found = {"tieu_hoc", "thcs", "thpt"}
    return found


def infer_levels(tags: Mapping[str, str]) -> LevelGuess:
    """Levels from OSM tags when they say, else from the name; unknown if neither does."""
    tagged = levels_from_tags(tags)
    if tagged:
        return LevelGuess(_ordered(tagged), "osm_tag")
    named = levels_from_name(tags.get("name", ""))
    if named:
        return LevelGuess(_ordered(named), "name")
    return LevelGuess((), "unknown")


def parse_levels(text: str) -> tuple[str, ...]:
    """Levels written as 'tieu_hoc;thcs' (or with Vietnamese words); raises on unknown parts."""
    found: set[str] = set()
    for part in re.split(r"[;,|]", text):
        word = fold_text(part).replace(" ", "_")
        if not word:
            continue
        if word in LEVELS:
            found.add(word)
            continue
        by_name = levels_from_name(part)
        if not by_name:
            raise ValueError(f"unknown school level {part.strip()!r}; use one of {LEVELS}")
        found |= by_name
    return _ordered(found)


def _ordered(levels: set[str]) -> tuple[str, ...]:
    return tuple(level for level in LEVELS if level in levels)


def school_search_text(name: str) -> str:
    """A name as searched: folded, abbreviations expanded ('Trường TH X' -> 'truong tieu hoc x')."""
    return " ".join(_ABBREVIATIONS.get(word, word) for word in fold_text(name).split())


def normalise_school_name(name: str) -> str:
    """A name for matching: searched form without the word 'truong'."""
    return " ".join(w for w in school_search_text(name).split() if w != "truong")
