#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium (Playwright drives it; its own browser download
# is not used) and Debian's PostgreSQL (the Label Studio round trips also run on a PostgreSQL
# cluster that the tests start and stop themselves; the package's own service is not used).
# Installs only what is missing; needs root or sudo for apt.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Debian keeps initdb and pg_ctl out of PATH, under /usr/lib/postgresql/<major>/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "corpuskit: the tests need: ${missing[*]} (apt-get install ${missing[*]}); run as root or install them" >&2
    exit 2
  fi
fi
echo "installing system packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
