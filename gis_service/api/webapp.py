"""The browser app's files (scripts, styles, the vendored map library) under /web/."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

from gis_service.errors import NotFoundError
from gis_service.web_files import WEB_DIR

router = APIRouter(include_in_schema=False)

_SERVED_SUFFIXES = frozenset({".js", ".css", ".html", ".svg", ".png", ".json", ".txt", ".map"})
mimetypes.add_type("text/javascript", ".js")


def web_file(relative: str) -> Path:
    """The file under web/ a request names; never one outside it, hidden or not servable."""
    path = (WEB_DIR / relative).resolve()
    parts = Path(relative).parts
    if (
        not path.is_relative_to(WEB_DIR)
        or not path.is_file()
        or path.suffix not in _SERVED_SUFFIXES
        or any(p.startswith(".") or p == "node_modules" for p in parts)
    ):
        raise NotFoundError(f"no file web/{relative}")
    return path


@router.get("/web/{relative:path}")
def serve_web_file(relative: str) -> FileResponse:
    # Vendored libraries never change under one name; the app's own files may.
    cache = "public, max-age=86400" if relative.startswith("vendor/") else "no-cache"
    return FileResponse(web_file(relative), headers={"Cache-Control": cache})
