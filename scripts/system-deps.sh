#!/usr/bin/env bash
# System packages some features and tests use, from Debian:
#   chromium            the web demo's real-browser test (skipped, with its reason, where absent)
#   fonts-wqy-microhei  a CJK font for the corpus plots and report charts (plots skipped without one)
# Installs what is missing when run as root on a Debian-like system (CI, containers); elsewhere it
# only says what is missing.
set -u
missing=()
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
[ -e /usr/share/fonts/truetype/wqy/wqy-microhei.ttc ] || missing+=(fonts-wqy-microhei)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    echo "installing ${missing[*]} (apt-get)" >&2
    apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null \
        || echo "could not install ${missing[*]}: the tests that need them will be skipped" >&2
else
    echo "missing system packages: ${missing[*]} (install them as root for the browser test and CJK plots)" >&2
fi
exit 0
