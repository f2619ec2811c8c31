#!/usr/bin/env bash
# A throwaway PostgreSQL for the e2e tests (tests/e2e/test_postgres.py), on 127.0.0.1 and a free port.
#
#   eval "$(.ci/postgres.sh)"            # start; exports WS_TEST_POSTGRES_URL and WS_TEST_POSTGRES_DIR
#   python -m pytest tests/e2e/test_postgres.py
#   .ci/postgres.sh stop                 # stop it and delete its files (reads WS_TEST_POSTGRES_DIR)
#
# Installs Debian's postgresql package when no server binaries are present. The server runs as the
# `postgres` user when started by root (PostgreSQL refuses root), trusts only its own Unix socket (in
# the temporary folder, for the admin steps here) and asks TCP clients for a password. The test role
# may create databases, so each test run makes its own and drops them. Only the export lines go to stdout.
set -euo pipefail

as_server_user() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

server_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

if [ "${1:-start}" = "stop" ]; then
  dir="${WS_TEST_POSTGRES_DIR:?WS_TEST_POSTGRES_DIR is not set: nothing to stop}"
  as_server_user "$(server_bin)/pg_ctl" -D "$dir/data" -m fast -w stop >&2
  rm -rf "$dir"
  exit 0
fi

if [ -z "$(server_bin)" ]; then
  echo "postgres.sh: installing PostgreSQL (apt-get)" >&2
  apt-get update >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2
fi
bin="$(server_bin)"

dir="$(mktemp -d /tmp/ws-postgres.XXXXXX)"
port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
password="$(python3 -c 'import secrets; print(secrets.token_hex(16))')"
if [ "$(id -u)" -eq 0 ]; then chown postgres: "$dir"; fi

as_server_user "$bin/initdb" -D "$dir/data" -U postgres --auth-local=trust --auth-host=scram-sha-256 >&2
as_server_user "$bin/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w \
  -o "-c listen_addresses=127.0.0.1 -p $port -c unix_socket_directories=$dir" start >&2
as_server_user "$bin/psql" -h "$dir" -p "$port" -U postgres -v ON_ERROR_STOP=1 -q >&2 <<SQL
CREATE ROLE wstest LOGIN CREATEDB PASSWORD '$password';
CREATE DATABASE wstest OWNER wstest;
SQL

echo "export WS_TEST_POSTGRES_DIR=$dir"
echo "export WS_TEST_POSTGRES_URL=postgresql+psycopg2://wstest:$password@127.0.0.1:$port/wstest"
