"""What an import did (counts, notes, time) and progress lines for long steps."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

ProgressCallback = Callable[[str], None]


def print_progress(message: str) -> None:
    """Default progress sink: one line on standard error."""
    print(message, file=sys.stderr, flush=True)


def no_progress(message: str) -> None:
    """Progress sink that drops every line."""


@dataclass
class ImportReport:
    """Counts and notes of one import; `lines()` is what the command line prints."""

    what: str
    source: str
    counts: dict[str, int] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    started: float = field(default_factory=time.perf_counter)
    seconds: float = 0.0

    def count(self, key: str, n: int = 1) -> None:
        self.counts[key] = self.counts.get(key, 0) + n

    def finish(self) -> ImportReport:
        self.seconds = time.perf_counter() - self.started
        return self

    def lines(self) -> list[str]:
        out = [f"{self.what} from {self.source} in {self.seconds:.1f} s"]
        out += [f"  {key}: {value:,}" for key, value in self.counts.items()]
        out += [f"  note: {note}" for note in self.notes]
        return out


class Ticker:
    """Reports a running count at most every `every` seconds, so long steps show progress."""

    def __init__(self, progress: ProgressCallback, label: str, every: float = 2.0) -> None:
        self.progress = progress
        self.label = label
        self.every = every
        self.n = 0
        self._last = time.perf_counter()

    def tick(self, n: int = 1) -> None:
        self.n += n
        now = time.perf_counter()
        if now - self._last >= self.every:
            self._last = now
            self.progress(f"{self.label}: {self.n:,}")

    def done(self) -> None:
        self.progress(f"{self.label}: {self.n:,} (done)")
