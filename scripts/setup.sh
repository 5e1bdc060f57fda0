#!/usr/bin/env bash
# Installs what schoolmap needs on a Debian machine: PostGIS (and pgRouting) for the local
# PostgreSQL, and a Python virtual environment (.venv) with the package and its tools.
# Safe to run again.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

apt_updated=""
apt_install() {
    if [ -z "$apt_updated" ]; then
        as_root apt-get update -qq
        apt_updated=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

install_postgis() {
    local majors major missing=()
    majors=$(ls /usr/lib/postgresql 2>/dev/null | sort -n || true)
    if [ -z "$majors" ]; then
        say "installing PostgreSQL with PostGIS"
        apt_install postgresql postgresql-15-postgis-3
        return
    fi
    for major in $majors; do
        if [ ! -f "/usr/share/postgresql/$major/extension/postgis.control" ]; then
            missing+=("postgresql-$major-postgis-3")
        fi
        # pgRouting is the reference the routing benchmark compares against.
        if [ ! -f "/usr/share/postgresql/$major/extension/pgrouting.control" ]; then
            missing+=("postgresql-$major-pgrouting")
        fi
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "installing ${missing[*]}"
        apt_install "${missing[@]}"
    fi
}

python_interpreter() {
    local candidate
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null; then
            echo "$candidate"
            return
        fi
    done
    echo "schoolmap needs Python 3.11 or newer" >&2
    exit 1
}

install_python_packages() {
    local stamp=.venv/.installed
    if [ ! -x .venv/bin/python ]; then
        say "creating .venv"
        "$(python_interpreter)" -m venv .venv
    fi
    if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ] || [ setup.py -nt "$stamp" ]; then
        say "installing Python packages into .venv"
        .venv/bin/python -m pip install --quiet --upgrade pip
        .venv/bin/python -m pip install --quiet -e '.[dev]'
        touch "$stamp"
    fi
}

# The browser tests drive Debian's own Chromium; no browser is ever downloaded.
install_chromium() {
    if [ ! -x /usr/bin/chromium ]; then
        say "installing chromium (for the browser tests)"
        apt_install chromium
    fi
}

install_postgis
install_chromium
install_python_packages
