#!/usr/bin/env bash
# Install everything the test suite needs and run it.
#
#   bash scripts/test.sh [pytest arguments]
#
# Works on a fresh Debian machine: creates .venv, installs otklik with its dev extras, installs
# Chromium, Redis and PostgreSQL from Debian's packages when they are missing, starts Redis and
# PostgreSQL when nothing answers on 127.0.0.1:6379 / 127.0.0.1:5432, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { printf '\n== %s\n' "$*"; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

answers() { # host port
  (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null
}

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then
    as_root apt-get update -qq
    apt_updated=yes
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

log "Python environment (.venv)"
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e '.[dev]'

log "Chromium for the browser tests"
if [ ! -x /usr/bin/chromium ]; then
  apt_install chromium
fi

log "Redis on 127.0.0.1:6379"
if ! answers 127.0.0.1 6379; then
  command -v redis-server >/dev/null || apt_install redis-server
fi
if ! answers 127.0.0.1 6379; then
  as_root mkdir -p /var/lib/redis /var/log/redis
  as_root redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" \
    --appendonly no --dir /var/lib/redis --logfile /var/log/redis/otklik-tests.log
  for _ in $(seq 50); do answers 127.0.0.1 6379 && break; sleep 0.2; done
fi

log "PostgreSQL on 127.0.0.1:5432 (user postgres, database test)"
if ! answers 127.0.0.1 5432; then
  command -v pg_ctlcluster >/dev/null || apt_install postgresql
  version=$(ls /etc/postgresql | sort -V | tail -n 1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! as_root grep -q "otklik-tests" "$hba"; then
    # Trust local TCP connections, as the test servers on developer and CI machines do.
    as_root sed -i '1i host all all 127.0.0.1/32 trust # otklik-tests\nhost all all ::1/128 trust # otklik-tests' "$hba"
  fi
  # The package may have started the cluster already; then a reload picks up pg_hba.conf.
  as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start ||
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main reload
  for _ in $(seq 50); do answers 127.0.0.1 5432 && break; sleep 0.2; done
fi
if ! .venv/bin/python - <<'PY'
import asyncio, asyncpg
async def main():
    conn = await asyncpg.connect("postgresql://postgres@127.0.0.1:5432/postgres")
    if not await conn.fetchval("select 1 from pg_database where datname = 'test'"):
        await conn.execute("create database test")
    await conn.close()
asyncio.run(main())
PY
then
  echo "PostgreSQL answers but database 'test' cannot be reached or created as user postgres" >&2
  exit 1
fi

log "pytest"
exec .venv/bin/python -m pytest "$@"
