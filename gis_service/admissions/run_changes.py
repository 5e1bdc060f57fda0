"""Who changes school between two runs of a round: counts by unit and by school, and the list
for the officer."""

from __future__ import annotations

from collections import Counter
from typing import Any

from gis_service.db.connection import Connection
from gis_service.errors import InvalidRequestError, NotFoundError

NOT_PLACED_VI = "(chưa có trường)"


def changes_between(conn: Connection, first_run: int, second_run: int) -> dict[str, Any]:
    """Every child whose school differs between two runs of the same round, with the unit the
    home is in and both schools by name, and how many move, per unit and per school (leaving
    and arriving)."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT id, round_id FROM allocation_runs WHERE id = ANY(%s)",
            ([first_run, second_run],),
        )
        rounds = dict(cur.fetchall())
        missing = [r for r in (first_run, second_run) if r not in rounds]
        if missing:
            raise NotFoundError(f"Không có lần chạy {missing[0]} / no run with id {missing[0]}")
        if rounds[first_run] != rounds[second_run]:
            raise InvalidRequestError(
                f"Hai lần chạy {first_run} và {second_run} thuộc hai đợt khác nhau / runs "
                f"{first_run} and {second_run} belong to different rounds"
            )
        cur.execute(
            """
            SELECT a.id, w.name, sa.code, sa.name, sb.code, sb.name, x.cost, y.cost
            FROM assignments x
            JOIN assignments y ON y.applicant_id = x.applicant_id AND y.run_id = %(b)s
            JOIN allocation_runs r ON r.id = x.run_id
            JOIN applications a ON a.round_id = r.round_id AND a.applicant_id = x.applicant_id
            LEFT JOIN admin_units w ON w.id = a.ward_id
            LEFT JOIN schools sa ON sa.id = x.school_id
            LEFT JOIN schools sb ON sb.id = y.school_id
            WHERE x.run_id = %(a)s AND x.school_id IS DISTINCT FROM y.school_id
            ORDER BY w.name NULLS LAST, a.id
            """,
            {"a": first_run, "b": second_run},
        )
        rows = cur.fetchall()
        cur.execute("SELECT count(*) FROM assignments WHERE run_id = %s", (first_run,))
        children = int(cur.fetchone()[0])  # type: ignore[index]
    by_unit: Counter[str] = Counter()
    leaving: Counter[str] = Counter()
    arriving: Counter[str] = Counter()
    moves = []
    for app, unit, code_a, name_a, code_b, name_b, cost_a, cost_b in rows:
        school_a = f"{name_a} ({code_a})" if name_a else NOT_PLACED_VI
        school_b = f"{name_b} ({code_b})" if name_b else NOT_PLACED_VI
        by_unit[unit or "?"] += 1
        leaving[school_a] += 1
        arriving[school_b] += 1
        moves.append(
            {
                "application_id": int(app),
                "home_unit": unit,
                "from_school": school_a,
                "to_school": school_b,
                "from_distance_m": cost_a,
                "to_distance_m": cost_b,
            }
        )
    schools = sorted(set(leaving) | set(arriving))
    return {
        "first_run": first_run,
        "second_run": second_run,
        "children": children,
        "changed": len(moves),
        "by_unit": dict(sorted(by_unit.items(), key=lambda kv: (-kv[1], kv[0]))),
        "by_school": [
            {"school": s, "leaving": leaving.get(s, 0), "arriving": arriving.get(s, 0)}
            for s in schools
        ],
        "children_changed": moves,
    }
