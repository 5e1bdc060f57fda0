"""An applicant CSV file checked in one streaming pass before anything is written, then read
row by row with the physical line of each row."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from gis_service.errors import ImportFileError, InvalidRequestError
from gis_service.importers.csvfile import Checkpoint, iter_csv_rows, scan_csv

# Column names accepted for each field of an applicant file (the first found is used).
COLUMNS = {
    "child_id": ("child_id", "ma_dinh_danh"),
    "birth_date": ("birth_date", "ngay_sinh"),
    "lon": ("lon", "longitude"),
    "lat": ("lat", "latitude"),
    "address": ("address", "dia_chi"),
    "ward": ("ward", "ward_code", "ma_phuong"),
    "priority_group": ("priority_group", "doi_tuong_uu_tien"),
    "sibling_id": ("sibling_id", "sibling_of"),
    "preferences": ("preferences", "nguyen_vong"),
    "stated_unit": ("stated_unit", "residence_unit", "noi_cu_tru", "don_vi_cu_tru"),
}

ABANDONED = (
    "Yêu cầu đã bị bỏ dở (máy khách đã ngắt kết nối); không hồ sơ nào được nhập / the request "
    "was abandoned (the client disconnected); nothing was imported"
)


@dataclass(frozen=True)
class ApplicantFile:
    """A checked applicant file: its header and how many rows it has. Iterating reads it
    again, one row at a time, as (physical line, row)."""

    path: Path
    header: tuple[str, ...]
    rows: int
    stop: threading.Event | None = None
    """Set from another thread to stop the reading (the request was abandoned)."""

    def __len__(self) -> int:
        return self.rows

    def __iter__(self) -> Iterator[tuple[int, dict[str, str]]]:
        return iter_csv_rows(self.path, _checkpoint(self.stop))


def check_applicant_file(
    path: Path, max_rows: int, stop: threading.Event | None = None
) -> ApplicantFile:
    """Check an applicant file without holding more than one row: UTF-8 CSV, the columns a
    child needs, and at most `max_rows` rows (refused at the first row beyond, with nothing
    read further). Needs no database, so it runs before the import's transaction."""
    shape = scan_csv(path, _check_columns(path), stop_after=max_rows, checkpoint=_checkpoint(stop))
    if shape.rows > max_rows:
        raise ImportFileError(
            path,
            f"tệp có hơn {_vi(max_rows)} hồ sơ, quá số một lần nhập nhận; hãy chia tệp theo "
            f"quận hoặc phường / the file has more than {max_rows:,} rows, the most one import "
            "takes (setting SCHOOLMAP_IMPORT_MAX_APPLICANTS); split it by district or ward",
        )
    return ApplicantFile(path, shape.header, shape.rows, stop)


def _check_columns(path: Path) -> Callable[[list[str]], None]:
    """A check of the header: a child's id and birth date, and a home (lon, lat or address)."""

    def check(header: list[str]) -> None:
        present = set(header)
        missing = [
            name
            for name in ("child_id", "birth_date")
            if not any(c in present for c in COLUMNS[name])
        ]
        if missing:
            raise ImportFileError(path, f"missing column(s) {', '.join(missing)}")
        if not any(c in present for c in COLUMNS["lon"]) and not any(
            c in present for c in COLUMNS["address"]
        ):
            raise ImportFileError(path, "give each home as lon and lat columns (or an address)")

    return check


def _checkpoint(stop: threading.Event | None) -> Checkpoint | None:
    """A check between rows raising InvalidRequestError once `stop` is set."""
    if stop is None:
        return None

    def check() -> None:
        if stop.is_set():
            raise InvalidRequestError(ABANDONED)

    return check


def _vi(number: int) -> str:
    """A whole number written the Vietnamese way (300.000)."""
    return f"{number:,}".replace(",", ".")
