#!/usr/bin/env bash
# Headless Chromium for the web UI's end-to-end test (tests/e2e/test_web_ui.py).
#
# The browser comes from the distribution (Debian's /usr/bin/chromium) and Playwright's Python
# client drives it through `executable_path`, the way Playwright users on a distribution
# browser do. Never run `playwright install`: it downloads a browser build of its own, which
# fails offline. If Chromium is absent and cannot be installed (no apt-get, not root and no
# password-less sudo), this script fails: CI (RAGLINE_CI=1) would fail on the test anyway,
# and it is better to say why here.
set -euo pipefail
cd "$(dirname "$0")/.."
CHROMIUM=/usr/bin/chromium
if [[ ! -x "$CHROMIUM" ]]; then
  if [[ "$(id -u)" == 0 ]]; then
    as_root=()
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then
    as_root=(sudo -n)
  else
    echo "error: $CHROMIUM is missing and this user cannot install packages (not root, no" \
      "password-less sudo). Install it with: sudo apt-get install chromium" >&2
    exit 1
  fi
  if ! command -v apt-get >/dev/null; then
    echo "error: $CHROMIUM is missing and apt-get is not available: install Chromium from" \
      "your distribution's packages so that $CHROMIUM exists" >&2
    exit 1
  fi
  echo "installing chromium from the distribution's packages (once)..." >&2
  "${as_root[@]}" apt-get update -qq
  "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
fi
if ! version=$("$CHROMIUM" --version 2>/dev/null); then
  echo "error: $CHROMIUM is installed but does not run ($CHROMIUM --version failed)" >&2
  exit 1
fi
echo "browser for tests/e2e: $version" >&2
if ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  .venv/bin/python -m pip --disable-pip-version-check -q install playwright
fi
