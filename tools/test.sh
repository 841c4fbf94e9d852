#!/usr/bin/env bash
# Install everything the test suite needs, then run it. Used by the README and by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! command -v dcmdump >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq dcmtk >/dev/null
fi
python3 -m pip install -q -e '.[test]'
python3 -m ruff check src tests tools bench
python3 -m mypy
python3 -m pytest -n 2 -q "$@"
