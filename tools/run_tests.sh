#!/usr/bin/env bash
# Set everything up (tools/setup_env.sh) and run the checks: ruff, then pytest.
#   bash tools/run_tests.sh [pytest args]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="${MMWISH_VENV:-$ROOT/.venv}"
bash "$ROOT/tools/setup_env.sh"
cd "$ROOT"
echo "[run_tests] ruff check"
"$VENV/bin/ruff" check .
echo "[run_tests] pytest"
"$VENV/bin/python" -m pytest tests "$@"
