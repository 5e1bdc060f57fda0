"""Children's identity codes are kept only as keyed hashes (HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path

from gis_service.config import Settings


def installation_key(settings: Settings) -> bytes:
    """SCHOOLMAP_SECRET_KEY, else a random key kept (mode 0600) in SCHOOLMAP_HOME/secret.key."""
    if settings.security.secret_key:
        return settings.security.secret_key.encode()
    path = Path(settings.database.home) / "secret.key"
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
    return path.read_text().strip().encode()


def child_id_hash(child_id: str, key: bytes) -> str:
    """The stored form of a child's identity code; the same code always gives the same hash."""
    normalised = "".join(child_id.split()).upper()
    return hmac.new(key, normalised.encode(), hashlib.sha256).hexdigest()
