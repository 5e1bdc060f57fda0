"""One admission record whatever the door: a child's record has an owner, a round's states
and results cannot be doubled or skipped, priority claims wait for an officer, and parents see
no small counts. One regression test per way the record was found to break."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import psycopg2
import pytest
from fastapi.testclient import TestClient

from gis_service import audit
from gis_service.admissions.applicant_import import import_applicants
from gis_service.admissions.applications import NOT_YOUR_CHILD
from gis_service.admissions.build import build_round_problem
from gis_service.admissions.claims import decide_claim, list_claims
from gis_service.admissions.lifecycle import (
    ALLOWED,
    STATES,
    Action,
    lock_round,
    set_round_status,
)
from gis_service.admissions.next_round import open_next_round
from gis_service.admissions.rounds import create_round, load_round
from gis_service.admissions.runs import publish_run, run_round, verify_run
from gis_service.errors import ConflictError
from gis_service.importers.report import no_progress
from gis_service.routing.service import RoutingService
from tests.test_api_applications import Setting
from tests.test_auth import RequestTransactions, one

CHILD = "079219000777"


def test_every_action_is_allowed_in_the_states_of_the_round_life() -> None:
    """The table, read as the rules say: parents apply only while open, officers import
    before the data is locked, runs and publication only on locked data, round 2 and purging
    only after publication, and nothing changes an archived round."""
    expected = {
        Action.IMPORT: {"draft", "open", "review"},
        Action.APPLY: {"open"},
        Action.EDIT: {"open", "review"},
        Action.AMEND: {"draft", "open", "review", "closed"},
        Action.SCHEDULE: {"draft", "open", "review"},
        # The enrolment notice is public and read after publication: set until archived.
        Action.NOTICE: {"draft", "open", "review", "closed", "published"},
        Action.DECIDE_CLAIM: {"draft", "open", "review", "closed"},
        Action.OPEN: {"draft", "closed"},
        Action.REVIEW: {"open"},
        Action.CLOSE: {"open", "review"},
        Action.RUN: {"closed"},
        Action.PUBLISH: {"closed"},
        Action.NEXT: {"published"},
        Action.PURGE: {"published"},
    }
    assert {action: set(states) for action, states in ALLOWED.items()} == expected
    assert all(states <= set(STATES) for states in ALLOWED.values())
    assert not any("archived" in states for states in ALLOWED.values())


class World(Setting):
    """An open grade-1 round of district 901, an officer, two parents; applications by API."""

    def __init__(self, client: TestClient, conn: RequestTransactions) -> None:
        super().__init__(client, conn)
        self.conn = conn

    def apply(
        self, who: dict[str, str], key: str, round_id: int | None = None, **extra: Any
    ) -> Any:
        body = {
            "child_id": CHILD,
            "birth_date": "2019-06-01",
            "lon": self.lon,
            "lat": self.lat,
            **extra,
        }
        return self.client.post(
            f"/rounds/{round_id or self.round_id}/applications",
            json=body,
            headers={**who, "Idempotency-Key": key},
        )

    def upload(self, round_id: int, rows: list[str]) -> Any:
        """Rows of child_id, birth_date, lon, lat and priority_group, comma-separated."""
        text = io.StringIO()
        writer = csv.writer(text)
        writer.writerow(["child_id", "birth_date", "lon", "lat", "priority_group"])
        writer.writerows(row.split(",", 4) for row in rows)
        return self.client.post(
            f"/rounds/{round_id}/applicants?filename=list.csv",
            content=text.getvalue().encode(),
            headers={**self.officer, "Content-Type": "text/csv"},
        )

    def move(self, round_id: int, *steps: str) -> None:
        for step in steps:
            self.client.post(f"/rounds/{round_id}/{step}", headers=self.officer).raise_for_status()

    def run(self, round_id: int, seed: int = 1) -> dict[str, Any]:
        made = self.client.post(
            f"/rounds/{round_id}/runs",
            json={"mechanism": "nearest", "seed": seed},
            headers=self.officer,
        )
        assert made.status_code == 201, made.text
        return dict(made.json())


@pytest.fixture
def world(client: TestClient, conn: RequestTransactions) -> World:
    made = World(client, conn)
    conn.commit()
    return made


def facts(conn: RequestTransactions, child_round: int) -> Any:
    return one(
        conn,
        "SELECT json_build_array(a.birth_date, ST_AsText(a.home), a.submitted_by) "
        "FROM applications a WHERE a.round_id = %s",
        child_round,
    )


def test_a_parent_cannot_take_over_a_child_an_officer_imported(
    world: World, conn: RequestTransactions
) -> None:
    """Regression: another account's submission of an imported child's code was accepted and
    overwrote the child's home, birth date and guardian."""
    imported = world.upload(world.round_id, [f"{CHILD},2019-05-10,{world.lon},{world.lat},"])
    assert imported.status_code == 200, imported.text
    before = facts(conn, world.round_id)
    other = create_round(
        conn, name="Lớp 1 bis", grade=1, school_year="2025-2026", districts=["901"]
    )
    set_round_status(conn, other.round_id, "open")
    conn.commit()
    taken = world.apply(world.binh, "t-1", other.round_id, lon=world.lon + 0.01)
    assert taken.status_code == 403 and taken.json()["detail"] == NOT_YOUR_CHILD
    assert facts(conn, world.round_id) == before
    assert one(conn, "SELECT count(*) FROM applications WHERE round_id = %s", other.round_id) == 0
    assert one(conn, "SELECT guardian_id FROM applicants") is None


def test_the_refusal_tells_nothing_about_the_child(world: World, conn: RequestTransactions) -> None:
    """Regression: the refusal for a placed child named the school it was given. Whether the
    code was imported, is held by another parent, or the child was placed, the answer is one."""
    answers = []
    first = world.apply(world.an, "a-1")
    assert first.status_code == 201, first.text
    answers.append(world.apply(world.binh, "b-1").json())
    world.move(world.round_id, "close")
    run = world.run(world.round_id)
    world.client.post(
        f"/rounds/{world.round_id}/runs/{run['id']}/publish", headers=world.officer
    ).raise_for_status()
    other = create_round(
        conn, name="Lớp 1 bis", grade=1, school_year="2025-2026", districts=["901"]
    )
    set_round_status(conn, other.round_id, "open")
    conn.commit()
    answers.append(world.apply(world.binh, "b-2", other.round_id).json())
    upload = world.upload(other.round_id, [f"079219000778,2019-05-10,{world.lon},{world.lat},"])
    assert upload.status_code == 200, upload.text
    answers.append(world.apply(world.binh, "b-3", other.round_id, child_id="079219000778").json())
    assert answers == [{"detail": NOT_YOUR_CHILD}] * 3
    school = one(
        conn,
        "SELECT s.name FROM assignments x JOIN schools s ON s.id = x.school_id WHERE x.run_id = %s",
        run["id"],
    )
    assert school is not None and str(school) not in NOT_YOUR_CHILD


def test_an_officer_links_a_child_and_the_parent_then_applies(
    world: World, conn: RequestTransactions
) -> None:
    world.upload(world.round_id, [f"{CHILD},2019-05-10,{world.lon},{world.lat},"])
    assert world.apply(world.an, "l-1").status_code == 403
    linked = world.client.post(
        f"/rounds/{world.round_id}/guardians",
        json={"child_id": CHILD, "username": "me.an"},
        headers=world.officer,
    )
    assert linked.status_code == 200, linked.text
    assert linked.json() == {
        "round": world.round_id,
        "guardian": "me.an",
        "previous_guardian": None,
        "new_record": False,
    }
    # The parent now sees the imported application, and the child is the parent's.
    listed = world.client.get("/applications", headers=world.an).json()
    assert [a["round"]["id"] for a in listed] == [world.round_id]
    moved = world.client.post(
        f"/rounds/{world.round_id}/guardians",
        json={"child_id": CHILD, "username": "bo.binh"},
        headers=world.officer,
    )
    assert moved.json()["previous_guardian"] == "me.an"
    assert world.client.get("/applications", headers=world.an).json() == []
    logged = audit.entries(conn, action_prefix="child.link")
    assert [(e.actor, e.detail["from"], e.detail["to"]) for e in logged] == [
        ("can.bo", None, "me.an"),
        ("can.bo", "me.an", "bo.binh"),
    ]
    # Linking names no child of another round.
    stranger = world.client.post(
        f"/rounds/{world.round_id}/guardians",
        json={"child_id": CHILD, "username": "can.bo"},
        headers=world.officer,
    )
    assert stranger.status_code == 400


def test_a_stranger_named_as_sibling_keeps_their_group(
    world: World, conn: RequestTransactions
) -> None:
    """A family naming another family's child as a sibling changes nothing of that child."""
    assert world.apply(world.binh, "s-0", child_id="079219000900").status_code == 201
    before = one(conn, "SELECT sibling_group FROM applicants")
    named = world.apply(world.an, "s-1", sibling_child_id="079219000900")
    assert named.status_code == 201 and named.json()["has_sibling"]
    assert (
        one(
            conn,
            "SELECT sibling_group FROM applicants WHERE guardian_id = "
            "(SELECT id FROM users WHERE username = 'bo.binh')",
        )
        == before
    )


def test_an_import_never_overwrites_a_parents_application(
    world: World, conn: RequestTransactions
) -> None:
    """Regression: imports and parents' submissions overwrote each other silently."""
    assert world.apply(world.an, "c-1").status_code == 201
    mine = facts(conn, world.round_id)
    far = f"{CHILD},2019-01-02,{world.lon + 0.003},{world.lat},"
    imported = world.upload(
        world.round_id, [far, f"079219000779,2019-05-10,{world.lon},{world.lat},"]
    )
    assert imported.status_code == 200, imported.text
    assert imported.json()["counts"]["conflicts with parents' applications"] == 1
    assert (
        one(
            conn,
            "SELECT json_build_array(a.birth_date, ST_AsText(a.home), a.submitted_by) "
            "FROM applications a JOIN applicants p ON p.id = a.applicant_id "
            "WHERE p.guardian_id IS NOT NULL",
        )
        == mine
    )
    listed = world.client.get(f"/rounds/{world.round_id}/conflicts", headers=world.officer).json()
    assert [(c["source_file"], c["source_line"], c["fields"]) for c in listed["conflicts"]] == [
        ("list.csv", 2, ["birth_date", "home"])
    ]
    shown = world.client.get(f"/rounds/{world.round_id}", headers=world.officer).json()
    assert shown["conflicts"] == 1


def test_a_run_made_before_a_reopening_cannot_be_published(
    world: World, conn: RequestTransactions
) -> None:
    """Regression: a run of an open round was published, leaving applications sent after it
    with no result."""
    assert world.apply(world.an, "r-1").status_code == 201
    world.move(world.round_id, "close")
    stale = world.run(world.round_id)
    world.move(world.round_id, "open")
    late = world.apply(world.binh, "r-2", child_id="079219000780")
    assert late.status_code == 201
    world.move(world.round_id, "close")
    refused = world.client.post(
        f"/rounds/{world.round_id}/runs/{stale['id']}/publish", headers=world.officer
    )
    assert refused.status_code == 409 and "run it again" in refused.json()["detail"]
    fresh = world.run(world.round_id)
    assert fresh["metrics"]["applicants"] == stale["metrics"]["applicants"] + 1
    world.client.post(
        f"/rounds/{world.round_id}/runs/{fresh['id']}/publish", headers=world.officer
    ).raise_for_status()
    result = world.client.get(f"/applications/{late.json()['id']}", headers=world.binh).json()
    assert result["result"]["run"] == fresh["id"]


def test_imports_follow_the_round_life_in_the_api(world: World, conn: RequestTransactions) -> None:
    """Regression: importing into a closed round was allowed."""
    world.move(world.round_id, "close")
    refused = world.upload(world.round_id, [f"{CHILD},2019-05-10,{world.lon},{world.lat},"])
    assert refused.status_code == 409 and "it is closed" in refused.json()["detail"]
    assert one(conn, "SELECT count(*) FROM applications") == 0


def test_one_published_run_and_one_next_round_even_by_hand(
    world: World, conn: RequestTransactions
) -> None:
    """Regression: two publishes or two round 2s at once both succeeded. The database itself
    refuses a second, whatever code path writes it."""
    world.upload(world.round_id, [f"{CHILD},2019-05-10,{world.lon},{world.lat},"])
    world.move(world.round_id, "close")
    first, second = world.run(world.round_id, 1), world.run(world.round_id, 2)
    world.client.post(
        f"/rounds/{world.round_id}/runs/{first['id']}/publish", headers=world.officer
    ).raise_for_status()
    twice = world.client.post(
        f"/rounds/{world.round_id}/runs/{second['id']}/publish", headers=world.officer
    )
    assert twice.status_code == 409
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT by_hand")
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute(
                "UPDATE allocation_runs SET published_at = now() WHERE id = %s", (second["id"],)
            )
        cur.execute("ROLLBACK TO SAVEPOINT by_hand")
    made = world.client.post(f"/rounds/{world.round_id}/next", headers=world.officer)
    assert made.status_code == 200, made.text
    again = world.client.post(f"/rounds/{world.round_id}/next", headers=world.officer)
    assert again.status_code == 409 and "already has a next round" in again.json()["detail"]
    with conn.cursor() as cur:
        cur.execute("SAVEPOINT by_hand")
        with pytest.raises(psycopg2.errors.UniqueViolation):
            cur.execute(
                "INSERT INTO rounds (name, grade, school_year, admission_year, area_unit_ids, "
                "parent_round_id, edition) SELECT name, grade, school_year, admission_year, "
                "area_unit_ids, id, edition FROM rounds WHERE id = %s",
                (world.round_id,),
            )
        cur.execute("ROLLBACK TO SAVEPOINT by_hand")


def test_a_priority_claim_counts_only_once_an_officer_verifies_it(
    world: World, conn: RequestTransactions, demo_home: Path
) -> None:
    """Regression: a parent declaring a disability with no evidence got tier 0 and three
    extra years of age."""
    claimed = world.apply(world.an, "p-1", birth_date="2017-03-01", priority_group="khuyet_tat")
    assert claimed.status_code == 201
    body = claimed.json()
    assert body["priority_status"] == "pending"
    assert body["status"] == "rejected" and [r["code"] for r in body["reasons"]] == ["too_old"]
    tier_one = world.apply(world.binh, "p-2", child_id="079219000781", priority_group="liet_si")
    assert tier_one.json()["status"] == "eligible"
    pending = world.client.get(
        f"/rounds/{world.round_id}/claims?pending=true", headers=world.officer
    ).json()["claims"]
    assert [(c["priority_group"], c["status"], c["by_parent"]) for c in pending] == [
        ("khuyet_tat", "pending", True),
        ("liet_si", "pending", True),
    ]
    assert (
        world.client.get(f"/rounds/{world.round_id}", headers=world.officer).json()[
            "pending_claims"
        ]
        == 2
    )
    the_round = load_round(conn, world.round_id)
    problem = build_round_problem(conn, RoutingService(demo_home), the_round).problem
    assert problem.tier.tolist() == [1]  # the pending martyr's-child claim does not count
    no_note = world.client.post(
        f"/rounds/{world.round_id}/claims/{body['id']}",
        json={"decision": "verified", "note": "  "},
        headers=world.officer,
    )
    assert no_note.status_code == 400
    decided = world.client.post(
        f"/rounds/{world.round_id}/claims/{body['id']}",
        json={"decision": "verified", "note": "Giấy xác nhận khuyết tật số 12/2025"},
        headers=world.officer,
    )
    assert decided.status_code == 200, decided.text
    assert decided.json()["status"] == "verified" and decided.json()["checked_by"] == "can.bo"
    now = world.client.get(f"/applications/{body['id']}", headers=world.an).json()
    assert now["status"] == "eligible" and now["priority_status"] == "verified"
    assert load_round(conn, world.round_id).revision == the_round.revision + 1
    problem = build_round_problem(conn, RoutingService(demo_home), load_round(conn, world.round_id))
    assert sorted(problem.problem.tier.tolist()) == [0, 1]
    logged = audit.entries(conn, action_prefix="application.priority_decide")
    assert [(e.actor, e.detail["decision"]) for e in logged] == [("can.bo", "verified")]


def test_an_unknown_priority_group_is_refused_at_every_door(
    world: World, conn: RequestTransactions
) -> None:
    formula = '=HYPERLINK("http://example.invalid","ok")'
    too_long = world.apply(world.an, "g-0", priority_group=formula)
    assert too_long.status_code == 422
    answer = world.apply(world.an, "g-1", priority_group="=1+1")
    assert answer.status_code == 400 and "priority group" in answer.json()["detail"]
    upload = world.upload(world.round_id, [f"{CHILD},2019-05-10,{world.lon},{world.lat},{formula}"])
    assert upload.status_code == 400 and "line 2" in upload.json()["detail"]
    assert one(conn, "SELECT count(*) FROM applications") == 0


def test_parents_see_no_count_under_ten(world: World, conn: RequestTransactions) -> None:
    """Regression: parents saw the exact application counts of every round."""
    for k in range(3):
        answer = world.apply(world.an, f"n-{k}", child_id=f"07921900080{k}")
        assert answer.status_code == 201
    seen = world.client.get(f"/rounds/{world.round_id}", headers=world.an).json()
    assert (seen["applications"], seen["eligible"], seen["pending_claims"]) == (None, None, None)
    assert (
        world.client.get(f"/rounds/{world.round_id}", headers=world.officer).json()["applications"]
        == 3
    )
    listed = world.client.get("/rounds", headers=world.an).json()
    assert all(r["applications"] is None or r["applications"] >= 10 for r in listed)


def test_a_later_application_never_changes_a_published_round(
    demo_db: Any, demo_home: Path, tmp_path: Path
) -> None:
    """Regression: a second application of a child overwrote the shared record (home, birth
    date, ward), so `round verify` of every published run with the child failed."""
    routing = RoutingService(demo_home)
    households = demo_home / "demo" / "households.csv"
    first = create_round(demo_db, name="Lớp 6", grade=6, school_year="2025-2026", districts=["902"])
    import_applicants(demo_db, first.round_id, households, b"k", no_progress)
    set_round_status(demo_db, first.round_id, "open")
    set_round_status(demo_db, first.round_id, "closed")
    run = run_round(demo_db, routing, first.round_id, "nearest", seed=3)
    publish_run(demo_db, run.run_id)
    # The same children, elsewhere, in another year's round.
    moved = tmp_path / "moved.csv"
    lines = households.read_text(encoding="utf-8").splitlines()
    header = lines[0].split(",")
    lon = header.index("lon")
    shifted = [lines[0]]
    for line in lines[1:]:
        cells = line.split(",")
        cells[lon] = f"{float(cells[lon]) + 0.002:.6f}"
        shifted.append(",".join(cells))
    moved.write_text("\n".join(shifted) + "\n", encoding="utf-8")
    later = create_round(demo_db, name="Lớp 6", grade=6, school_year="2026-2027", districts=["902"])
    import_applicants(demo_db, later.round_id, moved, b"k", no_progress)
    assert verify_run(demo_db, routing, run.run_id).ok


def test_a_second_round_of_the_same_grade_cannot_overfill_a_school(
    demo_db: Any, demo_home: Path
) -> None:
    """Two rounds of one grade and year, published one after the other, never give a school
    more seats than its classes hold."""
    routing = RoutingService(demo_home)
    households = demo_home / "demo" / "households.csv"
    with demo_db.cursor() as cur:
        cur.execute("UPDATE school_grades SET classes = 1 WHERE grade = 1 AND classes > 0")
    rounds = []
    for name in ("A", "B"):
        made = create_round(
            demo_db, name=name, grade=1, school_year="2025-2026", districts=["901", "902", "903"]
        )
        import_applicants(demo_db, made.round_id, households, name.encode() * 8, no_progress)
        set_round_status(demo_db, made.round_id, "open")
        set_round_status(demo_db, made.round_id, "closed")
        rounds.append(run_round(demo_db, routing, made.round_id, "nearest", seed=1))
    publish_run(demo_db, rounds[0].run_id)
    with pytest.raises(ConflictError, match="over their seats"):
        publish_run(demo_db, rounds[1].run_id)


def test_a_locked_round_refuses_with_the_states_that_allow(demo_db: Any) -> None:
    made = create_round(demo_db, name="x", grade=1, school_year="2025-2026", districts=["901"])
    with pytest.raises(ConflictError, match="this needs a round that is closed"):
        lock_round(demo_db, made.round_id, Action.PUBLISH)
    with pytest.raises(ConflictError, match="needs a round that is open or review"):
        set_round_status(demo_db, made.round_id, "closed")
    set_round_status(demo_db, made.round_id, "open")
    with pytest.raises(ConflictError, match="needs a round that is published"):
        open_next_round(demo_db, made.round_id)


def test_a_priority_decision_makes_earlier_runs_stale(
    demo_db: Any, demo_home: Path, tmp_path: Path
) -> None:
    routing = RoutingService(demo_home)
    households = demo_home / "demo" / "households.csv"
    made = create_round(demo_db, name="x", grade=1, school_year="2025-2026", districts=["901"])
    text = households.read_text(encoding="utf-8").splitlines()
    header = text[0].split(",")
    group = header.index("priority_group")
    rows = [text[0]]
    for line in text[1:]:
        cells = line.split(",")
        if cells[group]:
            rows.append(line)
    assert len(rows) > 1
    file = tmp_path / "claims.csv"
    file.write_text("\n".join(rows) + "\n", encoding="utf-8")
    import_applicants(demo_db, made.round_id, file, b"k", no_progress)
    set_round_status(demo_db, made.round_id, "open")
    set_round_status(demo_db, made.round_id, "closed")
    run = run_round(demo_db, routing, made.round_id, "nearest", seed=1)
    claims = list_claims(demo_db, made.round_id)
    assert claims and all(c.status == "verified" and not c.by_parent for c in claims)
    decide_claim(demo_db, made.round_id, claims[0].application_id, "rejected", "không có giấy tờ")
    with pytest.raises(ConflictError, match="run it again"):
        publish_run(demo_db, run.run_id)


def test_a_parent_corrects_or_withdraws_only_while_the_data_is_not_locked(
    world: World, conn: RequestTransactions
) -> None:
    """The review window: parents check and correct their data, then it is locked."""
    sent = world.apply(world.an, "e-1", priority_group="liet_si")
    assert sent.status_code == 201
    application = sent.json()["id"]
    world.move(world.round_id, "review")
    assert world.apply(world.binh, "e-2", child_id="079219000790").status_code == 409
    body = {"birth_date": "2017-01-01", "lon": world.lon, "lat": world.lat}
    corrected = world.client.put(f"/applications/{application}", json=body, headers=world.an)
    assert corrected.status_code == 200, corrected.text
    assert corrected.json()["status"] == "rejected"  # too old, and no claim any more
    assert corrected.json()["priority_group"] is None
    again = world.client.put(
        f"/applications/{application}", json={**body, "birth_date": "2019-02-01"}, headers=world.an
    )
    assert again.json()["status"] == "eligible"
    # Another family's application is not found; an officer's import is the officer's.
    assert (
        world.client.put(f"/applications/{application}", json=body, headers=world.binh).status_code
        == 404
    )
    withdrawn = world.client.post(f"/applications/{application}/withdraw", headers=world.an)
    assert withdrawn.status_code == 200 and withdrawn.json()["status"] == "withdrawn"
    world.upload(world.round_id, [f"079219000791,2019-05-10,{world.lon},{world.lat},"])
    world.move(world.round_id, "close")
    locked = world.client.put(f"/applications/{application}", json=body, headers=world.an)
    assert locked.status_code == 409 and "it is closed" in locked.json()["detail"]
    run = world.run(world.round_id)
    assert run["metrics"]["applicants"] == 1  # the withdrawn application is left out
    logged = audit.entries(conn, action_prefix="application.")
    assert [e.action for e in logged] == [
        "application.submit",
        "application.edit",
        "application.edit",
        "application.withdraw",
    ]


def test_a_parent_cannot_correct_what_the_officer_imported(
    world: World, conn: RequestTransactions
) -> None:
    world.upload(world.round_id, [f"{CHILD},2019-05-10,{world.lon},{world.lat},"])
    world.client.post(
        f"/rounds/{world.round_id}/guardians",
        json={"child_id": CHILD, "username": "me.an"},
        headers=world.officer,
    ).raise_for_status()
    imported = world.client.get("/applications", headers=world.an).json()[0]["id"]
    body = {"birth_date": "2019-01-01", "lon": world.lon + 0.01, "lat": world.lat}
    refused = world.client.put(f"/applications/{imported}", json=body, headers=world.an)
    assert refused.status_code == 409 and "admissions officer" in refused.json()["detail"]
