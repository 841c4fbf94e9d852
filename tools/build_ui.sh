#!/usr/bin/env bash
# Rebuild the archive UI and viewer (web-ui/, TypeScript) into src/dicomkit/web/static/,
# which is committed so that installing dicomkit needs no Node. Run after changing web-ui/;
# tests/web/test_ui_build.py fails while the committed build is older than the sources.
#   tools/build_ui.sh          install the locked npm packages, type-check, test, build
#   tools/build_ui.sh --quick  build only (the packages already installed)
set -euo pipefail
cd "$(dirname "$0")/../web-ui"
if [ "${1:-}" != "--quick" ]; then
  npm ci --no-audit --no-fund
  npx tsc --noEmit -p .
  npx vitest run
fi
node build.mjs
