#!/usr/bin/env bash
# The test command: installs the project into .venv, lints, then runs the whole suite once on
# SQLite and once on PostgreSQL (PROMO_WALLET_TEST_PG_URL, default the local server's `test` db).
set -uo pipefail
cd "$(dirname "$0")/.."

PYTHON=${PYTHON:-python3}
PG_URL=${PROMO_WALLET_TEST_PG_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || exit 1
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' || { echo "install failed"; exit 1; }

.venv/bin/ruff check app tests bench || { echo "ruff found problems"; exit 1; }

run_suite() {
  local label=$1
  shift
  echo "== test suite on $label =="
  env "$@" .venv/bin/pytest -q -p no:cacheprovider
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests on $label: that is a failure"
    exit 1
  elif [ "$rc" -ne 0 ]; then
    echo "test suite failed on $label (exit $rc)"
    exit "$rc"
  fi
}

run_suite SQLite PROMO_WALLET_TEST_DATABASE_URL=sqlite
run_suite PostgreSQL PROMO_WALLET_TEST_DATABASE_URL="$PG_URL"
echo "all suites passed"
