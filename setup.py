"""The one piece of packaging pyproject.toml cannot say: the browser app ships in the package.

The app is edited in web/ at the repository root; a wheel carries it as gis_service/web, the
package gis_service.web mapped onto web/ (its files are package data, in pyproject.toml).
Package discovery only finds packages where they lie, so that one is added here, with the
folders in it that Python could import (setuptools wants those listed too). The service finds
the app through gis_service.web_files, in the source tree or in an install.
"""

from setuptools import find_namespace_packages, setup

WEB_FOLDERS = [
    name
    for name in find_namespace_packages(where="web", exclude=["node_modules", "node_modules.*"])
    if all(part.isidentifier() for part in name.split("."))
]

setup(
    packages=[
        *find_namespace_packages(include=["gis_service*", "allocation*", "data*"]),
        "gis_service.web",
        *(f"gis_service.web.{name}" for name in WEB_FOLDERS),
    ],
    package_dir={"gis_service.web": "web"},
)
