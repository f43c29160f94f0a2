#!/usr/bin/env bash
# Makes sure `docker-compose` is on PATH for test/deployment.test.ts, which validates
# every docker-compose*.yml with `docker-compose -f FILE config -q`: Debian's
# docker-compose package (Compose 1.29) parses and validates compose files without a
# Docker engine. Installs it with apt-get when missing (root or passwordless sudo);
# exits non-zero, loudly, when it cannot.
set -uo pipefail

loud() {
  {
    echo
    echo "########################################################################"
    echo "### ensure-docker-compose: $*"
    echo "### test/deployment.test.ts validates the compose files with docker-compose."
    echo "### Install it by hand:  sudo apt-get update && sudo apt-get install -y docker-compose"
    echo "########################################################################"
    echo
  } >&2
}

if command -v docker-compose >/dev/null 2>&1; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  loud "docker-compose is missing and apt-get is not available on this machine."
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    loud "docker-compose is missing and this user (uid $(id -u)) cannot run apt-get (not root, no passwordless sudo)."
    exit 1
  fi
fi

echo "ensure-docker-compose: installing Debian's docker-compose with apt-get (quiet)..." >&2
export DEBIAN_FRONTEND=noninteractive
LOG=$(mktemp -t ensure-docker-compose.XXXXXX)
trap 'rm -f "$LOG"' EXIT

if ! "${SUDO[@]}" apt-get update -qq >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  loud "apt-get update failed (see above)."
  exit 1
fi
# No recommends: the validation needs no Docker engine (docker.io is only recommended).
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends docker-compose >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  loud "apt-get install docker-compose failed (see above)."
  exit 1
fi
if ! command -v docker-compose >/dev/null 2>&1; then
  loud "apt-get installed docker-compose but it is still not on PATH."
  exit 1
fi
echo "ensure-docker-compose: installed $(docker-compose version --short 2>/dev/null || echo docker-compose)" >&2
exit 0
