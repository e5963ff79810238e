#!/usr/bin/env bash
# Installs headless Chromium and its WebDriver (Debian packages) for the web-panel browser tests.
# Idempotent: does nothing when /usr/bin/chromium and /usr/bin/chromedriver are already there.  No browser download:
# Selenium is pointed at the system chromedriver.
set -euo pipefail
if [ -x /usr/bin/chromium ] && [ -x /usr/bin/chromedriver ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-chromium: no chromium and no apt-get; install chromium and chromium-driver by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# another apt run (for instance ensure-mosquitto.sh) may hold the lock: wait for it rather than fail
for _ in $(seq 1 120); do
    if ! fuser /var/lib/dpkg/lock-frontend /var/lib/dpkg/lock /var/lib/apt/lists/lock >/dev/null 2>&1; then
        break
    fi
    sleep 2
done
echo "ensure-chromium: installing chromium and chromium-driver (Debian packages)" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends \
    -o DPkg::Lock::Timeout=600 chromium chromium-driver >/dev/null
