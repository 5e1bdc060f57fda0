"""Vietnamese text folding for search and matching: no diacritics, no case, no punctuation."""

from __future__ import annotations

import re
import unicodedata

_NON_WORD = re.compile(r"[^0-9a-z]+")

# Prefixes of administrative-unit names, longest first so "thanh pho" wins over "pho".
_ADMIN_PREFIXES = (
    "thanh pho",
    "thi tran",
    "thi xa",
    "district",
    "commune",
    "huyen",
    "phuong",
    "quan",
    "ward",
    "tinh",
    "town",
    "city",
    "dac khu",
    "tp",
    "xa",
)


def fold_text(text: str) -> str:
    """Lower-case ASCII words: 'Trường Tiểu học Lê Văn Thọ' -> 'truong tieu hoc le van tho'."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) != "Mn")
    return _NON_WORD.sub(" ", stripped.lower()).strip()


def fold_admin_name(name: str) -> str:
    """A unit's name without its kind: 'Quận 01' -> '1', 'Huyện Nhà Bè' -> 'nha be'."""
    folded = fold_text(name)
    for prefix in _ADMIN_PREFIXES:
        if folded.startswith(prefix + " "):
            folded = folded[len(prefix) + 1 :]
            break
    words = [w.lstrip("0") or "0" if w.isdigit() else w for w in folded.split()]
    return " ".join(words)


def metres(value: object) -> str:
    """A distance the Vietnamese way: '1.340 m'."""
    if not isinstance(value, int | float):
        return "?"
    return f"{round(value):,} m".replace(",", ".")


def metres_en(value: object) -> str:
    """A distance the English way: '1,340 m'."""
    if not isinstance(value, int | float):
        return "?"
    return f"{round(value):,} m"
