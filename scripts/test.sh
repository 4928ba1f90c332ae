#!/usr/bin/env bash
# Every test: the project's own suites and the shared conformance suite, on SQLite and
# PostgreSQL. Creates .venv and installs what it needs. Under CI a missing PostgreSQL
# fails the run.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
export STRONGROOM_TEST_POSTGRES_URL=${STRONGROOM_TEST_POSTGRES_URL:-postgresql://postgres@127.0.0.1:5432/postgres}
start=$(date +%s)
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[test]"

if [ -n "${CI:-}" ]; then
  .venv/bin/python - <<'PYEOF'
import os, sys, psycopg
url = os.environ["STRONGROOM_TEST_POSTGRES_URL"]
try:
    psycopg.connect(url, connect_timeout=5).close()
except psycopg.Error as exc:
    sys.exit(f"CI: PostgreSQL at {url} is unreachable: {exc}")
PYEOF
fi

status=0
echo "== lint and types (ruff, ruff format --check, mypy --strict)"
.venv/bin/ruff check --quiet . || status=1
.venv/bin/ruff format --check --quiet . || status=1
bash scripts/typecheck.sh || status=1
echo "== project tests (unit, integration on SQLite and PostgreSQL, e2e)"
.venv/bin/python -m pytest tests -q "$@" || status=1
echo "== conformance suite (../shared/conformance), both backends"
if [ -d ../shared/conformance ]; then
  (cd ../shared/conformance && "$OLDPWD/.venv/bin/python" -m pytest . -q -p no:cacheprovider --rootdir . ) || status=1
else
  echo "../shared/conformance not found" >&2
  status=1
fi
echo "== benchmark smoke run (figures, not assertions: bench/run.py --quick)"
if [ -n "${STRONGROOM_TEST_POSTGRES_URL:-}" ]; then
  .venv/bin/python bench/run.py --quick --secrets 2000 2>/dev/null || status=1
fi
echo "== done in $(( $(date +%s) - start ))s (status $status)"
exit $status
