#!/usr/bin/env bash
# Installs Debian's chromium and the CJK fonts when missing (never a downloaded browser build).
set -u
if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -qi "noto.*cjk"; then exit 0; fi
SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
$SUDO apt-get update -qq >/dev/null 2>&1
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1
[ -x /usr/bin/chromium ]
