#!/usr/bin/env bash
# One entry point on a fresh Debian/Ubuntu machine (see docs/adr/0006-private-local-postgis.md):
#   ./dev.sh serve [args]   the API on http://127.0.0.1:8000, private PostGIS + Redis in ./.data
#   ./dev.sh test [args]    lint, types, import contracts and every test (args go to pytest)
#   ./dev.sh stop           stop the PostgreSQL and Redis that serve leaves running in ./.data
# Both install what is missing first (apt packages, .venv), so re-runs cost nothing extra.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")"

PACKAGES_NEEDED="PostgreSQL with PostGIS 3 (Debian: postgresql-N-postgis-3, postgresql-contrib), pgbackrest, pgbouncer, redis-server and python3-venv"
TEST_PACKAGES_NEEDED="chromium (headless, for the /docs page test)"

die() {
  echo "dev.sh: $*" >&2
  exit 1
}

have_system_packages() {
  compgen -G '/usr/lib/postgresql/*/bin/initdb' >/dev/null &&
    compgen -G '/usr/share/postgresql/*/extension/postgis.control' >/dev/null &&
    compgen -G '/usr/share/postgresql/*/extension/btree_gist.control' >/dev/null &&
    command -v redis-server >/dev/null &&
    command -v pgbackrest >/dev/null &&
    command -v pgbouncer >/dev/null &&
    { [[ -x .venv/bin/python ]] || python3 -c 'import ensurepip, venv' 2>/dev/null; }
}

install_system_packages() {
  local as_root=()
  if [[ $EUID -ne 0 ]]; then
    command -v sudo >/dev/null || die "please install $PACKAGES_NEEDED (needs root; no sudo here)"
    as_root=(sudo)
  fi
  command -v apt-get >/dev/null || die "please install $PACKAGES_NEEDED (no apt-get here)"
  echo "dev.sh: installing $PACKAGES_NEEDED with apt-get..." >&2
  "${as_root[@]}" apt-get update -qq
  local postgis
  postgis=$(apt-cache search --names-only '^postgresql-[0-9]+-postgis-3$' | cut -d' ' -f1 | sort -V | tail -n1)
  [[ -n $postgis ]] || die "no postgresql-N-postgis-3 package in the apt sources; please install $PACKAGES_NEEDED"
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    "$postgis" postgresql-contrib pgbackrest pgbouncer redis-server python3-venv >/dev/null
}

ensure_test_packages() {
  command -v chromium >/dev/null && return
  local as_root=()
  [[ $EUID -eq 0 ]] || as_root=(sudo)
  echo "dev.sh: installing $TEST_PACKAGES_NEEDED with apt-get..." >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
}

ensure_venv() {
  if [[ ! -x .venv/bin/python ]]; then
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' ||
      die "python3 is $(python3 -V 2>&1); Reserva needs Python >= 3.11 as python3"
    python3 -m venv .venv
  fi
  # -nt is also true when the stamp does not exist yet.
  if [[ pyproject.toml -nt .venv/.installed-stamp ]]; then
    echo "dev.sh: installing Python dependencies into .venv..." >&2
    .venv/bin/pip install -q --disable-pip-version-check -e '.[dev]'
    touch .venv/.installed-stamp
  fi
}

ensure_prerequisites() {
  if ! have_system_packages; then
    install_system_packages
  fi
  ensure_venv
}

command=${1:-}
shift || true
case $command in
  serve)
    ensure_prerequisites
    exec .venv/bin/reserva serve "$@"
    ;;
  test)
    ensure_prerequisites
    ensure_test_packages
    exec .venv/bin/nox -s tests -- "$@"
    ;;
  stop)
    # Nothing to install for stopping: without a .venv, serve never ran here.
    [[ -x .venv/bin/reserva ]] || { echo "dev.sh: nothing to stop (no .venv: serve never ran here)"; exit 0; }
    exec .venv/bin/reserva dev stop "$@"
    ;;
  *) die "usage: ./dev.sh serve|test|stop [args]" ;;
esac
