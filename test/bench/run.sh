#!/usr/bin/env bash
# Runs the proxy benchmark with as many file descriptors as allowed (9,000 idle sessions need ~18,000)
# (each is a client socket and a backend socket in Weir). Arguments go to proxy.bench.ts.
set -euo pipefail
cd "$(dirname "$0")/../.."
ulimit -n "$(ulimit -Hn)"
exec node --import tsx test/bench/proxy.bench.ts "$@"
