"""A PostgreSQL streaming replica answering public reads, and when to stop asking it.

With SCHOOLMAP_READ_DATABASE_URL set, public read-only answers (schools, wards, tiles, zones,
address search and reach areas, public planning figures, open data, OGC collections) are read
from a hot standby, through a second pool and a second public-data-version reader. Everything
else stays on the primary: writes, a parent's own applications (so a new application is seen
at once), sign-in, sessions and throttling, and all officers' and planners' work.

Guarantees:

- Public answers may lag the primary by the replica's replay lag; a parent's own data, and
  anything read by a signed-in officer or planner, never does.
- A kept public answer is never kept under a newer public data version than the data it was
  made from. A request reads the version first and the data after, from the same server, or
  the version from the replica and the data from the primary (which is never behind it); it
  never reads the version from the primary and the data from the replica. A replica replays
  in commit order and never goes back, so data read after the version is at least as new.
  The same answer may therefore be made again when reads move between the servers, never
  served stale under a version it does not hold.
- If the replica cannot be reached (it refuses, times out connecting, or drops a connection),
  the request is answered from the primary, not with an error, and public reads stay on the
  primary for `retry_after_s` before the replica is tried again. Connecting gives up after
  `connect_timeout_s`, so a dead replica holds no request for long.
"""

from __future__ import annotations

import asyncio
import logging
import time
from threading import Lock

from gis_service.config import DatabaseSettings
from gis_service.db.connection import ConnectionPool, mask_password
from gis_service.db.version_reader import VersionReader

logger = logging.getLogger(__name__)

REPLICA_APPLICATION = "schoolmap-read"
"""The application_name of the replica's connections (pg_stat_activity on the standby)."""


class ReadReplica:
    """The replica's pool, version reader and gate, and whether it is worth asking now."""

    def __init__(
        self,
        url: str,
        max_connections: int = 10,
        *,
        retry_after_s: float = 5.0,
        connect_timeout_s: int = 2,
    ) -> None:
        self.url = url
        self.retry_after_s = retry_after_s
        self.pool = ConnectionPool(
            url,
            max_connections,
            application_name=REPLICA_APPLICATION,
            connect_timeout_s=connect_timeout_s,
        )
        self.version_reader = VersionReader(
            url, timeout_s=float(connect_timeout_s), application_name=REPLICA_APPLICATION
        )
        # Requests wait here for one of the replica's connections, on the event loop, as
        # they do for the primary's (see gis_service.api.deps.connection_gate).
        self.gate = asyncio.Semaphore(max(1, max_connections))
        self._lock = Lock()
        self._away_until = 0.0
        self.failures = 0  # times the replica was found away, for tests and curiosity

    def answering(self) -> bool:
        """Whether reads may go to the replica: it has not failed within `retry_after_s`."""
        return time.monotonic() >= self._away_until

    def went_away(self, error: BaseException) -> None:
        """Note that the replica failed to answer: reads go to the primary for a while."""
        with self._lock:
            first = self.answering()
            self._away_until = time.monotonic() + self.retry_after_s
            self.failures += 1
        if first:
            logger.warning(
                "read replica %s is not answering (%s); public reads go to the primary and "
                "the replica is tried again in %.0f s",
                mask_password(self.url),
                error,
                self.retry_after_s,
            )

    def close(self) -> None:
        """Close the replica's connections."""
        self.version_reader.close()
        self.pool.close()


def open_read_replica(settings: DatabaseSettings) -> ReadReplica | None:
    """The replica at SCHOOLMAP_READ_DATABASE_URL (connected to lazily), or None if unset."""
    if not settings.read_url:
        return None
    return ReadReplica(
        settings.read_url,
        settings.pool_max,
        retry_after_s=settings.read_retry_s,
        connect_timeout_s=settings.read_connect_timeout_s,
    )
