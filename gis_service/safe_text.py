"""Text from outside made safe for people's tools: no hidden controls, no spreadsheet formulas."""

from __future__ import annotations

import csv
import re
from collections.abc import Iterable
from typing import TYPE_CHECKING

from gis_service.errors import InvalidRequestError

if TYPE_CHECKING:
    from _typeshed import SupportsWrite

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
"""First characters that make a spreadsheet run a cell as a formula (OWASP, CSV injection)."""

# A whole cell that is a negative number ("-12", "-12.5", "-1e3") is data, not a formula.
_NEGATIVE_NUMBER = re.compile(r"-(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")

# C0 and C1 controls, DEL, and the bidi embeddings, overrides and isolates that can make a
# name read differently from what it holds.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


_FORMULA_FIRST = frozenset(FORMULA_STARTS)  # each one character


def neutralise_cell(value: object) -> object:
    """The cell as a spreadsheet shows it without running it: formula-like text gets a '."""
    if value is None or isinstance(value, int | float):
        return value
    text = value if isinstance(value, str) else str(value)
    # One set lookup per cell: an export writes millions of them.
    if text[:1] in _FORMULA_FIRST and not _NEGATIVE_NUMBER.fullmatch(text):
        return "'" + text
    return text


class SpreadsheetSafeWriter:
    """A csv.writer for files people open in a spreadsheet: every cell is neutralised."""

    def __init__(self, handle: SupportsWrite[str]) -> None:
        self._writer = csv.writer(handle)

    def writerow(self, row: Iterable[object]) -> None:
        """Write one row, each cell through `neutralise_cell`."""
        self._writer.writerow(map(neutralise_cell, row))

    def writerows(self, rows: Iterable[Iterable[object]]) -> None:
        """Write rows, each cell through `neutralise_cell`."""
        for row in rows:
            self.writerow(row)


def find_control_character(text: str) -> str | None:
    """The first control or bidi override character of the text, or None if it has none."""
    found = _CONTROL.search(text)
    return found.group() if found else None


def describe_character(char: str) -> str:
    """A character as people can read it in a message: 'U+202E'."""
    return f"U+{ord(char):04X}"


def drop_control_characters(text: str) -> str:
    """The text without control or bidi override characters; control spaces become spaces."""
    spaced = _CONTROL.sub(lambda m: " " if m.group().isspace() else "", text)
    return " ".join(spaced.split()) if spaced != text else text


def check_name(text: str, what_vi: str, what_en: str) -> None:
    """Refuse a name holding a control or bidi override character, naming the character."""
    char = find_control_character(text)
    if char is not None:
        raise InvalidRequestError(
            f"{what_vi} có ký tự điều khiển {describe_character(char)}; hãy gõ lại / "
            f"the {what_en} holds control character {describe_character(char)}; type it again"
        )
