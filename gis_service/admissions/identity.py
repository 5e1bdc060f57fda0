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
from gis_service.db.connection import Connection
from gis_service.errors import ConfigurationError, InvalidRequestError

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


KEY_CHECK_TEXT = b"schoolmap: the key children's identity codes are hashed with"

OTHER_KEY = (
    "Máy này mã hoá mã định danh của trẻ bằng một khoá khác với khoá cơ sở dữ liệu đã dùng; "
    "hãy đặt cùng một SCHOOLMAP_SECRET_KEY cho mọi máy / this process hashes children's "
    "identity codes with another key than the one this database's codes were hashed with "
    "(SCHOOLMAP_SECRET_KEY, else a key file made in this machine's SCHOOLMAP_HOME); set "
    "SCHOOLMAP_SECRET_KEY to the same value on every machine and process serving the database"
)


def key_check_value(key: bytes) -> str:
    """A value telling keys apart that does not give the key away: HMAC-SHA256 of a fixed
    text under the key."""
    return hmac.new(key, KEY_CHECK_TEXT, hashlib.sha256).hexdigest()


def key_of_database(conn: Connection, key: bytes) -> tuple[bytes, bool]:
    """`key` once the database agrees children's codes are hashed with it, and whether that
    agreement is settled (a check value committed before), or else ConfigurationError.

    Several machines behind a load balancer, or a command run from another home, must all hash
    with one key, or one child would count as two: a second application would not be refused
    and an officer could not find a parent's child. The first key to hash for a database
    leaves its check value, in the caller's transaction; while that is not committed, the
    answer is not settled and the next caller checks again.
    """
    check = key_check_value(key)
    with conn.cursor() as cur:
        cur.execute(
            "INSERT INTO identity_key_check (check_value) VALUES (%s) "
            "ON CONFLICT (only_row) DO NOTHING RETURNING check_value",
            (check,),
        )
        recorded_now = cur.fetchone() is not None
        cur.execute("SELECT check_value FROM identity_key_check")
        row = cur.fetchone()
    if row is None or row[0] != check:
        raise ConfigurationError(OTHER_KEY)
    return key, not recorded_now


def database_key(conn: Connection, settings: Settings) -> bytes:
    """`installation_key`, checked against the database (`key_of_database`)."""
    return key_of_database(conn, installation_key(settings))[0]


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
