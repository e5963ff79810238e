#!/usr/bin/env bash
# Installs the Mosquitto MQTT broker that the head-end forwarding tests start on loopback.
# Idempotent: does nothing when a mosquitto binary is already there.
set -euo pipefail
if command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "ensure-mosquitto: no mosquitto and no apt-get; install the mosquitto broker by hand" >&2
    exit 1
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "ensure-mosquitto: installing the mosquitto broker (Debian package)" >&2
$SUDO apt-get update -qq >/dev/null
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends mosquitto >/dev/null
