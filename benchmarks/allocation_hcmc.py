"""Allocation benchmark on Ho Chi Minh City: every mechanism at city scale, one printed table.

Run: .venv/bin/python benchmarks/allocation_hcmc.py [--applicants 125000] [--cache DIR]
The instance (see benchmarks/hcmc_instance.py: homes by 2019 ward population on the motorbike
network of the 2018 OSM extract, the city's primary schools, road metres) is built once and
cached. Each mechanism runs in a forked process of its own, so its peak memory (RSS) is its
own. The `matching` library's hospital-resident solver and a plain LP (PuLP + CBC) are run on
doubling samples of the applicants until a size takes more than --reference-limit seconds;
the largest size each finished is compared with ours on the same sample. Road data ©
OpenStreetMap contributors.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from allocation import PRIMARY_NORM_M, Problem, solve  # noqa: E402
from allocation.checks import run_checks  # noqa: E402
from allocation.grouping import group_applicants  # noqa: E402
from allocation.mechanisms.da import solve_da  # noqa: E402
from allocation.mechanisms.greedy import solve_greedy  # noqa: E402
from allocation.mechanisms.nearest import solve_nearest  # noqa: E402
from allocation.metrics import compute_metrics  # noqa: E402
from allocation.objective import tier_ranks  # noqa: E402
from benchmarks.hcmc_instance import hcmc_problem, with_siblings  # noqa: E402

MECHANISMS = ("nearest", "da", "greedy", "constrained")
ASSIGN_ONLY: dict[str, Callable[[Problem], Any]] = {
    "nearest": lambda p: solve_nearest(p, explain=False),
    "da": lambda p: solve_da(p, explain=False),
    "greedy": lambda p: solve_greedy(p, explain=False),
}


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_mechanism(problem: Problem, mechanism: str, out: Any) -> None:
    """In a forked child: time assignment alone, then solve() with everything; report."""
    row: dict[str, Any] = {"mechanism": mechanism, "rss_before_mb": peak_mb()}
    if mechanism in ASSIGN_ONLY:
        started = time.perf_counter()
        ASSIGN_ONLY[mechanism](problem)
        row["assign_s"] = time.perf_counter() - started
    started = time.perf_counter()
    result = solve(problem, mechanism, norm=PRIMARY_NORM_M, time_limit_s=120.0)  # type: ignore[arg-type]
    row["solve_s"] = time.perf_counter() - started
    row["mechanism_s"] = result.solve_seconds
    started = time.perf_counter()
    run_checks(problem, result.assignment, mechanism, status=result.status)
    compute_metrics(problem, result.assignment, PRIMARY_NORM_M)
    row["checks_metrics_s"] = time.perf_counter() - started
    row["status"] = result.status.value
    row["metrics"] = result.metrics.as_dict()
    row["checks"] = result.checks.as_dict()
    row["explanations"] = len(result.explanations)
    row["peak_mb"] = peak_mb()
    row["output_hash"] = result.output_hash()
    row["explanations_hash"] = explanations_hash(result)
    out.send(row)


def explanations_hash(result: Any) -> str:
    """SHA-256 of every explanation as JSON: a change of wording or figures changes it."""
    digest = hashlib.sha256()
    for explanation in result.explanations:
        digest.update(json.dumps(explanation.as_dict(), sort_keys=True).encode())
    return digest.hexdigest()


def in_child(problem: Problem, mechanism: str) -> dict[str, Any]:
    context = multiprocessing.get_context("fork")
    receive, send = context.Pipe(duplex=False)
    child = context.Process(target=run_mechanism, args=(problem, mechanism, send))
    child.start()
    row: dict[str, Any] = receive.recv()
    child.join()
    return row


def sample(problem: Problem, size: int, seed: int, single_tier: bool) -> Problem:
    """`size` applicants drawn at random, each school's seats scaled by size / n (rounded
    up, one seat a class), so seats keep at least the full problem's ratio to applicants."""
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(problem.n, size=size, replace=False))
    seats = -(-problem.capacity * size // problem.n)
    tier = np.ones(size, dtype=np.int64) if single_tier else problem.tier[rows]
    return Problem(
        applicant_ids=tuple(problem.applicant_ids[i] for i in rows.tolist()),
        school_ids=problem.school_ids,
        cost=problem.cost[rows],
        classes=seats.astype(np.int64),
        class_size=np.ones(problem.m, dtype=np.int64),
        tier=tier,
        seed=problem.seed,
    )


def reference_matching(problem: Problem) -> dict[str, Any]:
    """matching's HospitalResident on full lists (by distance; schools by tier, cost, lottery)."""
    from matching.games import HospitalResident

    from allocation.priority import SchoolPriority

    started = time.perf_counter()
    order = np.argsort(problem.cost, axis=1, kind="stable")
    names = list(problem.applicant_ids)
    schools = list(problem.school_ids)
    resident_prefs = {names[i]: [schools[s] for s in order[i].tolist()] for i in range(problem.n)}
    priority = SchoolPriority(problem)
    everyone = np.arange(problem.n)
    hospital_prefs = {}
    for s in range(problem.m):
        keys = priority.key(everyone, np.full(problem.n, s))
        hospital_prefs[schools[s]] = [names[i] for i in np.argsort(keys).tolist()]
    capacities = dict(zip(schools, problem.capacity.tolist(), strict=True))
    game = HospitalResident.create_from_dictionaries(resident_prefs, hospital_prefs, capacities)
    matched = game.solve(optimal="resident")
    seconds = time.perf_counter() - started
    index = {name: k for k, name in enumerate(schools)}
    theirs = np.full(problem.n, -1, dtype=np.int64)
    row_of = {name: i for i, name in enumerate(names)}
    for hospital, residents in matched.items():
        for resident in residents:
            theirs[row_of[resident.name]] = index[hospital.name]
    ours_started = time.perf_counter()
    ours = solve_da(problem, explain=False).assignment
    ours_seconds = time.perf_counter() - ours_started
    return {
        "seconds": seconds,
        "ours_seconds": ours_seconds,
        "same": bool(np.array_equal(theirs, ours)),
    }


def reference_lp(problem: Problem) -> dict[str, Any]:
    """min total metres, everyone placed, seats respected: PuLP with CBC over all pairs."""
    import pulp

    started = time.perf_counter()
    lp = pulp.LpProblem("nearest", pulp.LpMinimize)
    x = {
        (i, s): pulp.LpVariable(f"x_{i}_{s}", lowBound=0, upBound=1)
        for i in range(problem.n)
        for s in range(problem.m)
    }
    cost = problem.cost
    lp += pulp.lpSum(int(cost[i, s]) * v for (i, s), v in x.items())
    for i in range(problem.n):
        lp += pulp.lpSum(x[i, s] for s in range(problem.m)) == 1
    capacity = problem.capacity.tolist()
    for s in range(problem.m):
        lp += pulp.lpSum(x[i, s] for i in range(problem.n)) <= capacity[s]
    lp.solve(pulp.PULP_CBC_CMD(msg=False))
    seconds = time.perf_counter() - started
    if pulp.LpStatus[lp.status] != "Optimal":
        raise RuntimeError(f"the LP ended {pulp.LpStatus[lp.status]}, not optimal")
    value = round(pulp.value(lp.objective))
    ours_started = time.perf_counter()
    ours = solve_nearest(problem, explain=False).assignment
    ours_seconds = time.perf_counter() - ours_started
    placed = ours >= 0
    our_total = int(cost[np.flatnonzero(placed), ours[placed]].sum())
    return {
        "seconds": seconds,
        "ours_seconds": ours_seconds,
        "same": value == our_total,
        "total": value,
    }


def reference_child(kind: str, size: int, applicants: int, cache: Path) -> None:
    """Entry point of the separate process that runs one reference solve and prints JSON."""
    problem = hcmc_problem(applicants, cache=cache).problem
    sub = sample(problem, size, seed=size, single_tier=kind == "lp")
    found: list[dict[str, Any]] = []
    # matching deep-copies its players recursively: give it the stack that needs.
    sys.setrecursionlimit(10_000_000)
    threading.stack_size(1 << 30)
    work = reference_matching if kind == "matching" else reference_lp
    worker = threading.Thread(target=lambda: found.append(work(sub)))
    worker.start()
    worker.join()
    print(json.dumps(found[0]))


def largest_within(
    kind: str, applicants: int, cache: Path, limit: float, start: int
) -> tuple[int, dict[str, Any]] | None:
    """Doubling sizes until one takes longer than `limit` seconds; the last one that finished."""
    best: tuple[int, dict[str, Any]] | None = None
    size = start
    while size <= applicants:
        command = [sys.executable, __file__, "--reference", kind, "--size", str(size)]
        command += ["--applicants", str(applicants), "--cache", str(cache)]
        child = subprocess.Popen(command, stdout=subprocess.PIPE, start_new_session=True)
        try:
            output, _ = child.communicate(timeout=limit + 30)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)
            child.wait()
            print(f"  {kind}: {size:,} did not finish", file=sys.stderr, flush=True)
            break
        if child.returncode != 0:
            print(f"  {kind}: {size:,} failed", file=sys.stderr, flush=True)
            break
        found = json.loads(output)
        print(f"  {kind}: {size:,} in {found['seconds']:.1f} s", file=sys.stderr, flush=True)
        if found["seconds"] > limit:
            break
        best = (size, found)
        size *= 2
    return best


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--applicants", type=int, default=125_000)
    parser.add_argument("--cache", type=Path, default=Path(tempfile.gettempdir()) / "schoolmap")
    parser.add_argument("--reference-limit", type=float, default=60.0)
    parser.add_argument("--reference", choices=["matching", "lp"], help=argparse.SUPPRESS)
    parser.add_argument("--size", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--skip-reference", action="store_true")
    args = parser.parse_args(argv)
    if args.reference:
        reference_child(args.reference, args.size, args.applicants, args.cache)
        return
    started = time.perf_counter()
    instance = hcmc_problem(args.applicants, cache=args.cache)
    problem = instance.problem
    build = time.perf_counter() - started
    _, rank = tier_ranks(problem)
    groups = group_applicants(problem.cost, rank, problem.lottery())
    print(
        f"instance: {problem.n:,} applicants, {problem.m} primary schools, "
        f"{int(problem.capacity.sum()):,} seats ({problem.m} schools, classes of 35), "
        f"{len(np.unique(instance.home_node)):,} distinct homes, {groups.count:,} groups "
        f"(home and tier), tier 0: {int((problem.tier == 0).sum()):,}; built/loaded in "
        f"{build:.1f} s",
        file=sys.stderr,
    )
    siblings = with_siblings(instance)
    rows = []
    for mechanism in MECHANISMS:
        subject = siblings if mechanism == "constrained" else problem
        print(f"running {mechanism} ...", file=sys.stderr, flush=True)
        rows.append(in_child(subject, mechanism))
        print(f"  {rows[-1]['solve_s']:.1f} s", file=sys.stderr, flush=True)
    nearest_on_siblings = in_child(siblings, "nearest")
    references = []
    if not args.skip_reference:
        for kind, start in (("matching", 1_000), ("lp", 1_000)):
            found = largest_within(kind, args.applicants, args.cache, args.reference_limit, start)
            references.append((kind, found))
    print_table(problem, rows, nearest_on_siblings, references)


def print_table(
    problem: Problem,
    rows: list[dict[str, Any]],
    nearest_on_siblings: dict[str, Any],
    references: list[tuple[str, tuple[int, dict[str, Any]] | None]],
) -> None:
    header = (
        f"{'mechanism':<12}{'status':<10}{'assign s':>9}{'solve() s':>10}{'chk+met s':>10}"
        f"{'peak MB':>9}{'total km':>11}{'mean m':>8}{'p90 m':>7}{'max m':>7}{'nearest':>8}"
        f"{'unplaced':>9}{'>4 km':>7}{'over':>6}{'envy':>13}"
    )
    print(f"\nHCMC grade 1: {problem.n:,} applicants x {problem.m} schools (road metres)")
    print(header)
    print("-" * len(header))
    for row in rows:
        m = row["metrics"]
        assign = f"{row['assign_s']:.2f}" if "assign_s" in row else "-"
        print(
            f"{row['mechanism']:<12}{row['status']:<10}{assign:>9}{row['solve_s']:>10.2f}"
            f"{row['checks_metrics_s']:>10.2f}{row['peak_mb']:>9.0f}"
            f"{m['total_cost'] / 1000:>11,.1f}{m['mean_cost']:>8.0f}{m['p90_cost']:>7}"
            f"{m['max_cost']:>7}{m['share_at_nearest']:>8.1%}{m['unassigned']:>9,}"
            f"{m['beyond_norm']:>7,}{m['classes_over_size']:>6}{m['justified_envy']:>13,}"
        )
    constrained = next(r for r in rows if r["mechanism"] == "constrained")
    bound = nearest_on_siblings["metrics"]["total_cost"]
    gap = constrained["metrics"]["total_cost"] / bound - 1
    print(
        f"\nconstrained (siblings kept together, {constrained['metrics']['siblings_split']} "
        f"split) vs nearest on the same problem (a lower bound): +{gap:.3%} total distance"
    )
    for row in rows:
        print(f"checks {row['mechanism']}: {json.dumps(row['checks'], ensure_ascii=False)}")
    for row in rows:
        print(
            f"hashes {row['mechanism']}: output {row['output_hash'][:16]}, "
            f"explanations {row['explanations_hash'][:16]}"
        )
    for kind, found in references:
        label = "matching.HospitalResident" if kind == "matching" else "PuLP + CBC LP"
        ours = "our da" if kind == "matching" else "our nearest"
        if found is None:
            print(f"{label}: no size finished within the limit")
            continue
        size, result = found
        print(
            f"{label}: largest size within the limit {size:,} applicants: "
            f"{result['seconds']:.1f} s; {ours} {result['ours_seconds']:.2f} s on the same "
            f"sample ({result['seconds'] / result['ours_seconds']:.0f}x); "
            f"same result: {result['same']}"
        )


if __name__ == "__main__":
    main()
