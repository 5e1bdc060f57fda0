"""Reading a UTF-8 CSV file for an importer, with errors that name the file and the problem."""

from __future__ import annotations

import codecs
import csv
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from gis_service.errors import ImportFileError

# Called between rows by the streaming readers; raises to stop the reading.
Checkpoint = Callable[[], None]
# How many rows the scan reads between two checkpoints.
_CHECK_EVERY = 1024


def read_csv_rows(
    path: Path, required: Sequence[str] = ()
) -> tuple[list[str], list[dict[str, str]]]:
    """Header and rows of a CSV file; raises unless it has rows and every required column."""
    _check_path(path)
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
    _require_columns(path, header, required)
    return header, rows


@dataclass(frozen=True)
class CsvShape:
    """What one streaming pass over a CSV file found."""

    header: tuple[str, ...]
    rows: int
    """Rows of data; blank lines are not rows. With `stop_after`, at most one more than it."""
    lines: int
    """Physical lines read (blank ones and those inside quoted fields included)."""


def scan_csv(
    path: Path,
    check_header: Callable[[list[str]], None] | None = None,
    *,
    stop_after: int | None = None,
    checkpoint: Checkpoint | None = None,
) -> CsvShape:
    """Check a CSV file in one pass, holding one row at a time: UTF-8 text with no NUL
    character, well-formed CSV, a header (given to `check_header`, which raises to refuse it)
    and at least one row. Counting stops at the first row beyond `stop_after`."""
    _check_path(path)
    header: list[str] = []
    rows = 0
    with _reading(path) as reader:
        for _, row in _records(reader):
            if not header:
                header = row
                if check_header is not None:
                    check_header(header)
                continue
            rows += 1
            if stop_after is not None and rows > stop_after:
                break
            if checkpoint is not None and rows % _CHECK_EVERY == 0:
                checkpoint()
        lines = reader.line_num
    if not header or not rows:
        raise ImportFileError(path, "the file is empty")
    return CsvShape(tuple(header), rows, lines)


def iter_csv_rows(
    path: Path, checkpoint: Checkpoint | None = None
) -> Iterator[tuple[int, dict[str, str]]]:
    """Each row of a CSV file as (line, row), read one at a time: `line` is the physical line
    the row starts on, counting blank lines and lines inside quoted fields; missing fields
    are empty. `checkpoint` is called before each row."""
    _check_path(path)
    with _reading(path) as reader:
        header: list[str] | None = None
        for line, row in _records(reader):
            if header is None:
                header = row
                continue
            if checkpoint is not None:
                checkpoint()
            yield line, {name: row[i] if i < len(row) else "" for i, name in enumerate(header)}


def _check_path(path: Path) -> None:
    if path.suffix.lower() not in {".csv", ".txt"}:
        raise ImportFileError(path, "unknown format; expected a .csv file")
    if not path.is_file():
        raise ImportFileError(path, "no such file")


def _require_columns(path: Path, header: Sequence[str], required: Sequence[str]) -> None:
    missing = [c for c in required if c not in header]
    if missing:
        shown = ", ".join(header[:15]) + (", …" if len(header) > 15 else "")
        raise ImportFileError(
            path, f"missing column(s) {', '.join(missing)}; the file has: {shown}"
        )


@contextmanager
def _reading(path: Path) -> Iterator[_LineReader]:
    """A csv reader over the file's lines; a byte that is not UTF-8 or malformed CSV becomes
    ImportFileError naming the line."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = _LineReader(path, handle)
        try:
            yield reader
        except UnicodeDecodeError:
            raise ImportFileError(path, _not_utf8(path)) from None
        except csv.Error as exc:
            raise ImportFileError(path, f"line {reader.line_num}: malformed CSV ({exc})") from None


class _LineReader:
    """csv.reader over the lines of a text file, refusing a line with a NUL character
    (PostgreSQL text cannot hold one)."""

    def __init__(self, path: Path, lines: Iterable[str]) -> None:
        self.path = path
        self._reader = csv.reader(self._checked(lines))

    def _checked(self, lines: Iterable[str]) -> Iterator[str]:
        for number, line in enumerate(lines, start=1):
            if "\x00" in line:
                raise ImportFileError(
                    self.path,
                    f"dòng {number} chứa ký tự NUL (mã 0) / line {number} contains a NUL "
                    "character (code 0), which no field may hold",
                )
            yield line

    @property
    def line_num(self) -> int:
        return self._reader.line_num

    def __iter__(self) -> Iterator[list[str]]:
        return self._reader


def _records(reader: _LineReader) -> Iterator[tuple[int, list[str]]]:
    """Non-blank records with the physical line each starts on (the reader's line count)."""
    ended = 0
    for row in reader:
        start, ended = ended + 1, reader.line_num
        if row:
            yield start, row


def _not_utf8(path: Path) -> str:
    """Where the first byte that is not UTF-8 lies, found by reading the file line by line."""
    with path.open("rb") as handle:
        for number, raw in enumerate(handle, start=1):
            if number == 1 and raw.startswith(codecs.BOM_UTF8):
                raw = raw[len(codecs.BOM_UTF8) :]
            try:
                raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                return (
                    f"dòng {number} không phải văn bản UTF-8; hãy lưu tệp dạng CSV UTF-8 / "
                    f"line {number} is not UTF-8 text (byte 0x{raw[exc.start]:02x} at byte "
                    f"{exc.start + 1} of the line); save the file as CSV UTF-8"
                )
    return "không phải văn bản UTF-8 / not UTF-8 text"
