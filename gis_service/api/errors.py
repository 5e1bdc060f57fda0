"""The one table mapping domain exceptions to HTTP status codes."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from gis_service.errors import (
    ClusterError,
    ClusterUnavailableError,
    ConfigurationError,
    ConflictError,
    DatabaseSetupError,
    DatabaseUnavailableError,
    FieldsFileError,
    ImportFileError,
    InvalidRequestError,
    NetworkNotBuiltError,
    NotAuthenticatedError,
    NotFoundError,
    OutsideNetworkError,
    PayloadTooLargeError,
    PermissionDeniedError,
    SchoolmapError,
    ServiceBusyError,
    TooManyAttemptsError,
)

STATUS_BY_ERROR: dict[type[SchoolmapError], int] = {
    NotFoundError: 404,
    NotAuthenticatedError: 401,
    PermissionDeniedError: 403,
    ConflictError: 409,
    NetworkNotBuiltError: 409,
    OutsideNetworkError: 422,
    InvalidRequestError: 400,
    ImportFileError: 400,
    DatabaseUnavailableError: 503,
    DatabaseSetupError: 503,
    ServiceBusyError: 503,
    ClusterUnavailableError: 503,
    ClusterError: 500,
    FieldsFileError: 500,
    PayloadTooLargeError: 413,
    TooManyAttemptsError: 429,
    ConfigurationError: 500,
}


def status_for(error: SchoolmapError) -> int:
    """The status of the most specific mapped class of the error (500 if none)."""
    for cls in type(error).__mro__:
        if cls in STATUS_BY_ERROR:
            return STATUS_BY_ERROR[cls]
    return 500


def error_response(exc: SchoolmapError) -> JSONResponse:
    """A domain error's answer: its status and {"detail": message}."""
    status = status_for(exc)
    headers = {"Retry-After": "5"} if status == 503 else None
    if isinstance(exc, TooManyAttemptsError):
        headers = {"Retry-After": str(exc.retry_after_s)}
    return JSONResponse({"detail": str(exc)}, status_code=status, headers=headers)


def install_error_handlers(app: FastAPI) -> None:
    """Answer every domain error with its status and {"detail": message}."""

    async def handle(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, SchoolmapError)
        return error_response(exc)

    app.add_exception_handler(SchoolmapError, handle)
