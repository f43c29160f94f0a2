#!/usr/bin/env bash
# Makes sure a headless-capable Chromium is at /usr/bin/chromium for the browser
# tests (test/browser/): installs Debian's `chromium` package with apt-get when it
# is missing. Playwright's own browser download is not used (no internet beyond
# the package registries). Exits non-zero, loudly, when it cannot.
set -uo pipefail

CHROMIUM=/usr/bin/chromium

loud() {
  {
    echo
    echo "########################################################################"
    echo "### ensure-chromium: $*"
    echo "### The browser tests (test/browser/) need Debian's chromium at $CHROMIUM."
    echo "### Install it by hand:  sudo apt-get update && sudo apt-get install -y chromium"
    echo "### or set TILLCAST_SKIP_BROWSER=1 to skip those tests (loudly)."
    echo "########################################################################"
    echo
  } >&2
}

if [ -x "$CHROMIUM" ]; then
  exit 0
fi

if ! command -v apt-get >/dev/null 2>&1; then
  loud "$CHROMIUM is missing and apt-get is not available on this machine."
  exit 1
fi

SUDO=()
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    loud "$CHROMIUM is missing and this user (uid $(id -u)) cannot run apt-get (not root, no passwordless sudo)."
    exit 1
  fi
fi

echo "ensure-chromium: $CHROMIUM missing; installing Debian's chromium with apt-get (quiet)..." >&2
export DEBIAN_FRONTEND=noninteractive
LOG=$(mktemp -t ensure-chromium.XXXXXX)
trap 'rm -f "$LOG"' EXIT

if ! "${SUDO[@]}" apt-get update -qq >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  loud "apt-get update failed (see above)."
  exit 1
fi
if ! "${SUDO[@]}" apt-get install -y -qq --no-install-recommends chromium >"$LOG" 2>&1; then
  tail -n 20 "$LOG" >&2
  loud "apt-get install chromium failed (see above)."
  exit 1
fi
if [ ! -x "$CHROMIUM" ]; then
  loud "apt-get installed chromium but $CHROMIUM is still missing."
  exit 1
fi
echo "ensure-chromium: installed $("$CHROMIUM" --version 2>/dev/null || echo chromium)" >&2
exit 0
