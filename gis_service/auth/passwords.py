"""Password hashing with argon2id, and the rules a new password must meet."""

from __future__ import annotations

from functools import cache

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from gis_service.errors import InvalidRequestError

MIN_LENGTH = 10
MAX_LENGTH = 256

_hasher = PasswordHasher()


def check_new_password(password: str) -> None:
    """Refuse a password too short or too long to be a good one, saying what to change."""
    if len(password) < MIN_LENGTH:
        raise InvalidRequestError(
            f"Mật khẩu cần ít nhất {MIN_LENGTH} ký tự / "
            f"the password needs at least {MIN_LENGTH} characters"
        )
    if len(password) > MAX_LENGTH:
        raise InvalidRequestError(
            f"Mật khẩu dài quá {MAX_LENGTH} ký tự / "
            f"the password is longer than {MAX_LENGTH} characters"
        )


def hash_password(password: str) -> str:
    """The stored form of a password (argon2id, with its own salt and parameters)."""
    return _hasher.hash(password)


def verify_password(stored_hash: str, password: str) -> bool:
    """Whether the password matches the stored hash; a malformed hash never matches."""
    try:
        return _hasher.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    """Whether the hash was made with weaker parameters than today's."""
    return _hasher.check_needs_rehash(stored_hash)


@cache
def dummy_hash() -> str:
    """A hash checked when the username is unknown, so both failures take the same time."""
    return hash_password("schoolmap-no-such-user")
