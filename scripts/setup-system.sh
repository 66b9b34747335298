#!/usr/bin/env bash
# System packages the tests need: Debian's Chromium (Playwright drives it; its own browser download
# is not used), Debian's PostgreSQL (the Label Studio round trips also run on a PostgreSQL
# cluster that the tests start and stop themselves; the package's own service is not used) and
# Debian's Caddy (the team server's HTTPS proxy, run by corpuskit; the package's service is not used).
# Installs only what is missing; needs root or sudo for apt.
set -euo pipefail
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
# Debian keeps initdb and pg_ctl out of PATH, under /usr/lib/postgresql/<major>/bin.
compgen -G "/usr/lib/postgresql/*/bin/initdb" >/dev/null || missing+=(postgresql)
command -v caddy >/dev/null 2>&1 || missing+=(caddy)
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
# Debian starts the caddy package's own service, a welcome page on port 80 of every address:
# corpuskit runs its own Caddy, so switch that one off again.
if [[ " ${missing[*]} " == *" caddy "* ]] && command -v systemctl >/dev/null 2>&1 \
  && systemctl is-active --quiet caddy 2>/dev/null; then
  echo "disabling the caddy package's own service (port 80); corpuskit runs its own Caddy" >&2
  $SUDO systemctl disable --now caddy >/dev/null 2>&1 || true
fi
