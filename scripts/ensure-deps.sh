#!/usr/bin/env bash
# Installs what Weir's tests need from Debian's packages when it is missing:
# mariadbd (the test harness starts throw-away MariaDB servers), chromium (the Swagger UI
# test), promtool (package prometheus: the metrics test lints GET /metrics with it), go and
# python3 (the clients under clients/ are built and run against a real Weir). Needs root for apt-get; otherwise it says what to install.
set -euo pipefail

missing=()
command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || missing+=(mariadb-server)
command -v mariadb-install-db >/dev/null 2>&1 || missing+=(mariadb-server)
command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || missing+=(chromium)
command -v promtool >/dev/null 2>&1 || missing+=(prometheus)
command -v go >/dev/null 2>&1 || missing+=(golang-go)
command -v python3 >/dev/null 2>&1 || missing+=(python3)
[ ${#missing[@]} -eq 0 ] && exit 0

packages=$(printf '%s\n' "${missing[@]}" | sort -u | tr '\n' ' ')
if [ "$(id -u)" -ne 0 ]; then
  echo "ensure-deps: missing Debian packages: $packages(run as root: apt-get install -y $packages)" >&2
  exit 1
fi
echo "ensure-deps: installing $packages" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >/dev/null
# The machine's own MariaDB service is left alone: the package is only needed for its binaries.
apt-get install -y -qq --no-install-recommends $packages >/dev/null
