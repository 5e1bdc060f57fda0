"""schoolmap as a user installs it: the wheel built from this checkout, installed into a new
virtual environment and run from another folder, serves the demo city and the browser app.

The wheel is installed without its dependencies (from PyPI they would take minutes); the new
environment sees the ones already installed through a .pth line naming this interpreter's
site-packages. A path line adds that folder to sys.path without running the .pth files in it,
so the editable install of the project there stays inert; the environment is checked to
import the installed copy, not the source tree, before any test uses it.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import urllib.request
import venv
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from gis_service import __version__
from tests.browser_support import drop_database, free_port, wait_for_health
from tests.conftest import ROOT, server_url

# What a wheel is built from: the packaging files and the packages' folders, as git sees them
# (tracked or new, not ignored), so nothing left over in build/ or the source tree slips in.
BUILT_FROM = ["pyproject.toml", "setup.py", "README.md", "gis_service", "allocation", "data", "web"]
# web/ files a developer keeps that the app does not serve.
NOT_SHIPPED = {"web/package.json"}
GLYPH_RANGE = "glyphs/DejaVu Sans Book/0-255.pbf"
DEMO_START_S = 150


def git_files(*paths: str) -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", *paths],
        cwd=ROOT,
        capture_output=True,
        check=True,
    )
    names = [name.decode() for name in listed.stdout.split(b"\0") if name]
    return sorted(name for name in names if (ROOT / name).is_file())


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel of a clean copy of this checkout, built as pip builds one (isolated)."""
    source = tmp_path_factory.mktemp("source")
    for name in git_files(*BUILT_FROM):
        (source / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(ROOT / name, source / name)
    # What `npm run vendor` leaves behind must not ship.
    stray = source / "web" / "node_modules" / "maplibre-gl" / "dist" / "maplibre-gl.js"
    stray.parent.mkdir(parents=True)
    stray.write_text("// npm's copy\n")
    out = tmp_path_factory.mktemp("dist")
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(out), "."],
        cwd=source,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (found,) = out.glob("schoolmap-*.whl")
    return found


def test_the_wheel_carries_the_web_app_the_migrations_and_the_demo_city(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    web = {name for name in git_files("web") if name not in NOT_SHIPPED}
    assert {"web/index.html", "web/app.js", "web/planner.html", f"web/{GLYPH_RANGE}"} <= web
    assert "web/vendor/maplibre-gl/maplibre-gl.js" in web
    missing = sorted(name for name in web if f"gis_service/{name}" not in names)
    assert missing == [], "web files not in the wheel"
    shipped_web = {name for name in names if name.startswith("gis_service/web/")}
    assert shipped_web == {f"gis_service/{name}" for name in web}, "files in the wheel's web/"
    wanted = git_files("gis_service/db/migrations", "data", "gis_service/db/sql")
    assert [n for n in wanted if n.endswith((".sql", ".py")) and n not in names] == []
    assert "data/democity.py" in names and "gis_service/web_files.py" in names


def scratch_env() -> dict[str, str]:
    """The environment of a user's shell: nothing pointing Python at this checkout."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}
    env["PYTHONNOUSERSITE"] = "1"
    env.pop("VIRTUAL_ENV", None)
    return env


def run(command: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=cwd, capture_output=True, text=True, env=scratch_env(), check=False, **kwargs
    )


PROBE = """import json, sys, sysconfig, gis_service, gis_service.web_files as w
print(json.dumps({"file": gis_service.__file__, "web": str(w.WEB_DIR),
    "site": sysconfig.get_paths()["purelib"], "finders": [repr(f) for f in sys.meta_path],
    "modules": list(sys.modules)}))"""


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A new virtual environment holding the wheel, whose Python imports the installed copy and
    not the source tree; its bin folder."""
    prefix = tmp_path_factory.mktemp("venv")
    venv.create(prefix, with_pip=False, symlinks=True)
    python = prefix / "bin" / "python"
    pip = [sys.executable, "-m", "pip", "--python", str(python), "--disable-pip-version-check"]
    install = subprocess.run(
        [*pip, "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True,
        text=True,
        timeout=300,
        env=scratch_env(),
        check=False,
    )
    assert install.returncode == 0, install.stdout + install.stderr
    purelib = run(
        [str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], prefix
    ).stdout.strip()
    assert Path(purelib).is_relative_to(prefix)
    # The dependencies already installed here, as a plain path (its .pth files are not run).
    lines = [path for path in site.getsitepackages() if Path(path).is_dir()]
    (Path(purelib) / "schoolmap_test_dependencies.pth").write_text("\n".join(lines) + "\n")

    probe = run([str(python), "-c", PROBE], tmp_path_factory.mktemp("elsewhere"), timeout=60)
    assert probe.returncode == 0, probe.stderr
    found = json.loads(probe.stdout)
    assert found["site"] == purelib
    assert Path(found["file"]) == Path(purelib) / "gis_service" / "__init__.py"
    assert Path(found["web"]) == Path(purelib) / "gis_service" / "web"
    # The editable install beside the dependencies would put the source tree first.
    assert not any("editable" in f for f in found["finders"] + found["modules"]), found["finders"]
    return prefix / "bin"


def test_the_installed_commands_run_from_another_folder(installed: Path, tmp_path: Path) -> None:
    module = [str(installed / "python"), "-m", "gis_service"]
    for command in ([str(installed / "schoolmap")], module):
        version = run([*command, "--version"], tmp_path, timeout=60)
        assert version.returncode == 0, version.stderr
        assert version.stdout.strip() == f"schoolmap {__version__}"


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=30) as response:
        assert response.status == 200, url
        return bytes(response.read())


@pytest.fixture
def demo(installed: Path, tmp_path: Path) -> Iterator[str]:
    """The installed `schoolmap demo`, run from a folder of its own into a new database."""
    url = server_url("schoolmap_test_wheel" + os.environ.get("SCHOOLMAP_TEST_DB_SUFFIX", ""))
    drop_database(url)
    work = tmp_path / "elsewhere"
    work.mkdir()
    env = {**scratch_env(), "DATABASE_URL": url, "SCHOOLMAP_HOME": str(tmp_path / "home")}
    port = free_port()
    log = tmp_path / "demo.log"
    with log.open("w") as out:
        process = subprocess.Popen(
            [str(installed / "schoolmap"), "demo", "--port", str(port)],
            cwd=work,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    base = f"http://127.0.0.1:{port}"
    try:
        wait_for_health(base, process, log, DEMO_START_S)
        yield base
    finally:
        process.terminate()
        process.wait(timeout=30)
        drop_database(url)


def test_the_installed_demo_serves_the_map_and_the_demo_city(demo: str) -> None:
    web = ROOT / "web"
    assert fetch(demo + "/") == (web / "index.html").read_bytes()
    assert fetch(demo + "/web/app.js") == (web / "app.js").read_bytes()
    maplibre = "vendor/maplibre-gl/maplibre-gl.js"
    assert fetch(f"{demo}/web/{maplibre}") == (web / maplibre).read_bytes()
    assert fetch(demo + "/planner") == (web / "planner.html").read_bytes()
    # A range not on disk is answered empty, so the file's own bytes show it was shipped.
    glyphs = fetch(demo + "/fonts/DejaVu%20Sans%20Book/0-255.pbf")
    assert glyphs == (web / GLYPH_RANGE).read_bytes()

    style = json.loads(fetch(demo + "/tiles/style.json"))
    assert style["glyphs"] == demo + "/fonts/{fontstack}/{range}.pbf"
    assert style["sources"] and style["layers"]
    health = json.loads(fetch(demo + "/health"))
    schools = json.loads(fetch(demo + "/schools"))
    assert health["schools"] > 50 and len(schools["features"]) == health["schools"]
    names = {f["properties"]["name"] for f in schools["features"]}
    assert "Trường Tiểu học Lê Văn Thọ" in names
