#!/usr/bin/env bash
# Install everything the project needs into .venv (idempotent, fast when already done).
set -euo pipefail
cd "$(dirname "$0")/.."
command -v java >/dev/null || { echo "setup: Java 17 is required by Spark (apt-get install openjdk-17-jre-headless)" >&2; exit 1; }
if command -v uv >/dev/null; then UV=(uv); else
  python3 -m pip install --quiet "uv>=0.9"
  UV=(python3 -m uv)
fi
# NOTEWATT_VENV and SPARK_EXTRA (spark4 | spark35) come from the Makefile: one venv per Spark line.
UV_PROJECT_ENVIRONMENT="${NOTEWATT_VENV:-.venv}" "${UV[@]}" sync --frozen --extra "${SPARK_EXTRA:-spark4}" \
  --extra cpu --extra model --extra dev
