"""Children's identity codes are kept only as keyed hashes (HMAC-SHA256)."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from collections.abc import Callable
from contextlib import suppress
from pathlib import Path

from gis_service.config import Settings
from gis_service.errors import InvalidRequestError

PERSONAL_ID_DIGITS = 12
"""A personal identification number (mã định danh cá nhân, VNeID) has 12 digits."""


def personal_id(text: str, whose_vi: str = "của con", whose_en: str = "the child's") -> str:
    """A personal identification number as a parent types it (spaces allowed), checked: 12
    digits, or InvalidRequestError saying what to type."""
    code = "".join(text.split())
    if len(code) != PERSONAL_ID_DIGITS or not code.isascii() or not code.isdigit():
        raise InvalidRequestError(
            f"Mã định danh cá nhân {whose_vi} gồm {PERSONAL_ID_DIGITS} chữ số (xem trên giấy "
            f"khai sinh hoặc ứng dụng VNeID); đã nhập {len(code)} ký tự / {whose_en} personal "
            f"identification number has {PERSONAL_ID_DIGITS} digits (on the birth certificate "
            f"or in the VNeID app); {len(code)} characters were given"
        )
    return code


def installation_key(settings: Settings) -> bytes:
    """SCHOOLMAP_SECRET_KEY, else a random key kept (mode 0600) in SCHOOLMAP_HOME/secret.key."""
    if settings.security.secret_key:
        return settings.security.secret_key.encode()
    path = Path(settings.database.home) / "secret.key"
    if not path.is_file():
        _create_key_file(path)
    return path.read_text().strip().encode()


def _create_key_file(path: Path) -> None:
    """Write a new random key to `path` unless another process or thread gets there first.

    Several workers meet a new home at once: the key is written whole to a file of this
    writer's own, then linked into place, which fails if a key is there already, so nobody
    ever reads a half-written key or overwrites one already in use.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(6)}")
    descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_hex(32))
            handle.flush()
            os.fsync(handle.fileno())
        with suppress(FileExistsError):
            os.link(draft, path)
    finally:
        draft.unlink()


def child_id_hash(child_id: str, key: bytes) -> str:
    """The stored form of a child's identity code; the same code always gives the same hash."""
    return child_id_hasher(key)(child_id)


def child_id_hasher(key: bytes) -> Callable[[str], str]:
    """`child_id_hash` with the key set up once, for files of many children."""
    keyed = hmac.new(key, digestmod=hashlib.sha256)

    def hashed(child_id: str) -> str:
        one = keyed.copy()
        one.update("".join(child_id.split()).upper().encode())
        return one.hexdigest()

    return hashed
