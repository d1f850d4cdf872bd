#!/usr/bin/env bash
# The test command: installs the project into .venv, lints (ruff), type-checks (mypy app), then runs
# the whole suite once on SQLite and once on PostgreSQL (PROMO_WALLET_TEST_PG_URL, default the local
# server's `test` database; checked first, so a missing server is one line, not a traceback per test).
#
#   bash scripts/test.sh          # everything: what CI runs
#   bash scripts/test.sh --fast   # lint, mypy, and the unit, service and architecture tests only: no PostgreSQL,
#                                 # no server process, under a minute
set -uo pipefail
cd "$(dirname "$0")/.."

FAST=0
case "${1:-}" in
  "") ;;
  --fast) FAST=1 ;;
  *) echo "usage: bash scripts/test.sh [--fast]"; exit 2 ;;
esac

PYTHON=${PYTHON:-python3}
PG_URL=${PROMO_WALLET_TEST_PG_URL:-postgresql+asyncpg://postgres@127.0.0.1:5432/test}

if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv || exit 1
fi
.venv/bin/pip install -q --disable-pip-version-check -e '.[dev]' || { echo "install failed"; exit 1; }

if [ "$FAST" -eq 0 ]; then
  .venv/bin/python -m tests.postgres_check "$PG_URL" PROMO_WALLET_TEST_PG_URL || exit 1
fi

.venv/bin/ruff check app tests bench || { echo "ruff found problems"; exit 1; }
.venv/bin/mypy app || { echo "mypy found problems"; exit 1; }

run_suite() {
  local label=$1
  shift
  echo "== test suite on $label =="
  env "$@" .venv/bin/pytest -q -p no:cacheprovider ${PYTEST_ARGS[@]+"${PYTEST_ARGS[@]}"}
  local rc=$?
  if [ "$rc" -eq 5 ]; then
    echo "pytest collected no tests on $label: that is a failure"
    exit 1
  elif [ "$rc" -ne 0 ]; then
    echo "test suite failed on $label (exit $rc)"
    exit "$rc"
  fi
}

if [ "$FAST" -eq 1 ]; then
  # The tiers that need neither a database server nor a server process; those present are run.
  PYTEST_ARGS=()
  for dir in tests/unit tests/services tests/architecture; do
    [ -d "$dir" ] && PYTEST_ARGS+=("$dir")
  done
  [ "${#PYTEST_ARGS[@]}" -gt 0 ] || { echo "no unit or service tests found"; exit 1; }
  run_suite "SQLite, unit and service tests" PROMO_WALLET_TEST_DATABASE_URL=sqlite
  echo "fast tier passed (the full run: bash scripts/test.sh)"
  exit 0
fi

PYTEST_ARGS=()
run_suite SQLite PROMO_WALLET_TEST_DATABASE_URL=sqlite
run_suite PostgreSQL PROMO_WALLET_TEST_DATABASE_URL="$PG_URL"
echo "all suites passed"
