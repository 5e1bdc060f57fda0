"""A run's assignments written out for officers: CSV and GeoJSON with homes (personal data)."""

from __future__ import annotations

import json
import shutil
import tempfile
import threading
from collections.abc import Callable, Mapping, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

from psycopg2.extensions import make_dsn

from gis_service import audit
from gis_service.admissions.explain_vi import WHY_VI, explain_vi
from gis_service.admissions.run_store import (
    EXPLANATION_COLUMNS,
    PassedOverColumns,
    stored_explanation,
)
from gis_service.db.connection import Connection, connect
from gis_service.errors import NotFoundError
from gis_service.importers.eta import EtaTicker
from gis_service.importers.report import ProgressCallback, no_progress
from gis_service.safe_text import SpreadsheetSafeWriter
from gis_service.text import metres


def export_run(
    conn: Connection,
    run_id: int,
    csv_path: Path | None,
    geojson_path: Path | None,
    *,
    gpkg_path: Path | None = None,
    actor: str = audit.SYSTEM_ACTOR,
    remote_addr: str | None = None,
    progress: ProgressCallback = no_progress,
    workers: int = 1,
) -> int:
    """Write a run's assignments with distances and explanations as CSV and/or GeoJSON.

    Children's data leaves the service here, so each export is audited in the caller's
    transaction (commit it for the entry to stay). The CSV opens in a spreadsheet as it is:
    UTF-8 with a byte-order mark, and no cell a spreadsheet would run as a formula.

    With `workers` above 1, a large run (PARALLEL_FROM rows or more; CSV and GeoJSON) is cut
    into that many parts by child: this process writes the first, other processes the rest,
    each on its own connection, and the parts are joined in order (the same bytes as one
    process writes). A part read elsewhere is kept only if it holds as many rows as this
    transaction sees there (a run's assignments are written once and never changed, so the
    count tells); otherwise, as when the run is not yet committed, it is written here.
    """
    with conn.cursor() as cur:
        cur.execute(
            "SELECT run.mechanism, (SELECT count(*) FROM assignments x WHERE x.run_id = run.id), "
            "run.passed_kinds FROM allocation_runs run WHERE run.id = %s",
            (run_id,),
        )
        found = cur.fetchone()
        if found is None or not found[1]:
            raise NotFoundError(f"run {run_id} has no assignments")
        mechanism, count, kinds = str(found[0]), int(found[1]), found[2]
        cur.execute("SELECT id, name, code FROM schools")
        schools = cur.fetchall()
    homes = geojson_path is not None or gpkg_path is not None
    words = _RunWords(
        mechanism=mechanism,
        kinds=kinds,
        labels={r[0]: school_label(r[1], r[2]) for r in schools},
        # A school passed over is named by its registry code in the CSV's list (by name
        # when it has none): the summary beside it names the first few in full.
        codes={r[0]: r[2] or r[1] or "?" for r in schools},
        brief=not homes,
    )
    audit.record(
        conn,
        actor=actor,
        action="run.export",
        target=f"run:{run_id}",
        detail={
            "formats": [
                name
                for name, path in zip(
                    ("csv", "geojson", "gpkg"), (csv_path, geojson_path, gpkg_path), strict=True
                )
                if path is not None
            ],
            "rows": count,
            # Home points are only in the GeoJSON and GeoPackage; the CSV holds none.
            "homes_included": homes,
        },
        remote_addr=remote_addr,
    )
    parallel = workers > 1 and count >= PARALLEL_FROM and gpkg_path is None
    parts = _parts(conn, run_id, workers) if parallel else [_Part(None, None, count)]
    ticker = EtaTicker(progress, "xuất / exporting, trẻ / children", lambda: ticker.n / count)
    with ExitStack() as files:
        out = _Output()
        if csv_path is not None:
            out.csv_file = files.enter_context(csv_path.open("w", newline="", encoding="utf-8-sig"))
            out.csv = SpreadsheetSafeWriter(out.csv_file)
            out.csv.writerow(CSV_COLUMNS)
        if geojson_path is not None:
            out.geojson = files.enter_context(geojson_path.open("w", encoding="utf-8"))
            out.geojson.write('{"type": "FeatureCollection", "features": [')
        if gpkg_path is not None:
            out.packed = []
        if len(parts) == 1:
            _write_part(conn, run_id, words, parts[0], out, ticker.tick)
        else:
            progress(f"xuất song song {len(parts)} phần / exporting in {len(parts)} parts at once")
            _write_parts(conn, run_id, words, parts, out, ticker, csv_path, geojson_path, progress)
        ticker.done()
        if out.geojson is not None:
            out.geojson.write("]}")
        if gpkg_path is not None:
            _write_geopackage(gpkg_path, out.packed or [])
    return count


PARALLEL_FROM = 20_000
"""Rows from which an export with several workers is cut into parts (below it, starting the
other processes costs more than it saves)."""


@dataclass(frozen=True)
class _RunWords:
    """What every part of a run's export words its rows with (small; sent to other processes)."""

    mechanism: str
    kinds: Any
    labels: dict[int, str]
    codes: dict[int, str]
    brief: bool


@dataclass(frozen=True)
class _Part:
    """The run's children from applicant id `low` (included) to `high` (excluded; None: no
    bound), and how many rows the exporting transaction sees there."""

    low: int | None
    high: int | None
    rows: int


@dataclass
class _Output:
    """Where rows go: a CSV writer, a GeoJSON stream, GeoPackage features kept in memory."""

    csv: SpreadsheetSafeWriter | None = None
    csv_file: TextIO | None = None
    geojson: TextIO | None = None
    packed: list[dict[str, Any]] | None = None
    features: int = 0
    """Features written to the GeoJSON so far (the next one is preceded by a comma)."""


def _parts(conn: Connection, run_id: int, n: int) -> list[_Part]:
    """The run cut into `n` parts of (nearly) as many children, by applicant id."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT percentile_disc(%s::float8[]) WITHIN GROUP (ORDER BY applicant_id) "
            "FROM assignments WHERE run_id = %s",
            ([k / n for k in range(1, n)], run_id),
        )
        bounds = sorted(set(cur.fetchone()[0]))  # type: ignore[index]
        cur.execute(
            "SELECT width_bucket(applicant_id, %s::integer[]), count(*) FROM assignments "
            "WHERE run_id = %s GROUP BY 1",
            (bounds, run_id),
        )
        rows = dict(cur.fetchall())
    edges: list[int | None] = [None, *bounds, None]
    return [_Part(edges[k], edges[k + 1], int(rows.get(k, 0))) for k in range(len(edges) - 1)]


def _write_parts(
    conn: Connection,
    run_id: int,
    words: _RunWords,
    parts: list[_Part],
    out: _Output,
    ticker: EtaTicker,
    csv_path: Path | None,
    geojson_path: Path | None,
    progress: ProgressCallback,
) -> None:
    """The first part written here while other processes write the rest into files beside
    the outputs; then each joined in order (or written here if it came back short)."""
    import multiprocessing
    from concurrent.futures import FIRST_EXCEPTION, ProcessPoolExecutor, wait

    dsn = make_dsn(**conn.info.dsn_parameters, password=conn.info.password)
    # A forked process starts at once, with this one's modules; forking a process that runs
    # other threads (a web server's) can deadlock the child on their locks, so those spawn.
    # The child never touches this process's connection: it opens its own.
    fork = threading.active_count() == 1 and "fork" in multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if fork else "spawn")
    elsewhere = context.Value("q", 0)
    with ExitStack() as cleanup:
        folder = Path(
            cleanup.enter_context(
                tempfile.TemporaryDirectory(
                    prefix=".export-", dir=(csv_path or geojson_path or Path(".")).parent
                )
            )
        )
        files = [
            (
                None if csv_path is None else folder / f"{k}.csv",
                None if geojson_path is None else folder / f"{k}.geojson",
            )
            for k in range(len(parts))
        ]
        pool = cleanup.enter_context(
            ProcessPoolExecutor(
                max_workers=len(parts) - 1,
                mp_context=context,
                initializer=_share_count,
                initargs=(elsewhere,),
            )
        )
        futures = [
            pool.submit(_export_part_elsewhere, dsn, run_id, words, part, *files[k])
            for k, part in enumerate(parts)
            if k
        ]
        own = 0

        def tick() -> None:
            nonlocal own
            own += 1
            if own % 1000 == 0:
                ticker.tick(own + elsewhere.value - ticker.n)

        _write_part(conn, run_id, words, parts[0], out, tick)
        pending = set(futures)
        while pending:
            done, pending = wait(pending, timeout=1.0, return_when=FIRST_EXCEPTION)
            ticker.tick(own + elsewhere.value - ticker.n)
            if any(f.exception() is not None for f in done):
                break  # raised below, by its result
        for part_number, part, future, (csv_part, geojson_part) in zip(
            range(2, len(parts) + 1), parts[1:], futures, files[1:], strict=True
        ):
            seen = future.result()
            if seen != part.rows:  # not all of it was visible there: write it here
                progress(
                    f"phần {part_number} viết lại tại đây: tiến trình kia thấy {seen:,}/"
                    f"{part.rows:,} dòng / part {part_number} written here: the other process "
                    f"saw {seen:,} of its {part.rows:,} rows"
                )
                _write_part(conn, run_id, words, part, out, lambda: None)
                continue
            if csv_part is not None and out.csv_file is not None:
                with csv_part.open(encoding="utf-8", newline="") as source:
                    shutil.copyfileobj(source, out.csv_file)
            if geojson_part is not None and out.geojson is not None:
                with geojson_part.open(encoding="utf-8") as source:
                    if out.features == 0:
                        source.read(1)  # the comma before the part's first feature
                    shutil.copyfileobj(source, out.geojson)
                out.features += part.rows


_shared_count: Any = None


def _share_count(count: Any) -> None:
    """In another process: where it adds the rows it has written, for the progress shown."""
    global _shared_count
    _shared_count = count


def _export_part_elsewhere(
    dsn: str,
    run_id: int,
    words: _RunWords,
    part: _Part,
    csv_part: Path | None,
    geojson_part: Path | None,
) -> int:
    """In another process: one part written into its own files; the rows it held."""
    conn = connect(dsn, application_name="schoolmap export")
    try:
        conn.set_session(isolation_level="REPEATABLE READ", readonly=True)
        with ExitStack() as files:
            out = _Output(features=1)  # every feature after a comma: the part is not first
            if csv_part is not None:
                out.csv_file = files.enter_context(csv_part.open("w", newline="", encoding="utf-8"))
                out.csv = SpreadsheetSafeWriter(out.csv_file)
            if geojson_part is not None:
                out.geojson = files.enter_context(geojson_part.open("w", encoding="utf-8"))
            done = 0

            def tick() -> None:
                nonlocal done
                done += 1
                if done % 1000 == 0 and _shared_count is not None:
                    with _shared_count.get_lock():
                        _shared_count.value += 1000

            return _write_part(conn, run_id, words, part, out, tick)
    finally:
        conn.rollback()
        conn.close()


def _write_part(
    conn: Connection,
    run_id: int,
    words: _RunWords,
    part: _Part,
    out: _Output,
    tick: Callable[[], None],
) -> int:
    """One part's rows worded and written to the outputs; how many rows it held."""
    bounds = {"run": run_id, "low": part.low, "high": part.high}
    with conn.cursor() as cur:
        # What each family ranked, for runs stored before explanations carried it.
        cur.execute(_RANKED, bounds)
        ranked = {r[0]: list(r[1]) for r in cur.fetchall()}
    homes = not words.brief
    passed_column = _PassedColumn(words.codes)
    n = 0
    # Rows stream from a server-side cursor and leave one by one: a city's run (over
    # 100,000 children, each with its explanation) is never held whole in memory.
    with conn.cursor(name=f"export_run_{run_id}") as rows:
        rows.itersize = 2000
        rows.execute(_ROWS.format(home=_HOME if homes else "NULL, NULL"), bounds)
        for row in rows:
            n += 1
            tick()
            # Officers and parents read the same sentences: Vietnamese first, English
            # beside it, schools by name and code (never by database id).
            explanation = stored_explanation(row[10:], row[3], row[6], words.kinds)
            text = explain_vi(
                explanation,
                words.mechanism,
                words.labels,
                ranked.get(row[0], []),
                brief=words.brief,
            )
            if out.csv is not None:
                passed = passed_column(explanation.get("passed_over", []))
                # The summary (the school given and why); each school passed over, with its
                # distance and why, in the next column: a row a spreadsheet can show.
                out.csv.writerow(
                    [row[0], row[9], *row[1:7], text["summary"], text["summary_en"], passed]
                )
            if homes:
                feature = {
                    "type": "Feature",
                    "geometry": {
                        "type": "Point",
                        "coordinates": [round(row[7], 6), round(row[8], 6)],
                    },
                    "properties": {
                        "applicant_id": row[0],
                        "home_unit": row[9],
                        "school_id": row[3],
                        "school_name": row[5],
                        "distance_m": row[6],
                        "reason": text["text"],
                        "reason_en": text["text_en"],
                        "explanation": {
                            **explanation,
                            "passed_over": list(explanation.get("passed_over", [])),
                            "reason": text["text_en"],
                        },
                    },
                }
                if out.geojson is not None:
                    out.geojson.write(
                        ("," if out.features else "") + json.dumps(feature, ensure_ascii=False)
                    )
                    out.features += 1
                if out.packed is not None:
                    out.packed.append(feature)
    return n


class _PassedColumn:
    """The schools a child passed over, in one cell, grouped by why, each by its registry code
    (its name when it has none) and distance: 'hết chỗ: TH0012 (820 m), TH0031 (1.240 m)'.
    Words and distances are made once per export (a city's run passes over 2,000,000)."""

    def __init__(self, codes: Mapping[int, str]) -> None:
        self._opening = _Made(lambda school: "? (")
        self._opening.update({school: f"{code} (" for school, code in codes.items()})
        self._metres = _Made(lambda cost: metres(cost) + ")")

    def __call__(self, entries: Sequence[Mapping[str, Any]]) -> str:
        schools: Sequence[Any]
        costs: Sequence[Any]
        if isinstance(entries, PassedOverColumns):  # read from the stored columns, no dicts
            schools, costs, whys = entries.school_ids, entries.costs, entries.whys
        else:
            schools = [e.get("school_id") for e in entries]
            costs = [e.get("cost") for e in entries]
            whys = [str(e.get("why")) for e in entries]
        if not schools:
            return ""
        opening, distance = self._opening, self._metres
        named = [
            opening[school] + distance[cost] for school, cost in zip(schools, costs, strict=True)
        ]
        if whys.count(whys[0]) == len(whys):  # the usual case: every one full
            return f"{WHY_VI.get(whys[0], whys[0])}: " + ", ".join(named)
        groups: dict[str, list[str]] = {}
        for why, item in zip(whys, named, strict=True):
            groups.setdefault(why, []).append(item)
        return "; ".join(
            f"{WHY_VI.get(why, why)}: {', '.join(items)}" for why, items in groups.items()
        )


class _Made(dict[Any, str]):
    """Words looked up by key, each made once by `make` the first time it is asked for."""

    def __init__(self, make: Callable[[Any], str]) -> None:
        super().__init__()
        self._make = make

    def __missing__(self, key: Any) -> str:
        made = self[key] = self._make(key)
        return made


CSV_COLUMNS = [
    "applicant_id",
    "home_unit",
    "sibling_group",
    "priority_group",
    "school_id",
    "school_code",
    "school_name",
    "distance_m",
    "reason",
    "reason_en",
    "passed_over",
]

_PART = """
    (%(low)s::integer IS NULL OR x.applicant_id >= %(low)s)
    AND (%(high)s::integer IS NULL OR x.applicant_id < %(high)s)
"""
"""A part's children (the bounds are constants by the time the server plans the query)."""

_HOME = "ST_X(a.home), ST_Y(a.home)"
_ROWS = f"""
    SELECT x.applicant_id, a.sibling_group, a.priority_group, x.school_id, s.code,
           s.name, x.cost, {{home}}, w.name, {EXPLANATION_COLUMNS}
    FROM assignments x
    JOIN allocation_runs run ON run.id = x.run_id
    JOIN applications a ON a.round_id = run.round_id AND a.applicant_id = x.applicant_id
    LEFT JOIN schools s ON s.id = x.school_id
    LEFT JOIN admin_units w ON w.id = a.ward_id
    WHERE x.run_id = %(run)s AND {_PART} ORDER BY x.applicant_id
"""

_RANKED = f"""
    SELECT x.applicant_id, a.preferences
    FROM assignments x
    JOIN allocation_runs run ON run.id = x.run_id
    JOIN applications a ON a.round_id = run.round_id AND a.applicant_id = x.applicant_id
    WHERE x.run_id = %(run)s AND {_PART} AND cardinality(a.preferences) > 0
"""


HOMES_WARNING = (
    "Tệp này chứa vị trí nhà chính xác của từng trẻ: dữ liệu cá nhân được pháp luật bảo vệ, "
    "không công bố, không gửi qua kênh không an toàn, xóa khi hết việc. / This file holds "
    "every child's exact home: personal data protected by law; never publish it, never send "
    "it over an unsafe channel, delete it when the work is done."
)
"""Said before a file with children's homes is written (GeoJSON, GeoPackage)."""


def _write_geopackage(path: Path, features: list[dict[str, Any]]) -> None:
    """The features as one GeoPackage layer `assignments` (EPSG:4326), explanation as JSON."""
    import geopandas as gpd
    import shapely

    records = []
    for feature in features:
        properties = dict(feature["properties"])
        properties["explanation"] = json.dumps(properties["explanation"], ensure_ascii=False)
        lon, lat = feature["geometry"]["coordinates"]
        properties["geometry"] = shapely.Point(lon, lat)
        records.append(properties)
    frame = gpd.GeoDataFrame(records, geometry="geometry", crs="EPSG:4326")
    frame.to_file(path, layer="assignments", driver="GPKG")


def school_label(name: str | None, code: str | None) -> str:
    """A school as officers find it in the registry: its name and its official code."""
    label = name or "?"
    return f"{label} (mã {code})" if code else label
