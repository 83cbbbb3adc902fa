#!/usr/bin/env bash
# Headless Chromium for the web UI's end-to-end test (tests/e2e/test_web_ui.py).
#
# The browser comes from Debian (/usr/bin/chromium) and Playwright's Python client drives it
# through `executable_path`. Never run `playwright install`: it downloads a browser build of
# its own, which fails offline. Without root or apt, the e2e test skips with a message.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x /usr/bin/chromium ]]; then
  if command -v apt-get >/dev/null && [[ "$(id -u)" == 0 ]]; then
    echo "installing chromium from Debian (once)..." >&2
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
  else
    echo "warning: /usr/bin/chromium missing and apt-get unavailable: the web UI e2e test will skip" >&2
  fi
fi
if ! .venv/bin/python -c "import playwright" 2>/dev/null; then
  .venv/bin/python -m pip --disable-pip-version-check -q install playwright
fi
