"""Progress lines with the time left: formatting, the share-based ticker, steps, file reading."""

from __future__ import annotations

from pathlib import Path

from gis_service.db.connection import Connection
from gis_service.importers.eta import EtaTicker, StepProgress, file_read_share, format_seconds
from gis_service.importers.osm import WRITE_STEP_WEIGHTS, import_osm
from tests.osm_fixture import write_hand_made_osm


def test_format_seconds() -> None:
    assert format_seconds(0.2) == "0 s"
    assert format_seconds(12.4) == "12 s"
    assert format_seconds(75) == "1 min 15 s"
    assert format_seconds(-3) == "0 s"


def test_ticker_shows_the_share_and_time_left_only_when_known() -> None:
    lines: list[str] = []
    shares: list[float | None] = [0.01, 0.25, None, 1.0]
    ticker = EtaTicker(lines.append, "reading", lambda: shares.pop(0), every=0.0)
    for _ in shares[:]:
        ticker.tick(10)
    ticker.done()
    # Too little done to tell the time left from; then the share and the time left.
    assert lines[0] == "reading: 10"
    assert lines[1].startswith("reading: 20 (25%, còn khoảng ")
    assert lines[2] == "reading: 30"
    assert lines[3] == "reading: 40"
    assert lines[4].startswith("reading: 40 (xong / done, ")


def test_steps_report_each_step_and_the_time_left_until_the_last() -> None:
    lines: list[str] = []
    steps = StepProgress(lines.append, "writing", {"a": 1.0, "b": 3.0})
    steps.finished("a")
    steps.finished("b")
    assert lines[0].startswith("writing: a (1/2, ") and "còn khoảng" in lines[0]
    assert lines[1].startswith("writing: b (2/2, ") and "còn khoảng" not in lines[1]


def test_file_read_share_follows_an_open_file(tmp_path: Path) -> None:
    path = tmp_path / "data.osm"
    path.write_bytes(b"x" * 1000)
    share = file_read_share(path)
    assert share() is None
    with path.open("rb", buffering=0) as handle:
        handle.read(250)
        found = share()
    assert found is None or found == 0.25  # None where /proc/self/fdinfo does not exist


def test_import_reports_every_writing_step(db: Connection, tmp_path: Path) -> None:
    lines: list[str] = []
    import_osm(db, write_hand_made_osm(tmp_path / "small.osm"), lines.append)
    written = [line for line in lines if line.startswith("ghi / writing: ")]
    assert [line.split(": ", 1)[1].split(" (")[0] for line in written] == [
        name for name, _ in WRITE_STEP_WEIGHTS
    ]
    assert all("còn khoảng" in line for line in written[:-1])
