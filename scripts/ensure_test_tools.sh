#!/bin/sh
# What the tests run besides Python: Debian's Chromium for the browser tests (no browser download) and nginx for the
# split layout's (tests/test_split_layout.py). Install what is missing when we can; otherwise say exactly what to do.
CHROMIUM="${CHROMIUM_PATH:-/usr/bin/chromium}"
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"

ensure() {  # ensure PATH PACKAGE WHAT
  [ -x "$1" ] && return 0
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing $2 for $3"
    export DEBIAN_FRONTEND=noninteractive
    apt-get install -y -q --no-install-recommends "$2" >/dev/null 2>&1 \
      || { apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends "$2" >/dev/null; } \
      || { echo "error: could not install $2" >&2; return 1; }
    return 0
  fi
  echo "error: $3 need $2 at $1." >&2
  echo "       Debian/Ubuntu: sudo apt-get install $2" >&2
  return 1
}

ensure "$CHROMIUM" chromium "the browser tests" || exit 1
ensure "$NGINX" nginx "the split layout's tests" || exit 1
