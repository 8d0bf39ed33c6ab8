#!/bin/sh
# The browser tests drive Debian's Chromium (no browser download). Install it when it is missing and we can;
# otherwise say exactly what to do.
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
[ -x "$CHROMIUM" ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the browser tests"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -q --no-install-recommends chromium >/dev/null 2>&1 \
    || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium >/dev/null; } \
    || { echo "error: could not install chromium" >&2; exit 1; }
  exit 0
fi
echo "error: the browser tests need Chromium at $CHROMIUM." >&2
echo "       Debian/Ubuntu: sudo apt-get install chromium   (or set CHROMIUM_PATH)" >&2
exit 1
