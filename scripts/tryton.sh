#!/usr/bin/env bash
# A real Tryton 8.2 server for the Tryton integration tests (tests/it/tryton.rs), on loopback.
#
#   scripts/tryton.sh install            venv at .cache/tryton/venv with trytond 8.2 + sale/stock/product
#                                        + proteus (pip skipped when they are already there), and a
#                                        bootstrapped template database at .cache/tryton/template/
#   scripts/tryton.sh start WORKDIR PORT copy of the template database into WORKDIR, trytond on
#                                        127.0.0.1:PORT; writes WORKDIR/server.pid, WORKDIR/rest-key
#                                        (a REST application key of admin) and WORKDIR/ids.json
#   scripts/tryton.sh stop WORKDIR       stops the server started in WORKDIR
#
# Exit code 3, with a one-line reason on stderr, when Python 3, venv, pip or the package index is
# unavailable: the tests skip then. Any other failure is a real one (exit 1).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
CACHE="$ROOT/.cache/tryton"
VENV="$CACHE/venv"
TEMPLATE="$CACHE/template"
REQS=("trytond>=8.2,<8.3" "trytond-sale>=8.2,<8.3" "trytond-stock>=8.2,<8.3" "trytond-product>=8.2,<8.3" "proteus>=8.2,<8.3")
# Bumped when the bootstrap or the catalog it reads (the commerce simulator's SKUs become Tryton
# products) changes, so that a stale template is rebuilt.
TEMPLATE_VERSION="1-$(cat "$ROOT/scripts/tryton_bootstrap.py" "$ROOT/src/sim/commerce/catalog/products.csv" | cksum | cut -d' ' -f1)"

unavailable() { echo "$1" >&2; exit 3; }

have_modules() {
  [ -x "$VENV/bin/python" ] && "$VENV/bin/python" - "${REQS[@]}" <<'PY' 2>/dev/null
import sys
from importlib.metadata import version
from packaging.requirements import Requirement
for spec in sys.argv[1:]:
    req = Requirement(spec)
    if not req.specifier.contains(version(req.name), prereleases=True):
        sys.exit(1)
PY
}

install_venv() {
  if have_modules; then return 0; fi
  command -v python3 >/dev/null 2>&1 || unavailable "python3 is not installed"
  if [ ! -x "$VENV/bin/pip" ]; then
    rm -rf "$VENV"
    mkdir -p "$CACHE"
    python3 -m venv "$VENV" >/dev/null 2>&1 || { rm -rf "$VENV"; unavailable "python3 cannot create a virtual environment (python3-venv missing?)"; }
    [ -x "$VENV/bin/pip" ] || { rm -rf "$VENV"; unavailable "the virtual environment has no pip (python3-pip/ensurepip missing?)"; }
  fi
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check packaging "${REQS[@]}" > "$CACHE/pip.log" 2>&1; then
    unavailable "pip could not install trytond 8.2 from the package index (see $CACHE/pip.log)"
  fi
  have_modules || { echo "trytond 8.2 is not in $VENV after pip install" >&2; exit 1; }
}

write_conf() { # DIR PORT
  cat > "$1/trytond.conf" <<CONF
[database]
uri = sqlite://
path = $1/db
[web]
listen = 127.0.0.1:$2
CONF
}

build_template() {
  if [ -f "$TEMPLATE/version" ] && [ "$(cat "$TEMPLATE/version")" = "$TEMPLATE_VERSION" ] && [ -f "$TEMPLATE/db/erp.sqlite" ]; then
    return 0
  fi
  local tmp="$CACHE/template.tmp.$$"
  rm -rf "$tmp"; mkdir -p "$tmp/db"
  write_conf "$tmp" 0
  echo 'admin-pass-123' > "$tmp/passfile"
  touch "$tmp/db/erp.sqlite"
  (
    cd "$tmp"
    export TRYTONPASSFILE="$tmp/passfile"
    "$VENV/bin/trytond-admin" -c trytond.conf -d erp --all --email admin@example.com
    "$VENV/bin/trytond-admin" -c trytond.conf -d erp -u sale stock product --activate-dependencies
    TRYTOND_CONFIG="$tmp/trytond.conf" "$VENV/bin/python" "$ROOT/scripts/tryton_bootstrap.py" "$tmp"
  ) > "$tmp/admin.log" 2>&1 || { echo "creating the Tryton template database failed: see $tmp/admin.log" >&2; exit 1; }
  echo "$TEMPLATE_VERSION" > "$tmp/version"
  rm -rf "$TEMPLATE"; mv "$tmp" "$TEMPLATE"
}

port_open() { "$VENV/bin/python" -c 'import socket,sys; s=socket.create_connection(("127.0.0.1", int(sys.argv[1])), 0.5)' "$1" 2>/dev/null; }

start() { # WORKDIR PORT
  local w=${1:?usage: tryton.sh start WORKDIR PORT} port=${2:?usage: tryton.sh start WORKDIR PORT}
  mkdir -p "$w/db"; w=$(cd "$w" && pwd)
  cp "$TEMPLATE/db/erp.sqlite" "$w/db/erp.sqlite"
  cp "$TEMPLATE/rest-key" "$TEMPLATE/ids.json" "$w/"
  write_conf "$w" "$port"
  # TRYTOND_DATABASE_NAMES preloads the pool (without it the first login fails with KeyError 'res.user').
  (cd "$w" && TRYTOND_DATABASE_NAMES=erp exec "$VENV/bin/trytond" -c trytond.conf > server.log 2>&1) &
  echo $! > "$w/server.pid"
  # Ready when the port answers and the database answers a request (up to 60 s).
  local deadline=$((SECONDS + 60))
  until port_open "$port" && "$VENV/bin/python" - "$port" "$w/rest-key" <<'PY' 2>/dev/null
import sys, urllib.request
key = open(sys.argv[2]).read().strip()
req = urllib.request.Request(f"http://127.0.0.1:{sys.argv[1]}/erp/rest/model/res.user?s=1", headers={"Authorization": f"Bearer {key}"})
urllib.request.urlopen(req, timeout=2).read()
PY
  do
    if ! kill -0 "$(cat "$w/server.pid")" 2>/dev/null; then echo "trytond exited: see $w/server.log" >&2; exit 1; fi
    if [ $SECONDS -ge $deadline ]; then stop "$w"; echo "trytond did not answer on 127.0.0.1:$port within 60 s: see $w/server.log" >&2; exit 1; fi
    sleep 0.2
  done
}

stop() { # WORKDIR
  local w=${1:?usage: tryton.sh stop WORKDIR}
  [ -f "$w/server.pid" ] || return 0
  local pid; pid=$(cat "$w/server.pid")
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$w/server.pid"
}

# One install or template build at a time (tests may start servers side by side).
locked() {
  mkdir -p "$CACHE"
  if command -v flock >/dev/null 2>&1; then
    exec 9> "$CACHE/lock"
    flock 9
  fi
  install_venv
  build_template
  if command -v flock >/dev/null 2>&1; then exec 9>&-; fi
}

case "${1:-}" in
  install) locked ;;
  start) shift; locked; start "$@" ;;
  stop) shift; stop "$@" ;;
  *) echo "usage: tryton.sh install | start WORKDIR PORT | stop WORKDIR" >&2; exit 2 ;;
esac
