#!/usr/bin/env bash
# The headless browser tests/e2e/test_browser.py loads optuna-dashboard and MLflow's UI in: Debian's
# Chromium, driven by its own command line (--headless --dump-dom), no WebDriver.
#
#   .ci/browser.sh              # installs chromium when /usr/bin/chromium is not present yet
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "browser.sh: chromium already installed" >&2
  exit 0
fi
echo "browser.sh: installing chromium (apt-get)" >&2
if [ "$(id -u)" -eq 0 ]; then sudo=""; else sudo="sudo"; fi
log="$(mktemp)"
# Quiet: apt's and dpkg's progress lines are shown only if the install fails.
if ! { $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq \
    --no-install-recommends chromium; } >"$log" 2>&1; then
  cat "$log" >&2
  exit 1
fi
rm -f "$log"
