"""Domain exceptions; the API maps each to an HTTP status in one table (api/errors.py)."""

from __future__ import annotations


class SchoolmapError(Exception):
    """Base of every error the service reports to a person."""


class ConfigurationError(SchoolmapError):
    """A setting is missing or wrong."""


class DatabaseUnavailableError(SchoolmapError):
    """No PostgreSQL could be reached or started."""


class DatabaseSetupError(SchoolmapError):
    """PostgreSQL is reachable but cannot be prepared (PostGIS missing, no rights)."""


class ImportFileError(SchoolmapError):
    """An input file cannot be imported; the message names the file and the problem."""

    def __init__(self, path: object, problem: str) -> None:
        self.path = str(path)
        self.problem = problem
        super().__init__(f"{self.path}: {problem}")


class NotFoundError(SchoolmapError):
    """A requested object does not exist."""


class InvalidRequestError(SchoolmapError):
    """A request's parameters are malformed or contradictory."""


class NetworkNotBuiltError(SchoolmapError):
    """No road network of a travel mode has been built yet."""


class OutsideNetworkError(InvalidRequestError):
    """A point is too far from every road of the network to be routed."""


class NotAuthenticatedError(SchoolmapError):
    """No valid sign-in: no token, an unknown, expired or revoked one, or a wrong password."""


class PermissionDeniedError(SchoolmapError):
    """The signed-in user's role or area does not allow the request, or the account is off."""


class ConflictError(SchoolmapError):
    """The request contradicts what is stored (a name taken, a key reused, a wrong state)."""


class FieldsFileError(SchoolmapError):
    """A distance-fields file is damaged or in a layout this version does not read."""


class ClusterError(SchoolmapError):
    """Batch work on the configured compute cluster could not be finished."""


class ClusterUnavailableError(ClusterError):
    """The configured compute cluster (its scheduler, or any worker) cannot be reached."""


class ServiceBusyError(SchoolmapError):
    """Every database connection of the service is in use for longer than a request may wait."""


class PayloadTooLargeError(SchoolmapError):
    """A request body is larger than the service accepts."""


class TooManyAttemptsError(SchoolmapError):
    """Too many failed attempts in a while; `retry_after_s` says when to try again."""

    def __init__(self, message: str, retry_after_s: int) -> None:
        super().__init__(message)
        self.retry_after_s = retry_after_s
