"""Seats already given: each published run's placements per school, kept after a purge, and
which published runs a round's run takes as given (every other round of the grade and year)."""

from __future__ import annotations

from gis_service.db.connection import Connection


def record_seats_given(conn: Connection, run_id: int) -> None:
    """Keep the seats a run gives at each school, as it is published (counts, no child)."""
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO run_school_seats (run_id, school_id, placed) "
            "SELECT run_id, school_id, count(*) FROM assignments "
            "WHERE run_id = %s AND school_id IS NOT NULL GROUP BY run_id, school_id",
            (run_id,),
        )


def runs_given(conn: Connection, round_id: int) -> tuple[int, ...]:
    """The published runs of every other round of the round's grade and school year: the
    places a run of this round cannot give again."""
    with conn.cursor() as cur:
        cur.execute(
            """
            SELECT run.id FROM rounds this
            JOIN rounds other ON other.grade = this.grade
                             AND other.school_year = this.school_year AND other.id <> this.id
            JOIN allocation_runs run ON run.round_id = other.id AND run.published_at IS NOT NULL
            WHERE this.id = %s ORDER BY run.id
            """,
            (round_id,),
        )
        return tuple(int(row[0]) for row in cur.fetchall())


def runs_followed(conn: Connection, round_id: int) -> tuple[int, ...]:
    """The published runs of the rounds this one follows (round 1 for a round 2), which runs
    stored before runs recorded what they took as given were built on."""
    with conn.cursor() as cur:
        cur.execute(
            """
            WITH RECURSIVE earlier(id) AS (
                SELECT parent_round_id FROM rounds WHERE id = %s AND parent_round_id IS NOT NULL
                UNION
                SELECT r.parent_round_id FROM rounds r JOIN earlier e ON r.id = e.id
                WHERE r.parent_round_id IS NOT NULL
            )
            SELECT run.id FROM earlier e
            JOIN allocation_runs run ON run.round_id = e.id AND run.published_at IS NOT NULL
            ORDER BY run.id
            """,
            (round_id,),
        )
        return tuple(int(row[0]) for row in cur.fetchall())


def seats_given(conn: Connection, run_ids: tuple[int, ...]) -> dict[int, int]:
    """Seats per school given by these published runs."""
    with conn.cursor() as cur:
        cur.execute(
            "SELECT school_id, sum(placed) FROM run_school_seats WHERE run_id = ANY(%s) "
            "GROUP BY school_id",
            (list(run_ids),),
        )
        return {int(school): int(n) for school, n in cur.fetchall()}


def seats_taken_before(conn: Connection, round_id: int) -> dict[int, int]:
    """Seats per school already given by the published runs a new run of the round takes as
    given."""
    return seats_given(conn, runs_given(conn, round_id))
