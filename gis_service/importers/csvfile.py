"""Reading a UTF-8 CSV file for an importer, with errors that name the file and the problem."""

from __future__ import annotations

import csv
from collections.abc import Sequence
from pathlib import Path

from gis_service.errors import ImportFileError


def read_csv_rows(
    path: Path, required: Sequence[str] = ()
) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file; raises unless it has rows and every required column."""
    if path.suffix.lower() not in {".csv", ".txt"}:
        raise ImportFileError(path, "unknown format; expected a .csv file")
    if not path.is_file():
        raise ImportFileError(path, "no such file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            rows = list(reader)
            header = list(reader.fieldnames or [])
    except UnicodeDecodeError as exc:
        raise ImportFileError(path, f"not UTF-8 text ({exc})") from exc
    except csv.Error as exc:
        raise ImportFileError(path, f"malformed CSV ({exc})") from exc
    if not header or not rows:
        raise ImportFileError(path, "the file is empty")
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(header[:15]) + (", …" if len(header) > 15 else "")
        raise ImportFileError(
            path, f"missing column(s) {', '.join(missing)}; the file has: {shown}"
        )
    return header, rows
