#!/usr/bin/env bash
# Runs every test: unit, API (against an in-process Weir with response validation on),
# configuration and process tests, the MariaDB harness, and Swagger UI in headless Chromium.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -d node_modules ] || npm ci --no-audit --no-fund
bash scripts/ensure-deps.sh
# Node 20 does not expand globs in --test arguments, so the files are listed here.
mapfile -t files < <(find test -name '*.test.ts' | sort)
exec node --import tsx --test "${files[@]}"
