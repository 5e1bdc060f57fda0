"""Where the browser app's files are: web/ as developers edit it, or its copy in an install.

The app is edited in web/ at the repository root. A wheel carries that folder inside the
package, as gis_service/web (setup.py maps the package gis_service.web onto web/, and
pyproject.toml lists its files as package data). In the source tree, and so in an editable
install, which imports the source tree, there is no gis_service/web and the folder beside the
package is the app. It is found from this file rather than by import, so a checkout run with
PYTHONPATH serves its own web/ even where another checkout is installed.
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent

WEB_DIR = _PACKAGE / "web" if (_PACKAGE / "web").is_dir() else _PACKAGE.parent / "web"
"""The browser app: index.html, planner.html, their scripts and styles, vendor/, glyphs/."""
