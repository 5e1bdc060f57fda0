"""Progress lines with an estimate of the time left, for import steps whose share done is known."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from gis_service.importers.report import ProgressCallback


def format_seconds(seconds: float) -> str:
    """12.3 -> '12 s', 75 -> '1 min 15 s'."""
    whole = max(0, round(seconds))
    if whole < 60:
        return f"{whole} s"
    return f"{whole // 60} min {whole % 60} s"


class EtaTicker:
    """Reports a running count and, once the share done is known, the time left.

    `share` returns the fraction of the step done (0..1), or None when it cannot tell.
    """

    def __init__(
        self,
        progress: ProgressCallback,
        label: str,
        share: Callable[[], float | None],
        every: float = 1.0,
    ) -> None:
        self.progress = progress
        self.label = label
        self.share = share
        self.every = every
        self.n = 0
        self._started = time.perf_counter()
        self._last = self._started

    def tick(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self.progress(self._line(now))

    def _line(self, now: float) -> str:
        line = f"{self.label}: {self.n:,}"
        done = self.share()
        # Below a twentieth done, the pace so far says little about the rest.
        if done is not None and 0.05 <= done < 1.0:
            left = (now - self._started) * (1.0 - done) / done
            eta = format_seconds(left)
            line += f" ({done:.0%}, còn khoảng {eta} / about {eta} left)"
        return line

    def done(self) -> None:
        seconds = time.perf_counter() - self._started
        self.progress(f"{self.label}: {self.n:,} (xong / done, {seconds:.1f} s)")


def file_read_share(path: Path) -> Callable[[], float | None]:
    """How far this process has read into `path`, from the kernel's file positions.

    Works where /proc/self/fdinfo exists (Linux); elsewhere the share is unknown (None).
    """
    target = path.resolve()
    size = target.stat().st_size
    fd_dir = Path("/proc/self/fd")

    def share() -> float | None:
        if size <= 0 or not fd_dir.is_dir():
            return None
        best: int | None = None
        try:
            names = os.listdir(fd_dir)
        except OSError:
            return None
        for name in names:
            try:
                if Path(os.readlink(fd_dir / name)) != target:
                    continue
                info = (Path("/proc/self/fdinfo") / name).read_text()
            except OSError:
                continue
            for line in info.splitlines():
                if line.startswith("pos:"):
                    pos = int(line.split()[1])
                    best = pos if best is None else max(best, pos)
        return None if best is None else min(best / size, 1.0)

    return share


class StepProgress:
    """One line per finished step of a sequence, with the time left estimated from each step's
    expected share of the work (`weights`, any unit) and the pace so far."""

    def __init__(self, progress: ProgressCallback, label: str, weights: dict[str, float]) -> None:
        self.progress = progress
        self.label = label
        self.weights = weights
        self.total = sum(weights.values())
        self.done_weight = 0.0
        self.done_steps = 0
        self._started = time.perf_counter()

    def finished(self, step: str) -> None:
        """Report that `step` (a key of the weights) is done."""
        self.done_weight += self.weights[step]
        self.done_steps += 1
        elapsed = time.perf_counter() - self._started
        line = f"{self.label}: {step} ({self.done_steps}/{len(self.weights)}, {elapsed:.1f} s"
        left_weight = self.total - self.done_weight
        if left_weight > 0 and self.done_weight > 0:
            eta = format_seconds(elapsed * left_weight / self.done_weight)
            line += f", còn khoảng {eta} / about {eta} left"
        self.progress(line + ")")
